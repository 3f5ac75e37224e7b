"""Snapshot time series: buckets of any width, and the hourly rollup that retention keeps.

Every metric is kept as ``{"sum", "count", "max"}`` over the snapshots it covers: bucketing and
rollups only add these up, so a bucket built from hourly rows and raw snapshots is exact for
sums, counts and peaks. A point is stamped with its bucket's start; a snapshot belongs to the
bucket holding its ``taken_at`` (the end of the interval it measured), an hourly row to the one
holding its hour.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from livecast.storage.models import HourlySnapshot, StreamSnapshot

How = Literal["avg", "max", "sum"]

# (name in a point, snapshot column, how a bucket combines it)
SERIES: tuple[tuple[str, str, How], ...] = (
    ("viewers", "viewers", "avg"),
    ("viewers_peak", "viewers", "max"),
    ("egress_bps", "egress_bps", "avg"),
    ("ingest_bitrate_bps", "ingest_bitrate_bps", "avg"),
    ("frame_rate", "frame_rate", "avg"),
    ("dropped_frames", "dropped_frames", "sum"),
    ("keyframe_interval_ms", "keyframe_interval_ms", "avg"),
    ("av_sync_ms", "av_sync_ms", "avg"),
    ("heartbeats", "heartbeats", "sum"),
    ("buffer_health", "buffer_health", "avg"),
    ("rebuffer_events", "rebuffer_events", "sum"),
    ("latency_avg_ms", "latency_avg_ms", "avg"),
    ("latency_p95_ms", "latency_p95_ms", "max"),
    ("errors", "errors", "sum"),
    ("quality_score", "quality_score", "avg"),
)
COLUMNS: tuple[str, ...] = tuple(dict.fromkeys(column for _, column, _ in SERIES))
HOUR = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Stats = dict[str, dict[str, float]]


@dataclass(slots=True)
class Bucket:
    samples: int = 0
    stats: Stats = field(default_factory=dict)

    def add_values(self, values: Mapping[str, Any]) -> None:
        self.samples += 1
        for column in COLUMNS:
            value = values[column]
            if value is None:
                continue
            entry = self.stats.setdefault(column, {"sum": 0.0, "count": 0, "max": value})
            entry["sum"] += value
            entry["count"] += 1
            entry["max"] = max(entry["max"], value)

    def add_stats(self, samples: int, stats: Stats) -> None:
        self.samples += samples
        for column, other in stats.items():
            entry = self.stats.get(column)
            if entry is None:
                self.stats[column] = dict(other)
            else:
                entry["sum"] += other["sum"]
                entry["count"] += other["count"]
                entry["max"] = max(entry["max"], other["max"])

    def point(self, start: datetime) -> dict[str, Any]:
        found: dict[str, Any] = {"time": start, "samples": self.samples}
        for name, column, how in SERIES:
            entry = self.stats.get(column)
            if entry is None or not entry["count"]:
                found[name] = None
            elif how == "avg":
                found[name] = round(entry["sum"] / entry["count"], 3)
            else:
                found[name] = entry[how]
        return found


def floor_time(moment: datetime, seconds: float, origin: datetime) -> datetime:
    steps = (moment - origin).total_seconds() // seconds
    return origin + timedelta(seconds=steps * seconds)


def _values(row: StreamSnapshot) -> dict[str, Any]:
    return {column: getattr(row, column) for column in COLUMNS}


async def series(
    db: AsyncSession,
    stream_id: uuid.UUID,
    start: datetime,
    end: datetime,
    interval_seconds: int,
) -> list[dict[str, Any]]:
    """Points of ``interval_seconds`` from ``start`` (inclusive) to ``end`` (exclusive)."""
    buckets: dict[datetime, Bucket] = {}
    hourly = await db.scalars(
        select(HourlySnapshot).where(
            HourlySnapshot.stream_id == stream_id,
            HourlySnapshot.hour >= floor_time(start, 3600, EPOCH),
            HourlySnapshot.hour < end,
        )
    )
    for row in hourly:
        key = floor_time(max(row.hour, start), interval_seconds, start)
        buckets.setdefault(key, Bucket()).add_stats(row.samples, row.stats)
    snapshots = await db.scalars(
        select(StreamSnapshot).where(
            StreamSnapshot.stream_id == stream_id,
            StreamSnapshot.taken_at >= start,
            StreamSnapshot.taken_at < end,
        )
    )
    for snapshot in snapshots:
        key = floor_time(snapshot.taken_at, interval_seconds, start)
        buckets.setdefault(key, Bucket()).add_values(_values(snapshot))
    return [buckets[key].point(key) for key in sorted(buckets)]


# -- retention -------------------------------------------------------------------------------


async def roll_up_hour(db: AsyncSession, before: datetime) -> int:
    """Fold the oldest hour of snapshots taken before ``before`` into hourly rows and delete
    them, in the caller's transaction; returns how many snapshots it folded (0: none left).

    The snapshots are deleted with ``RETURNING`` first, so two nodes rolling up at once can
    never fold one snapshot twice: the second finds the rows gone.
    """
    oldest = await db.scalar(
        select(func.min(StreamSnapshot.taken_at)).where(StreamSnapshot.taken_at < before)
    )
    if oldest is None:
        return 0
    hour = floor_time(oldest, 3600, EPOCH)
    until = min(hour + HOUR, before)
    folded = (
        await db.execute(
            delete(StreamSnapshot)
            .where(StreamSnapshot.taken_at >= hour, StreamSnapshot.taken_at < until)
            .returning(StreamSnapshot.stream_id, *(getattr(StreamSnapshot, c) for c in COLUMNS))
        )
    ).all()
    buckets: dict[uuid.UUID, Bucket] = {}
    for stream_id, *values in folded:
        buckets.setdefault(stream_id, Bucket()).add_values(dict(zip(COLUMNS, values, strict=True)))
    await _merge_hourly(db, hour, buckets)
    return len(folded)


async def _merge_hourly(db: AsyncSession, hour: datetime, buckets: dict[uuid.UUID, Bucket]) -> None:
    for stream_id, bucket in buckets.items():
        row = await db.get(HourlySnapshot, (stream_id, hour), with_for_update=True)
        if row is None:
            db.add(
                HourlySnapshot(
                    stream_id=stream_id, hour=hour, samples=bucket.samples, stats=bucket.stats
                )
            )
            continue
        merged = Bucket(row.samples, {k: dict(v) for k, v in row.stats.items()})
        merged.add_stats(bucket.samples, bucket.stats)
        row.samples, row.stats = merged.samples, merged.stats
    await db.flush()
