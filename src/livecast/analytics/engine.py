"""The analytics worker of one node: health checks, snapshots, final summaries, rollups.

One loop, every ``LIVECAST_HEALTH_CHECK_INTERVAL_SECONDS``: it evaluates the health of the
streams this node looks after and publishes what fires as :class:`StreamHealth` events; when
a snapshot interval has passed (aligned to the wall clock, so nodes agree on ``taken_at``) it
writes one snapshot per stream in one transaction; once an hour it rolls snapshots older than
the retention up into hourly rows.

Which streams a node looks after: those it ingests, and, on a single node (no Redis bus),
every live stream, also ones started through the API with no publisher. With several nodes
the ingesting node takes the snapshots; heartbeats it did not receive are not in them
(docs/analytics.md, "Several nodes").
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from livecast.analytics import series, summary
from livecast.analytics.health import (
    Finding,
    HealthMonitor,
    IngestReading,
    Thresholds,
)
from livecast.analytics.metrics import AnalyticsCollector
from livecast.analytics.players import PlayerBeat, PlayerReports
from livecast.analytics.quality import QualityInputs, quality_score
from livecast.context import AppContext
from livecast.domain.stream_lifecycle import StreamStatus
from livecast.events.catalog import (
    DomainEvent,
    PlayerReported,
    RoomEventsAppended,
    StreamEnded,
    StreamHealth,
    StreamStarted,
)
from livecast.ingest.live import LiveStream, LiveStreams
from livecast.realtime.clock import Clock
from livecast.realtime.eventlog import insert_ignore
from livecast.realtime.hub import Hub
from livecast.storage.models import Stream, StreamSnapshot

log = logging.getLogger(__name__)

ERROR_LEVELS = frozenset({"error", "critical"})


@dataclass(frozen=True, slots=True)
class IngestState:
    """What a snapshot takes from a stream's ingest statistics on this node."""

    reading: IngestReading
    audio_bps: float
    keyframe_interval_ms: int | None
    av_drift_ms: int | None


def ingest_state(live: LiveStream) -> IngestState:
    stats = live.stats
    video_bps, audio_bps, fps = stats.rates()
    video = stats.tracks.get("video")
    declared = float(video.frame_rate) if video is not None and video.frame_rate else None
    counters = live.depacketizer.counters
    dropped = counters.before_config + counters.unsupported
    dropped += sum(reader.dropped for reader in live.media.readers)
    reading = IngestReading(
        publishing=live.publisher is not None,
        video_bps=video_bps,
        frame_rate=fps,
        declared_frame_rate=declared,
        video_units=stats.video_units,
        dropped_units=dropped,
    )
    return IngestState(reading, audio_bps, stats.keyframe_interval_ms, stats.av_drift_ms)


