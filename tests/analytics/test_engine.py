"""The analytics worker: ingest-backed snapshots, health events through the event store, and
the rollup of snapshots older than the retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from livecast.analytics.engine import Analytics
from livecast.context import AppContext
from livecast.ingest.live import LiveStream
from livecast.media.unit import Unit
from livecast.settings import Settings
from livecast.storage.models import HourlySnapshot, Stream, StreamSnapshot
from tests.analytics.conftest import API, SteadyClock, beat
from tests.realtime.conftest import Person

VIDEO_BYTES = 10_000  # 30 frames/s: 2.4 Mbit/s
AUDIO_BYTES = 250  # 40 frames/s: 80 kbit/s


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"hls_enabled": False, "reconnect_grace_seconds": 3600})


class Publisher:
    peer = "127.0.0.1:50000"

    def close(self, reason: str) -> None:
        pass


def publish(app: FastAPI, record: Stream, clock: SteadyClock) -> LiveStream:
    live: LiveStream = app.state.live._attach(record, Publisher())
    live.stats.clock = clock.monotonic
    return live


def feed_second(live: LiveStream, second: int) -> None:
    """One second of media: 30 video frames (a keyframe every 2 s), 40 audio frames."""
    for frame in range(30):
        dts = second * 1000 + frame * 1000 // 30
        live.stats.add(
            Unit("video", "h264", dts, dts, frame == 0 and second % 2 == 0, bytes(VIDEO_BYTES), dts)
        )
    for frame in range(40):
        dts = second * 1000 + frame * 25
        live.stats.add(Unit("audio", "aac", dts, dts, True, bytes(AUDIO_BYTES), dts))


async def test_ingest_snapshots_and_connection_health_events(
    ctx: AppContext,
    app: FastAPI,
    analytics: Analytics,
    client: httpx.AsyncClient,
    clock: SteadyClock,
    person: Any,
    stream: Any,
    go_live: Any,
) -> None:
    alice: Person = await person("alice")
    show = await stream(alice)
    await go_live(show.id)
    async with ctx.sessions() as db:
        record = await db.get(Stream, show.id)
    assert record is not None
    live = publish(app, record, clock)
    conn = live.publisher
    second = 0

    async def run(seconds: int, *, media: bool = True) -> None:
        nonlocal second
        for _ in range(seconds):
            if media:
                feed_second(live, second)
            clock.advance(1)
            second += 1
            if second % 2 == 0:
                await analytics.tick()

    await beat(client, show.id, "viewer-00001", latency_ms=1500)
    await run(20)
    async with ctx.sessions() as db:
        snapshot = await db.scalar(
            select(StreamSnapshot)
            .where(StreamSnapshot.stream_id == show.id)
            .order_by(StreamSnapshot.taken_at.desc())
        )
    assert snapshot is not None
    assert snapshot.ingest_bitrate_bps == 2_400_000 + 80_000
    assert snapshot.egress_bps == 2_480_000  # one viewer
    assert snapshot.frame_rate == 30
    assert snapshot.keyframe_interval_ms == 2000
    assert snapshot.av_sync_ms == (19 * 1000 + 29 * 1000 // 30) - (19 * 1000 + 39 * 25)
    assert snapshot.dropped_frames == 0
    assert snapshot.quality_score == 100

    app.state.live.end_publish(live, conn)
    await run(4, media=False)  # ticks 2 s and 4 s after it left: not yet a lost connection
    url = f"{API}/streams/{show.id}/events"
    kinds = {"type": "StreamHealth"}
    assert (await client.get(url, params=kinds, headers=alice.headers)).json()["total"] == 0
    await run(8, media=False)  # the snapshot at 30 s is taken while it is gone
    live = publish(app, record, clock)
    await run(8)

    page = (await client.get(url, params=kinds, headers=alice.headers)).json()
    found = [(e["data"]["kind"], e["severity"]) for e in page["items"]]
    assert found == [("connection_lost", "error"), ("connection_restored", "info")]
    lost = page["items"][0]["data"]
    assert lost == {
        "kind": "connection_lost",
        "level": "error",
        "detail": "The publisher is gone (3 s).",
        "value": None,
        "threshold": None,
    }
    errors = await client.get(url, params={"severity": "error"}, headers=alice.headers)
    assert errors.json()["total"] == 1
    async with ctx.sessions() as db:
        scores = list(
            await db.scalars(
                select(StreamSnapshot.quality_score)
                .where(StreamSnapshot.stream_id == show.id)
                .order_by(StreamSnapshot.taken_at)
            )
        )
    assert scores == [100.0, 100.0, 0.0, 100.0]  # at 30 s the publisher was gone


async def test_old_snapshots_roll_up_into_hours_and_stay_in_the_series(
    ctx: AppContext,
    analytics: Analytics,
    client: httpx.AsyncClient,
    clock: SteadyClock,
    person: Any,
    stream: Any,
) -> None:
    alice: Person = await person("alice")
    show = await stream(alice)
    now = clock.now()
    hour = (now - timedelta(days=40)).replace(minute=0, second=0, microsecond=0)
    old = [(hour + timedelta(minutes=m), viewers) for m, viewers in [(1, 4), (2, 6), (30, 2)]]
    old += [(hour + timedelta(hours=1, minutes=5), 10), (hour + timedelta(hours=1, minutes=6), 12)]
    recent = [(now - timedelta(days=1), 7)]

    async def insert(rows: list[tuple[Any, int]]) -> None:
        async with ctx.sessions() as db:
            for taken_at, viewers in rows:
                db.add(
                    StreamSnapshot(
                        stream_id=show.id,
                        taken_at=taken_at,
                        interval_seconds=10,
                        viewers=viewers,
                        dropped_frames=1,
                        heartbeats=viewers,
                        rebuffer_events=0,
                        errors=0,
                        quality_score=90.0,
                        latency_p95_ms=float(viewers * 100),
                    )
                )
            await db.commit()

    await insert(old + recent)
    assert await analytics.roll_up(now) == 5
    assert await analytics.roll_up(now) == 0
    async with ctx.sessions() as db:
        left = await db.scalar(select(func.count()).select_from(StreamSnapshot))
        hours = list(await db.scalars(select(HourlySnapshot).order_by(HourlySnapshot.hour)))
    assert left == 1
    assert [(h.hour, h.samples) for h in hours] == [(hour, 3), (hour + timedelta(hours=1), 2)]
    assert hours[0].stats["viewers"] == {"sum": 4 + 6 + 2, "count": 3, "max": 6}

    await insert([(hour + timedelta(minutes=45), 8)])  # late: merges into its hour
    assert await analytics.roll_up(now) == 1

    params = {
        "from": (hour - timedelta(hours=1)).isoformat(),
        "to": now.isoformat(),
        "interval": 3600,
    }
    response = await client.get(
        f"{API}/streams/{show.id}/analytics", params=params, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    points = response.json()["series"]
    assert [(p["samples"], p["viewers"], p["viewers_peak"]) for p in points] == [
        (4, 5.0, 8),
        (2, 11.0, 12),
        (1, 7.0, 7),
    ]
    assert [p["dropped_frames"] for p in points] == [4, 2, 1]
    assert [p["latency_p95_ms"] for p in points] == [800, 1200, 700]
