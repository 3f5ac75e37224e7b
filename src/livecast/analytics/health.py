"""Stream health: conditions on ingest statistics and player heartbeats, debounced into events.

Pure: :class:`HealthMonitor` takes a reading (the time, the ingest state, the recent player
heartbeats and the quality score) and returns the findings to publish. Every condition is
debounced: it must hold for ``hold_seconds`` before it fires, and it does not fire again until
it has been clear for as long. So a flapping condition yields one event, not a storm.
docs/events.md lists each kind with its severity and JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from livecast.analytics.players import PlayerWindow
from livecast.events.catalog import Severity
from livecast.settings import Settings

# stream_started and stream_ended are the StreamStarted and StreamEnded events of the catalogue.
HealthKind = Literal[
    "quality_changed",
    "buffer_underflow",
    "connection_lost",
    "connection_restored",
    "high_latency",
    "frame_drop",
    "bitrate_change",
    "error",
]
Band = Literal["good", "fair", "poor"]
_BAND_SEVERITY: dict[Band, Severity] = {"good": "info", "fair": "warning", "poor": "error"}


@dataclass(frozen=True, slots=True)
class Thresholds:
    hold_seconds: float = 10
    connection_lost_seconds: float = 3
    window_seconds: float = 30
    high_latency_ms: float = 5000
    buffer_underflow_ratio: float = 0.05
    frame_drop_ratio: float = 0.02
    min_frame_rate_ratio: float = 0.8
    bitrate_change_ratio: float = 0.5
    player_errors_per_minute: float = 10
    ingest_stall_seconds: float = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            hold_seconds=settings.health_hold_seconds,
            connection_lost_seconds=settings.health_connection_lost_seconds,
            window_seconds=settings.health_window_seconds,
            high_latency_ms=settings.health_high_latency_ms,
            buffer_underflow_ratio=settings.health_buffer_underflow_ratio,
            frame_drop_ratio=settings.health_frame_drop_ratio,
            min_frame_rate_ratio=settings.health_min_frame_rate_ratio,
            bitrate_change_ratio=settings.health_bitrate_change_ratio,
            player_errors_per_minute=settings.health_player_errors_per_minute,
            ingest_stall_seconds=settings.health_ingest_stall_seconds,
        )


@dataclass(frozen=True, slots=True)
class IngestReading:
    """A stream's ingest state on this node (cumulative counters, current rates)."""

    publishing: bool
    video_bps: float = 0.0
    frame_rate: float = 0.0
    declared_frame_rate: float | None = None
    video_units: int = 0
    dropped_units: int = 0


@dataclass(frozen=True, slots=True)
class Finding:
    kind: HealthKind
    severity: Severity
    detail: str
    value: float | None = None
    threshold: float | None = None


class Debounce:
    """A condition that fires after holding ``hold`` seconds and re-arms after ``clear``."""

    def __init__(self, hold: float, clear: float | None = None) -> None:
        self.hold = hold
        self.clear = hold if clear is None else clear
        self.firing = False
        self._since: float | None = None  # when the reading began to disagree with the state

    def update(self, active: bool, now: float) -> Literal["fire", "clear"] | None:
        if active == self.firing:
            self._since = None
            return None
        if self._since is None:
            self._since = now
        if now - self._since < (self.clear if self.firing else self.hold):
            return None
        self.firing, self._since = active, None
        return "fire" if active else "clear"

    def reset(self) -> None:
        self.firing, self._since = False, None


def band(score: float) -> Band:
    return "good" if score >= 80 else "fair" if score >= 50 else "poor"


