"""Throughput of the RTMP chunk reader and writer (livecast.protocols.rtmp.chunk).

A synthetic 2.5 Mbit/s publish (30 fps video, 43 audio frames/s) is chunked at several chunk sizes,
then parsed in 64 KiB reads (what an asyncio transport hands over) and in 1400-byte reads (one
TCP segment at a time). Prints MB/s and the share of one core that 200 such streams would cost.

    .venv/bin/python benchmarks/bench_rtmp_chunk.py
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from livecast.protocols.rtmp import PublishRequested, ServerSession
from livecast.protocols.rtmp.chunk import ChunkReader, ChunkWriter, Message
from livecast.protocols.rtmp.messages import Command, SetChunkSize

BITRATE = 2_500_000  # bits per second of one publisher
STREAMS = 200
SECONDS = 10  # of synthetic media per run
AUDIO_CSID, VIDEO_CSID = 4, 6


def synthetic_media(seconds: int, seed: int = 1) -> list[tuple[int, Message]]:
    """(chunk stream id, message) pairs of ``seconds`` of interleaved audio and video."""
    rng = random.Random(seed)
    audio_bytes = 128_000 // 8 // 43
    video_rate = (BITRATE - 128_000) // 8 // 30
    items: list[tuple[float, int, Message]] = []
    for frame in range(seconds * 30):
        size = video_rate * 8 if frame % 60 == 0 else video_rate * 9 // 10  # keyframe each 2 s
        timestamp = frame * 1000 // 30 + 0x1000000  # above 2**24: extended timestamps
        items.append((frame / 30, VIDEO_CSID, Message(9, 1, timestamp, rng.randbytes(size))))
    for frame in range(seconds * 43):
        timestamp = frame * 1024 * 1000 // 44100 + 0x1000000
        items.append((frame / 43, AUDIO_CSID, Message(8, 1, timestamp, rng.randbytes(audio_bytes))))
    items.sort(key=lambda item: item[0])
    return [(csid, message) for _, csid, message in items]


def best_of(runs: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def publishing_session(chunk_size: int) -> tuple[ServerSession, ChunkWriter]:
    """A session past the plain handshake, connect and an accepted publish."""
    session = ServerSession()
    session.receive_data(b"\x03" + bytes(2 * 1536))
    writer = ChunkWriter()
    connect = Command("connect", 1.0, {"app": "live"}).to_message()
    publish = Command("publish", 3.0, None, ["key", "live"]).to_message(stream_id=1)
    setup = writer.write(3, connect) + writer.write(2, SetChunkSize(chunk_size).to_message())
    writer.chunk_size = chunk_size
    session.receive_data(setup + writer.write(3, publish))
    assert any(isinstance(event, PublishRequested) for event in session.events_received())
    session.accept_publish()
    return session, writer


def bench(chunk_size: int, media: list[tuple[int, Message]]) -> None:
    def write() -> bytes:
        writer = ChunkWriter(chunk_size)
        return b"".join(writer.write(csid, message) for csid, message in media)

    wire = write()
    payload_bytes = sum(len(message.payload) for _, message in media)
    write_time = best_of(3, write)

    def parse(read_size: int) -> Callable[[], None]:
        reads = [wire[offset : offset + read_size] for offset in range(0, len(wire), read_size)]

        def run() -> None:
            reader = ChunkReader()
            reader.chunk_size = chunk_size
            count = 0
            for data in reads:
                reader.receive_data(data)
                count += len(reader.messages_received())
            assert count == len(media)

        return run

    seconds_of_media = SECONDS
    print(f"chunk size {chunk_size:>5}: {len(wire) / payload_bytes - 1:6.2%} header overhead")
    cost = write_time / seconds_of_media
    print(
        f"  write            {len(wire) / write_time / 1e6:8.1f} MB/s"
        f"   {cost:7.2%} of a core per stream, {cost * STREAMS:7.2%} for {STREAMS}"
    )
    for read_size in (65536, 1400):
        parse_time = best_of(3, parse(read_size))
        cost = parse_time / seconds_of_media
        print(
            f"  parse {read_size:>5}-byte reads {len(wire) / parse_time / 1e6:6.1f} MB/s"
            f"   {cost:7.2%} of a core per stream, {cost * STREAMS:7.2%} for {STREAMS}"
        )

    def session_run() -> None:  # the whole ServerSession, events included, 64 KiB reads
        session, writer = publishing_session(chunk_size)
        data = b"".join(writer.write(csid, message) for csid, message in media)
        start = time.perf_counter()
        for offset in range(0, len(data), 65536):
            session.receive_data(data[offset : offset + 65536])
            session.events_received()
        timings.append(time.perf_counter() - start)

    timings: list[float] = []
    for _ in range(3):
        session_run()
    cost = min(timings) / seconds_of_media
    print(
        f"  ServerSession    {len(wire) / min(timings) / 1e6:8.1f} MB/s"
        f"   {cost:7.2%} of a core per stream, {cost * STREAMS:7.2%} for {STREAMS}"
    )


def main() -> None:
    media = synthetic_media(SECONDS)
    print(f"{SECONDS} s of a {BITRATE / 1e6} Mbit/s publish, {len(media)} messages")
    for chunk_size in (128, 4096, 65536):
        bench(chunk_size, media)


if __name__ == "__main__":
    main()
