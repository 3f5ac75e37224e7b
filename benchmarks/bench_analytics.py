"""The cost of analytics: 1,000 viewers heartbeating one stream, plus 50 live streams' snapshots.

In one process, on a simulated clock: every simulated second, 100 heartbeats reach stream 0
(1,000 viewers every 10 s) and every stream's publisher adds a second of media statistics
(30 video frames, 47 audio frames); every 2 s the analytics worker ticks (health of 50
streams; every 10 s one snapshot per stream, in one transaction). Only the analytics calls
are timed, with the process CPU clock (so the database driver's thread counts too): the
heartbeat hook and ``Analytics.tick``. Ingest statistics and viewer tracking are measured by
their own benchmarks.

Reported: analytics CPU per simulated second, i.e. the share of one core analytics needs at
this load (the target is under 5 %); database writes per second (snapshot rows and
transactions); and the time to compute a final summary of a stream with 1,000 sessions.

Usage: .venv/bin/python benchmarks/bench_analytics.py [--seconds 120] [--database-url URL]
       (a PostgreSQL URL gets a schema of its own, dropped at the end)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from livecast.analytics import summary
from livecast.analytics.engine import Analytics
from livecast.analytics.players import PlayerBeat
from livecast.context import AppContext, build_context
from livecast.ingest.live import LiveStream, LiveStreams
from livecast.media.unit import Unit
from livecast.realtime.hub import Hub
from livecast.settings import Settings
from livecast.storage.db import create_engine
from livecast.storage.models import Stream, User, ViewerSession

STREAMS = 50
VIEWERS = 1_000
HEARTBEAT_SECONDS = 10


class SimulatedClock:
    def __init__(self) -> None:
        self._mono = 0.0
        self._now = datetime.now(UTC)

    def monotonic(self) -> float:
        return self._mono

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        self._now += timedelta(seconds=seconds)


class Publisher:
    peer = "bench"

    def close(self, reason: str) -> None:
        pass


class Writes:
    """Counts INSERT/UPDATE/DELETE statements (rows for executemany) and commits."""

    def __init__(self) -> None:
        self.statements = 0
        self.rows = 0
        self.commits = 0

    def watch(self, ctx: AppContext) -> None:
        engine = ctx.engine.sync_engine

        @event.listens_for(engine, "after_cursor_execute")
        def executed(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
                self.statements += 1
                many = executemany and isinstance(parameters, list | tuple)
                self.rows += len(parameters) if many else max(cursor.rowcount, 0)

        @event.listens_for(engine, "commit")
        def committed(conn):  # type: ignore[no-untyped-def]
            self.commits += 1


async def setup(ctx: AppContext, live: LiveStreams) -> tuple[list[LiveStream], User]:
    async with ctx.unit_of_work() as uow:
        owner = User(
            username="bench",
            email="bench@example.com",
            password_hash="x",  # noqa: S106 - never logged in
            role="streamer",
        )
        uow.session.add(owner)
        await uow.session.flush()
        records = []
        for n in range(STREAMS):
            record, _ = await uow.streams.create(owner, {"title": f"bench {n}"})
            await uow.streams.start(record)
            records.append(record)
        await uow.commit()
    return [live._attach(record, Publisher()) for record in records], owner


def feed(stream: LiveStream, second: int) -> None:
    for frame in range(30):
        dts = second * 1000 + frame * 1000 // 30
        key = frame == 0 and second % 2 == 0
        stream.stats.add(Unit("video", "h264", dts, dts, key, bytes(10_000), dts))
    for frame in range(47):
        dts = second * 1000 + frame * 21
        stream.stats.add(Unit("audio", "aac", dts, dts, True, bytes(340), dts))


async def final_summary_ms(ctx: AppContext, stream_id: uuid.UUID, started: datetime) -> float:
    """Insert 1,000 finished sessions and time one summary of them."""
    rows = [
        {
            "id": uuid.uuid4(),
            "stream_id": stream_id,
            "session_id": f"bench-{n:06d}",
            "viewer_key": f"s:bench-{n:06d}",
            "joined_at": started + timedelta(seconds=n % 600),
            "last_seen_at": started + timedelta(seconds=600 + n % 1800),
            "left_at": started + timedelta(seconds=600 + n % 1800),
            "watch_seconds": 600,
            "buffering_events": 0,
            "buffering_ms": 0,
            "quality_changes": 0,
        }
        for n in range(VIEWERS)
    ]
    async with ctx.sessions() as db:
        await db.execute(insert(ViewerSession), rows)
        await db.commit()
        stream = await db.get(Stream, stream_id)
        assert stream is not None
        begin = time.perf_counter()
        await summary.summarize(db, stream, started + timedelta(hours=1))
        return (time.perf_counter() - begin) * 1000


async def run(seconds: int, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        await measure(seconds, database_url, None)
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database_url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(database_url, server_settings={"search_path": schema})
    try:
        await measure(seconds, database_url, engine)
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


async def measure(seconds: int, database_url: str, engine: AsyncEngine | None) -> None:
    with tempfile.TemporaryDirectory(prefix="livecast-bench-") as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            database_url=database_url,
            secret_key="bench-signing-key-0123456789abcdef",  # type: ignore[arg-type]  # noqa: S106
            hls_enabled=False,
            thumbnail_interval_seconds=3600,
        )
        ctx = await build_context(settings, engine=engine)
        clock = SimulatedClock()
        hub = Hub(ctx, clock=clock, background=False)
        live = LiveStreams(ctx)
        analytics = Analytics(ctx, live, hub, clock=clock)
        streams, _ = await setup(ctx, live)
        for stream in streams:
            stream.stats.clock = clock.monotonic
            hub.viewers.counted(stream.id, VIEWERS if stream is streams[0] else 10)
        writes = Writes()
        writes.watch(ctx)
        target = streams[0].id
        per_second = VIEWERS // HEARTBEAT_SECONDS
        beat = PlayerBeat(buffering_events=0, buffering_ms=120, latency_ms=2500)
        cpu = 0.0
        wall = time.perf_counter()
        await analytics.tick()  # the first tick only sets the snapshot slot
        for second in range(seconds):
            for stream in streams:
                feed(stream, second)
            begin = time.process_time()
            for n in range(per_second):
                viewer = (second * per_second + n) % VIEWERS
                analytics.heartbeat(target, f"viewer-{viewer:06d}", beat)
            cpu += time.process_time() - begin
            clock.advance(1)
            if second % 2 == 1:
                begin = time.process_time()
                await analytics.tick()
                cpu += time.process_time() - begin
        wall = time.perf_counter() - wall
        rows, statements, commits = writes.rows, writes.statements, writes.commits
        summary_ms = await final_summary_ms(ctx, target, clock.now() - timedelta(hours=1))
        await analytics.close()
        await live.close()
        await hub.close()
        await ctx.close()

    share = cpu / seconds
    print(f"simulated {seconds} s: {STREAMS} live streams, {VIEWERS} viewers on one")
    print(f"heartbeats handled by analytics: {per_second * seconds} ({per_second}/s)")
    print(f"analytics CPU: {cpu:.3f} s = {share:.2%} of a core (target < 5 %)")
    print(
        f"database writes: {rows / seconds:.1f} rows/s in "
        f"{statements / seconds:.2f} statements/s, {commits / seconds:.2f} commits/s"
    )
    print(f"final summary of a stream with {VIEWERS} sessions: {summary_ms:.1f} ms")
    print(f"(wall time of the simulation, ingest feeding included: {wall:.1f} s)")
    if share >= 0.05:
        raise SystemExit("analytics used 5 % of a core or more")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.database_url))


if __name__ == "__main__":
    main()
