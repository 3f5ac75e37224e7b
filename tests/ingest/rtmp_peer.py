"""A scripted RTMP client over a real socket, for tests against the in-process server.

The bytes come from :mod:`tests.protocols.rtmp_client` (built on the project's own chunk writer
and AMF0 encoder); this module only adds the socket: send, read the answers, notice the close.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from livecast.protocols import amf0
from livecast.protocols.rtmp.chunk import Message
from tests.protocols.rtmp_client import SIZE, Client, ServerOutput

# An AAC-LC AudioSpecificConfig (44.1 kHz, stereo): enough for the server to accept audio frames.
AAC_CONFIG = bytes((0x12, 0x10))
AAC_SEQUENCE_HEADER = bytes((0xAF, 0x00)) + AAC_CONFIG
PATIENCE = 5.0  # seconds to wait for an answer the server owes at once


def aac_frame(payload: bytes) -> bytes:
    """The FLV audio tag body of one raw AAC frame."""
    return bytes((0xAF, 0x01)) + payload


class RtmpPeer:
    """One client connection; ``client`` builds the bytes, the methods move them."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.client = Client(digest=False)
        self.output = ServerOutput()
        self.received: list[Message] = []
        host, port = writer.get_extra_info("sockname")[:2]
        self.name = f"{host}:{port}"  # how the server's log lines name this peer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def handshake(self) -> None:
        """The plain handshake: C0+C1, wait for S0+S1+S2, then C2."""
        await self.send(self.client.c0c1())
        async with asyncio.timeout(PATIENCE):
            while len(self.output.handshake) < 1 + 2 * SIZE:
                await self._receive()
        await self.send(self.client.c2(self.output.handshake))

    async def connect(self) -> None:
        await self.handshake()
        await self.send(self.client.connect())
        await self.expect("NetConnection.Connect.Success")

    async def publish(self, key: str) -> None:
        """Handshake, connect, createStream and publish; returns once publishing started."""
        await self.connect()
        await self.send(self.client.publish_sequence(key))
        await self.expect("NetStream.Publish.Start")

    async def publish_audio(self, key: str) -> None:
        """Publish, and announce an AAC track so that frames become units."""
        await self.publish(key)
        await self.send(self.client.audio(0, AAC_SEQUENCE_HEADER))

    async def send_audio(self, *timestamps: int) -> None:
        """One small AAC frame at each raw RTMP timestamp (milliseconds)."""
        frames = [self.client.audio(ts, aac_frame(ts.to_bytes(4, "big"))) for ts in timestamps]
        await self.send(b"".join(frames))

    async def expect(self, code: str) -> list[amf0.Value]:
        """The first command the server sent whose name or status code is ``code``."""
        async with asyncio.timeout(PATIENCE):
            while True:
                for message in self.received:
                    if message.type_id == 20 and _mentions(amf0.decode(message.payload), code):
                        return amf0.decode(message.payload)
                if not await self._receive():
                    raise AssertionError(f"the server closed the connection before {code}")

    async def closed_by_server(self) -> None:
        """Wait until the server closes the connection (EOF or reset); what it sent is kept.

        Bound it with :func:`asyncio.timeout`."""
        with contextlib.suppress(ConnectionResetError):
            while await self._receive():
                pass

    async def _receive(self) -> bool:
        """Read once; False at EOF."""
        data = await self.reader.read(64 * 1024)
        self.received += self.output.feed(data)
        return bool(data)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def _mentions(values: list[amf0.Value], code: str) -> bool:
    if values and values[0] == code:
        return True
    return any(isinstance(value, dict) and value.get("code") == code for value in values)


@asynccontextmanager
async def rtmp_peer(port: int) -> AsyncIterator[RtmpPeer]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    peer = RtmpPeer(reader, writer)
    try:
        yield peer
    finally:
        await peer.close()


async def assert_serving(port: int) -> None:
    """A new client still gets through the handshake and connect."""
    async with rtmp_peer(port) as peer:
        await peer.connect()
