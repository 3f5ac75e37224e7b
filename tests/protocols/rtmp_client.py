"""A scripted RTMP client for the RTMP tests: the bytes a publisher or player would send, and a
reader for what the server answers. The digest handshake is implemented here independently of
``livecast.protocols.rtmp.handshake`` so that the two check each other."""

from __future__ import annotations

import hashlib
import hmac
import random
from typing import Any

from livecast.protocols import amf0
from livecast.protocols.rtmp.chunk import ChunkReader, ChunkWriter, Message

KEY_TAIL = bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")
PLAYER_KEY = b"Genuine Adobe Flash Player 001" + KEY_TAIL
SERVER_KEY = b"Genuine Adobe Flash Media Server 001" + KEY_TAIL
SIZE = 1536


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def digest_position(packet: bytes, schema: int) -> int:
    base = 772 if schema else 8
    return (packet[base] + packet[base + 1] + packet[base + 2] + packet[base + 3]) % 728 + base + 4


def digest_of(packet: bytes, position: int, key: bytes) -> bytes:
    return hmac_sha256(key, packet[:position] + packet[position + 32 :])


def make_c1(rng: random.Random, *, digest: bool, schema: int = 0) -> bytes:
    """A C1: plain (version 0) or carrying a Flash Player digest laid out with ``schema``."""
    version = bytes((9, 0, 124, 2)) if digest else bytes(4)
    c1 = bytearray(bytes(4) + version + rng.randbytes(SIZE - 8))
    if digest:
        position = digest_position(bytes(c1), schema)
        c1[position : position + 32] = digest_of(bytes(c1), position, PLAYER_KEY[:30])
    return bytes(c1)


def server_digest_valid(s1: bytes) -> tuple[bytes, int] | None:
    """The S1 digest and its schema when S1 is signed with the server key (as ffmpeg checks)."""
    for schema in (1, 0):
        position = digest_position(s1, schema)
        if s1[position : position + 32] == digest_of(s1, position, SERVER_KEY[:36]):
            return s1[position : position + 32], schema
    return None


def s2_signed_for(s2: bytes, client_digest: bytes) -> bool:
    """Whether S2 ends with the signature keyed from the client's C1 digest."""
    key = hmac_sha256(SERVER_KEY, client_digest)
    return s2[-32:] == hmac_sha256(key, s2[:-32])


class Client:
    """Builds the client side of a connection; every method returns bytes to feed a server."""

    def __init__(self, *, seed: int = 0, digest: bool = True) -> None:
        self.rng = random.Random(seed)
        self.c1 = make_c1(self.rng, digest=digest)
        self.writer = ChunkWriter()
        self.transaction = 0.0

    def c0c1(self) -> bytes:
        return b"\x03" + self.c1

    def c2(self, s0s1s2: bytes) -> bytes:
        return s0s1s2[1 : 1 + SIZE]  # the plain C2: S1 echoed

    def message(
        self, csid: int, type_id: int, payload: bytes, *, stream_id: int = 0, ts: int = 0
    ) -> bytes:
        return self.writer.write(csid, Message(type_id, stream_id, ts, payload))

    def set_chunk_size(self, size: int) -> bytes:
        data = self.message(2, 1, size.to_bytes(4, "big"))
        self.writer.chunk_size = size
        return data

    def command(
        self, name: str, *args: amf0.Value, obj: amf0.Value = None, stream_id: int = 0
    ) -> bytes:
        self.transaction += 1
        payload = amf0.encode(name, self.transaction, obj, *args)
        return self.message(3 if stream_id == 0 else 8, 20, payload, stream_id=stream_id)

    def connect(self, app: str = "live", **extra: amf0.Value) -> bytes:
        obj: dict[str, amf0.Value] = {
            "app": app,
            "tcUrl": f"rtmp://127.0.0.1/{app}",
            "flashVer": "FMLE/3.0",
        }
        obj.update(extra)
        return self.command("connect", obj=obj)

    def publish_sequence(self, key: str = "testkey") -> bytes:
        """releaseStream, FCPublish, createStream and publish, as ffmpeg sends them."""
        return (
            self.command("releaseStream", key)
            + self.command("FCPublish", key)
            + self.command("createStream")
            + self.command("publish", key, "live", stream_id=1)
        )

    def metadata(self, values: dict[str, amf0.Value]) -> bytes:
        payload = amf0.encode("@setDataFrame", "onMetaData", amf0.EcmaArray(values))
        return self.message(4, 18, payload, stream_id=1)

    def audio(self, ts: int, payload: bytes) -> bytes:
        return self.message(4, 8, payload, stream_id=1, ts=ts)

    def video(self, ts: int, payload: bytes) -> bytes:
        return self.message(6, 9, payload, stream_id=1, ts=ts)


class ServerOutput:
    """Parses what a server sends: the S0/S1/S2 block, then chunked messages."""

    def __init__(self) -> None:
        self.reader = ChunkReader()
        self.handshake = b""

    def feed(self, data: bytes) -> list[Message]:
        need = 1 + 2 * SIZE - len(self.handshake)
        if need > 0:
            self.handshake += data[:need]
            data = data[need:]
        self.reader.receive_data(data)
        return self.reader.messages_received()


def commands(messages: list[Message]) -> list[list[Any]]:
    """The AMF0 values of each command message (type 20)."""
    return [amf0.decode(message.payload) for message in messages if message.type_id == 20]