class Analytics:
    def __init__(
        self, ctx: AppContext, live: LiveStreams, hub: Hub, *, clock: Clock | None = None
    ) -> None:
        self.ctx = ctx
        self.live = live
        self.hub = hub
        self.clock: Clock = clock or hub.clock
        settings = ctx.settings
        self.settings = settings
        self.thresholds = Thresholds.from_settings(settings)
        self.interval = settings.analytics_snapshot_interval_seconds
        keep = 2 * max(settings.health_window_seconds, self.interval)
        self.players = PlayerReports(keep, settings.viewer_session_timeout_seconds)
        self.monitors: dict[uuid.UUID, HealthMonitor] = {}
        self.owners: dict[uuid.UUID, uuid.UUID] = {}  # live streams looked after -> owner
        self.latest: dict[uuid.UUID, dict[str, Any]] = {}  # each stream's newest snapshot
        self._slot: int | None = None
        self._slot_mono = 0.0
        self._dropped: dict[uuid.UUID, int] = {}  # dropped units at the previous snapshot
        self._health_errors: dict[uuid.UUID, int] = {}  # since the previous snapshot
        self._rollup_due = 0.0
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe = ctx.bus.subscribe_own(self._on_event)
        # With several nodes, a player's heartbeat may reach any of them: it travels on the
        # bus to the node that ingests the stream and takes its snapshots.
        self._shared = ctx.redis is not None
        self._unsubscribe_reports = ctx.bus.subscribe(self._on_report)
        ctx.metrics.use_collector("analytics", AnalyticsCollector(self))

    # -- input ----------------------------------------------------------------------------

    async def heartbeat(
        self, stream_id: uuid.UUID, owner_id: uuid.UUID, session_id: str, beat: PlayerBeat
    ) -> None:
        """A player's heartbeat was accepted (called by the heartbeat endpoint)."""
        if beat.errors:
            self.ctx.metrics.errors.labels("player").inc(beat.errors)
        if not self._shared:
            self.players.add(stream_id, session_id, self.clock.monotonic(), beat)
            return
        report = PlayerReported(
            stream_id=stream_id,
            user_id=owner_id,
            session_id=session_id,
            buffering_events=beat.buffering_events,
            buffering_ms=beat.buffering_ms,
            quality_changes=beat.quality_changes,
            errors=beat.errors,
            latency_ms=beat.latency_ms,
        )
        await self.ctx.bus.publish(report)  # every node hears it, this one included

    async def _on_report(self, event: DomainEvent) -> None:
        if isinstance(event, PlayerReported):
            beat = PlayerBeat(
                buffering_events=event.buffering_events,
                buffering_ms=event.buffering_ms,
                quality_changes=event.quality_changes,
                errors=event.errors,
                latency_ms=event.latency_ms,
            )
            self.players.add(event.stream_id, event.session_id, self.clock.monotonic(), beat)

    async def _on_event(self, event: DomainEvent) -> None:
        if isinstance(event, RoomEventsAppended):
            comments = sum(1 for item in event.events if item.get("type") == "comment")
            if comments:
                self.ctx.metrics.chat_messages.inc(comments)
        elif isinstance(event, StreamHealth):
            if event.level in ERROR_LEVELS:
                self.ctx.metrics.errors.labels("stream_health").inc()
                count = self._health_errors.get(event.stream_id, 0)
                self._health_errors[event.stream_id] = count + 1
        elif isinstance(event, StreamStarted):
            self.owners[event.stream_id] = event.user_id
        elif isinstance(event, StreamEnded):
            await self._finish(event.stream_id)

    async def _finish(self, stream_id: uuid.UUID) -> None:
        """The stream ended: keep its final summary and forget its live state."""
        self.owners.pop(stream_id, None)
        self.monitors.pop(stream_id, None)
        self.latest.pop(stream_id, None)
        self._dropped.pop(stream_id, None)
        self._health_errors.pop(stream_id, None)
        self.players.drop(stream_id)
        try:
            async with self.ctx.sessions() as db:
                stream = await db.get(Stream, stream_id)
                if stream is not None:
                    await summary.store_final(db, stream, self.clock.now())
                    await db.commit()
        except Exception:
            log.exception("could not store the final summary", extra={"stream_id": str(stream_id)})

    async def _announce(self, stream_id: uuid.UUID, owner: uuid.UUID, finding: Finding) -> None:
        await self.ctx.bus.publish(
            StreamHealth(
                stream_id=stream_id,
                user_id=owner,
                occurred_at=self.clock.now(),
                kind=finding.kind,
                level=finding.severity,
                detail=finding.detail,
                value=finding.value,
                threshold=finding.threshold,
            )
        )

    # -- the loop -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="analytics")

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("analytics tick failed")
            await asyncio.sleep(self.settings.health_check_interval_seconds)

    async def tick(self) -> None:
        """One pass: health, then a snapshot if one is due, then a rollup if one is due."""
        mono, now = self.clock.monotonic(), self.clock.now()
        await self._refresh()
        self.players.prune(mono)
        for stream_id in self.looked_after():
            await self._check(stream_id, mono)
        slot = math.floor(now.timestamp() / self.interval)
        if self._slot is None:
            self._slot, self._slot_mono = slot, mono
        elif slot > self._slot:
            span = (slot - self._slot) * self.interval
            taken_at = datetime.fromtimestamp(slot * self.interval, UTC)
            await self.snapshot(taken_at, self._slot_mono, mono, span)
            self._slot, self._slot_mono = slot, mono
        if mono >= self._rollup_due:
            self._rollup_due = mono + self.settings.analytics_rollup_interval_seconds
            await self.roll_up(now)

    async def _refresh(self) -> None:
        """Which streams are live, from the database (every node's starts and ends)."""
        async with self.ctx.sessions() as db:
            rows = (
                await db.execute(
                    select(Stream.id, Stream.user_id).where(Stream.status == StreamStatus.LIVE)
                )
            ).all()
        live = {stream_id: owner for stream_id, owner in rows}
        for gone in set(self.owners) - set(live):
            self.monitors.pop(gone, None)
            self.latest.pop(gone, None)
        self.owners = live

    def looked_after(self) -> list[uuid.UUID]:
        alone = self.ctx.redis is None
        return [sid for sid in self.owners if alone or self.live.get(sid) is not None]

    def _ingest(self, stream_id: uuid.UUID) -> IngestState | None:
        live = self.live.get(stream_id)
        return ingest_state(live) if live is not None else None

    async def _check(self, stream_id: uuid.UUID, mono: float) -> None:
        monitor = self.monitors.get(stream_id)
        if monitor is None:
            monitor = self.monitors[stream_id] = HealthMonitor(self.thresholds)
        ingest = self._ingest(stream_id)
        players = self.players.window(stream_id, mono - self.thresholds.window_seconds)
        score = quality_score(
            QualityInputs(
                publishing=ingest.reading.publishing if ingest else None,
                buffer_health=players.buffer_health,
                latency_p95_ms=players.latency_p95_ms,
                latency_target_ms=self.thresholds.high_latency_ms,
                av_sync_ms=ingest.av_drift_ms if ingest else None,
                errors=players.errors,
            )
        )
        reading = ingest.reading if ingest else None
        for finding in monitor.update(mono, reading, players, score):
            await self._announce(stream_id, self.owners[stream_id], finding)

    # -- snapshots ------------------------------------------------------------------------

    async def snapshot(
        self, taken_at: datetime, since: float, until: float, span: float
    ) -> list[dict[str, Any]]:
        """Write one snapshot per stream looked after, covering ``[since, until)``."""
        rows = [
            self._snapshot_row(sid, taken_at, since, until, span) for sid in self.looked_after()
        ]
        if rows:
            async with self.ctx.sessions() as db:
                await db.execute(insert_ignore(db, StreamSnapshot), rows)
                await db.commit()
        for row in rows:
            self.latest[row["stream_id"]] = row
        return rows

    def _snapshot_row(
        self, stream_id: uuid.UUID, taken_at: datetime, since: float, until: float, span: float
    ) -> dict[str, Any]:
        ingest = self._ingest(stream_id)
        players = self.players.window(stream_id, since, until)
        viewers = self.hub.viewers.concurrent(stream_id)
        errors = players.errors + self._health_errors.pop(stream_id, 0)
        row: dict[str, Any] = {
            "stream_id": stream_id,
            "taken_at": taken_at,
            "interval_seconds": span,
            "viewers": viewers,
            "egress_bps": None,
            "ingest_bitrate_bps": None,
            "frame_rate": None,
            "dropped_frames": 0,
            "keyframe_interval_ms": None,
            "av_sync_ms": None,
            "heartbeats": players.heartbeats,
            "buffer_health": players.buffer_health,
            "rebuffer_events": players.rebuffer_events,
            "latency_avg_ms": players.latency_avg_ms,
            "latency_p95_ms": players.latency_p95_ms,
            "errors": errors,
        }
        if ingest is not None:
            reading = ingest.reading
            bitrate = reading.video_bps + ingest.audio_bps
            previous = self._dropped.get(stream_id, reading.dropped_units)
            self._dropped[stream_id] = reading.dropped_units
            row.update(
                egress_bps=round(viewers * bitrate),
                ingest_bitrate_bps=round(bitrate),
                frame_rate=round(reading.frame_rate, 2),
                dropped_frames=max(0, reading.dropped_units - previous),
                keyframe_interval_ms=ingest.keyframe_interval_ms,
                av_sync_ms=ingest.av_drift_ms,
            )
        row["quality_score"] = quality_score(
            QualityInputs(
                publishing=ingest.reading.publishing if ingest else None,
                buffer_health=row["buffer_health"],
                latency_p95_ms=row["latency_p95_ms"],
                latency_target_ms=self.thresholds.high_latency_ms,
                dropped_frames=row["dropped_frames"],
                frame_rate=row["frame_rate"],
                interval_seconds=span,
                av_sync_ms=row["av_sync_ms"],
                errors=errors,
            )
        )
        return row

    # -- retention ------------------------------------------------------------------------

    async def roll_up(self, now: datetime) -> int:
        """Roll snapshots older than the retention into hourly rows, an hour per transaction."""
        before = now - timedelta(days=self.settings.analytics_retention_days)
        folded = 0
        while True:
            async with self.ctx.sessions() as db:
                count = await series.roll_up_hour(db, before)
                await db.commit()
            if not count:
                return folded
            folded += count

    async def close(self) -> None:
        self._unsubscribe()
        self._unsubscribe_reports()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