class HealthMonitor:
    """The health conditions of one stream, fed a reading every few seconds."""

    def __init__(self, thresholds: Thresholds) -> None:
        self.t = thresholds
        hold = thresholds.hold_seconds
        self._lost = Debounce(thresholds.connection_lost_seconds, clear=0)
        self._stall = Debounce(0)
        self._frames = Debounce(hold)
        self._bitrate = Debounce(hold, clear=0)
        self._latency = Debounce(hold)
        self._underflow = Debounce(hold)
        self._errors = Debounce(hold)
        self._band: Band = "good"
        self._band_change = Debounce(hold, clear=0)
        self._baseline_bps: float | None = None
        self._previous: tuple[float, IngestReading] | None = None
        self._video_moved_at: float | None = None

    def update(
        self, now: float, ingest: IngestReading | None, players: PlayerWindow, score: float
    ) -> list[Finding]:
        found: list[Finding] = []
        if ingest is not None:
            found += self._connection(now, ingest)
            if ingest.publishing:
                found += self._stalled(now, ingest)
                found += self._frame_drop(now, ingest)
                found += self._bitrate_change(now, ingest)
            self._previous = (now, ingest)
        found += self._players(now, players)
        if ingest is None or ingest.publishing:  # without a publisher, connection_lost says it
            found += self._quality(now, score)
        return found

    # -- ingest -------------------------------------------------------------------------

    def _connection(self, now: float, ingest: IngestReading) -> list[Finding]:
        change = self._lost.update(not ingest.publishing, now)
        if change == "fire":
            seconds = self.t.connection_lost_seconds
            return [Finding("connection_lost", "error", f"The publisher is gone ({seconds:g} s).")]
        if change == "clear":
            return [Finding("connection_restored", "info", "The publisher is back.")]
        return []

    def _stalled(self, now: float, ingest: IngestReading) -> list[Finding]:
        previous = self._previous[1] if self._previous else None
        moved = previous is None or not previous.publishing
        moved = moved or previous is None or ingest.video_units != previous.video_units
        if moved or self._video_moved_at is None:
            self._video_moved_at = now
        idle = now - self._video_moved_at
        if self._stall.update(idle >= self.t.ingest_stall_seconds, now) == "fire":
            detail = f"No video from the publisher for {idle:g} s."
            return [Finding("error", "critical", detail, idle, self.t.ingest_stall_seconds)]
        return []

    def _frame_drop(self, now: float, ingest: IngestReading) -> list[Finding]:
        share = 0.0
        if self._previous is not None:
            previous = self._previous[1]
            dropped = max(0, ingest.dropped_units - previous.dropped_units)
            frames = max(0, ingest.video_units - previous.video_units) + dropped
            share = dropped / frames if frames else 0.0
        declared = ingest.declared_frame_rate
        slow = bool(declared) and ingest.frame_rate < self.t.min_frame_rate_ratio * (declared or 0)
        active = share > self.t.frame_drop_ratio or slow
        if self._frames.update(active, now) != "fire":
            return []
        if slow:
            detail = f"Frame rate {ingest.frame_rate:g}/s of {declared:g}/s declared."
            return [Finding("frame_drop", "warning", detail, ingest.frame_rate, declared)]
        detail = f"{share:.1%} of frames dropped at ingest."
        return [Finding("frame_drop", "warning", detail, round(share, 4), self.t.frame_drop_ratio)]

    def _bitrate_change(self, now: float, ingest: IngestReading) -> list[Finding]:
        bps = ingest.video_bps
        if bps <= 0:
            return []
        baseline = self._baseline_bps
        if baseline is None:
            self._baseline_bps = bps
            return []
        moved = abs(bps - baseline) / baseline > self.t.bitrate_change_ratio
        if self._bitrate.update(moved, now) != "fire":
            return []
        self._baseline_bps = bps
        self._bitrate.reset()  # the new rate is the baseline from now on
        severity: Severity = "warning" if bps < baseline else "info"
        detail = f"Ingest video bitrate went from {baseline:.0f} to {bps:.0f} bit/s."
        return [Finding("bitrate_change", severity, detail, round(bps), round(baseline))]

    # -- players ------------------------------------------------------------------------

    def _players(self, now: float, players: PlayerWindow) -> list[Finding]:
        found: list[Finding] = []
        p95 = players.latency_p95_ms
        high = p95 is not None and p95 > self.t.high_latency_ms
        if self._latency.update(high, now) == "fire":
            detail = f"Players' latency p95 is {p95:g} ms."
            found.append(Finding("high_latency", "warning", detail, p95, self.t.high_latency_ms))
        ratio = players.rebuffer_ratio
        under = players.heartbeats > 0 and ratio > self.t.buffer_underflow_ratio
        if self._underflow.update(under, now) == "fire":
            detail = f"Players spent {ratio:.1%} of their time rebuffering."
            threshold = self.t.buffer_underflow_ratio
            found.append(Finding("buffer_underflow", "warning", detail, round(ratio, 4), threshold))
        per_minute = players.errors * 60 / self.t.window_seconds
        failing = per_minute > self.t.player_errors_per_minute
        if self._errors.update(failing, now) == "fire":
            detail = f"Players report {per_minute:g} errors a minute."
            threshold = self.t.player_errors_per_minute
            found.append(Finding("error", "error", detail, per_minute, threshold))
        return found

    def _quality(self, now: float, score: float) -> list[Finding]:
        now_band = band(score)
        if self._band_change.update(now_band != self._band, now) != "fire":
            return []
        previous, self._band = self._band, now_band
        self._band_change.reset()
        detail = f"Quality went from {previous} to {now_band} (score {score:g})."
        return [Finding("quality_changed", _BAND_SEVERITY[now_band], detail, score)]
