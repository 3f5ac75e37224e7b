"""Record what an RTMP publisher sends, for the captures under tests/protocols/captures/.

A throwaway asyncio server around livecast's ServerSession: it accepts every publish and writes
every byte the client sent to OUTPUT once the client disconnects, then exits.

    python scripts/capture_rtmp.py OUTPUT [--port 1935]
    ffmpeg -re -f lavfi -i testsrc=size=160x120:rate=15 -f lavfi -i sine -t 1 \\
        -c:v libx264 -g 15 -c:a aac -f flv rtmp://127.0.0.1:1935/live/testkey
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from livecast.protocols.rtmp import (
    ConnectionFailed,
    MediaReceived,
    PublishRequested,
    ServerSession,
)


async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, output: Path) -> None:
    session = ServerSession()
    received = bytearray()
    media = 0
    while data := await reader.read(65536):
        received += data
        session.receive_data(data)
        for event in session.events_received():
            if isinstance(event, PublishRequested):
                session.accept_publish()
            elif isinstance(event, MediaReceived):
                media += 1
            elif isinstance(event, ConnectionFailed):
                print("connection failed:", event.reason)
        writer.write(session.data_to_send())
        await writer.drain()
        if session.should_close:
            break
    writer.close()
    await asyncio.to_thread(output.write_bytes, bytes(received))
    print(f"{len(received)} bytes, {media} media messages, digest={session.digest_handshake}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--port", type=int, default=1935)
    args = parser.parse_args()
    done = asyncio.Event()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await record(reader, writer, args.output)
        done.set()

    server = await asyncio.start_server(on_client, "127.0.0.1", args.port)
    async with server:
        print("listening on", args.port, flush=True)
        await done.wait()


if __name__ == "__main__":
    asyncio.run(main())
