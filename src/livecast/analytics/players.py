"""What players report with their heartbeats, kept briefly per stream for snapshots and health.

A heartbeat carries counts since the session's previous one (rebuffering events and time,
rendition switches, errors) and, optionally, the player's latency behind the live edge. Each
heartbeat covers the time since the session's previous heartbeat (at most the session
timeout; a session's first heartbeat covers one heartbeat interval), which is what buffer
health is measured against. Per node, in memory: cheap enough to take 1,000 heartbeats a
second (a deque append and a dict write each).
"""

from __future__ import annotations

import math
import uuid
from collections import deque
from dataclasses import dataclass

HEARTBEAT_INTERVAL_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class PlayerBeat:
    """One heartbeat's report; counts are since the session's previous heartbeat."""

    buffering_events: int = 0
    buffering_ms: int = 0
    quality_changes: int = 0
    errors: int = 0
    latency_ms: int | None = None


@dataclass(frozen=True, slots=True)
class _Sample:
    at: float
    covered_ms: float
    beat: PlayerBeat


@dataclass(frozen=True, slots=True)
class PlayerWindow:
    """Heartbeats of one stream over a span of time, summed up."""

    heartbeats: int = 0
    covered_ms: float = 0.0
    buffering_ms: int = 0
    rebuffer_events: int = 0
    quality_changes: int = 0
    errors: int = 0
    latency_avg_ms: float | None = None
    latency_p95_ms: float | None = None

    @property
    def buffer_health(self) -> float | None:
        """The share of watched time not spent rebuffering; None without heartbeats."""
        if self.covered_ms <= 0:
            return None
        return round(max(0.0, 1.0 - self.buffering_ms / self.covered_ms), 4)

    @property
    def rebuffer_ratio(self) -> float:
        return 0.0 if self.covered_ms <= 0 else min(1.0, self.buffering_ms / self.covered_ms)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value at or above ``share`` of them."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summarize(samples: list[_Sample]) -> PlayerWindow:
    latencies = [float(s.beat.latency_ms) for s in samples if s.beat.latency_ms is not None]
    return PlayerWindow(
        heartbeats=len(samples),
        covered_ms=sum(s.covered_ms for s in samples),
        buffering_ms=sum(s.beat.buffering_ms for s in samples),
        rebuffer_events=sum(s.beat.buffering_events for s in samples),
        quality_changes=sum(s.beat.quality_changes for s in samples),
        errors=sum(s.beat.errors for s in samples),
        latency_avg_ms=round(sum(latencies) / len(latencies), 1) if latencies else None,
        latency_p95_ms=percentile(latencies, 0.95) if latencies else None,
    )


class PlayerReports:
    """Recent heartbeats per stream; ``keep_seconds`` bounds the memory."""

    def __init__(self, keep_seconds: float, session_timeout: float) -> None:
        self.keep_seconds = keep_seconds
        self.session_timeout = session_timeout
        self._samples: dict[uuid.UUID, deque[_Sample]] = {}
        self._last_beat: dict[tuple[uuid.UUID, str], float] = {}

    def add(self, stream_id: uuid.UUID, session_id: str, now: float, beat: PlayerBeat) -> None:
        key = (stream_id, session_id)
        previous = self._last_beat.get(key)
        self._last_beat[key] = now
        seconds = (
            HEARTBEAT_INTERVAL_SECONDS
            if previous is None
            else min(max(now - previous, 0.0), self.session_timeout)
        )
        covered = max(seconds * 1000, float(beat.buffering_ms))
        self._samples.setdefault(stream_id, deque()).append(_Sample(now, covered, beat))

    def window(self, stream_id: uuid.UUID, since: float, until: float = math.inf) -> PlayerWindow:
        """The heartbeats that arrived in ``[since, until)``."""
        samples = self._samples.get(stream_id, ())
        return summarize([s for s in samples if since <= s.at < until])

    def prune(self, now: float) -> None:
        """Forget heartbeats older than ``keep_seconds`` and sessions silent past the timeout."""
        horizon = now - self.keep_seconds
        for stream_id, samples in list(self._samples.items()):
            while samples and samples[0].at < horizon:
                samples.popleft()
            if not samples:
                del self._samples[stream_id]
        stale = now - self.session_timeout
        for key in [k for k, at in self._last_beat.items() if at < stale]:
            del self._last_beat[key]

    def drop(self, stream_id: uuid.UUID) -> None:
        self._samples.pop(stream_id, None)
        for key in [k for k in self._last_beat if k[0] == stream_id]:
            del self._last_beat[key]
