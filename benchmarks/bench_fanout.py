"""Fan-out cost of livecast.media.Stream: one publisher, N readers, on one event loop.

Two measurements per reader count:

* ``write only``: ``Stream.write`` with N readers that do not consume (queues large enough
  that nothing drops): the publisher's cost, paid inside the ingest connection's handler.
* ``end to end``: the publisher writes and yields to the loop every 64 units, as an ingest
  loop does between socket reads, and N reader tasks consume with ``async for``; the clock
  stops when every reader has received every unit.

Usage: .venv/bin/python benchmarks/bench_fanout.py [--units 20000] [--readers 1 10 100]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from livecast.media.stream import Reader, Stream, StreamOptions
from livecast.media.unit import Unit

YIELD_EVERY = 64


def make_units(count: int) -> list[Unit]:
    """A 25 fps video track with a keyframe every 2 s, interleaved with 44.1 kHz AAC."""
    units = []
    for index in range(count):
        if index % 3 == 2:
            ms = index * 23
            units.append(Unit("audio", "aac", ms, ms, True, bytes(300), media_time_ms=ms))
        else:
            ms = index * 40
            key = index % 75 == 0
            units.append(Unit("video", "h264", ms, ms, key, bytes(8000), media_time_ms=ms))
    return units


def fresh_stream(readers: int, maxsize: int) -> tuple[Stream, list[Reader]]:
    stream = Stream("bench", StreamOptions(reader_maxsize=maxsize, drop_log_interval=None))
    return stream, [stream.add_reader(f"r{i}") for i in range(readers)]


def write_only(units: list[Unit], readers: int) -> float:
    stream, _ = fresh_stream(readers, maxsize=len(units))
    start = time.perf_counter()
    for unit in units:
        stream.write(unit)
    return time.perf_counter() - start


async def end_to_end(units: list[Unit], readers: int) -> tuple[float, int]:
    stream, consumers = fresh_stream(readers, maxsize=4096)

    async def consume(reader: Reader) -> int:
        return sum([1 async for _ in reader])

    tasks = [asyncio.create_task(consume(reader)) for reader in consumers]
    start = time.perf_counter()
    for index, unit in enumerate(units):
        stream.write(unit)
        if index % YIELD_EVERY == YIELD_EVERY - 1:
            await asyncio.sleep(0)
    stream.close()
    received = await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    assert all(count == len(units) for count in received), "a reader dropped units"
    return elapsed, sum(reader.dropped for reader in consumers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=20_000)
    parser.add_argument("--readers", type=int, nargs="+", default=[1, 10, 100])
    args = parser.parse_args()
    units = make_units(args.units)
    print(f"{args.units} units per run; µs/delivery = time / (units x readers)")
    header = ("readers", "mode", "units/s", "µs/unit", "µs/delivery")
    print("{:>8} {:>12} {:>12} {:>10} {:>12}".format(*header))
    for readers in args.readers:
        for mode in ("write only", "end to end"):
            if mode == "write only":
                elapsed = min(write_only(units, readers) for _ in range(3))
            else:
                elapsed, _ = asyncio.run(end_to_end(units, readers))
            per_unit = elapsed / args.units * 1e6
            rate = args.units / elapsed
            print(
                f"{readers:>8} {mode:>12} {rate:>12,.0f} {per_unit:>10.2f} "
                f"{per_unit / readers:>12.3f}"
            )


if __name__ == "__main__":
    main()
