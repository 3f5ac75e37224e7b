"""The quality score of a stream over an interval: 100 minus penalties, never below 0.

| what | penalty | worst |
|---|---|---|
| rebuffering: share of watched time spent buffering, ``r`` | ``400 · r`` | 40 (at 10 %) |
| player latency p95 above the high-latency threshold ``T`` | ``20 · (p95 - T) / T`` | 20 (at 2 T) |
| dropped frames: share of the frames of the interval, ``d`` | ``400 · d`` | 20 (at 5 %) |
| A/V drift beyond 100 ms | ``10 · (abs(drift) - 100) / 400`` | 10 (at 500 ms) |
| errors (players' and the stream's) | ``2`` each | 10 |

A stream whose publisher is gone scores 0. Missing inputs (no heartbeats, no ingest on this
node) cost nothing: the score rates what is known. docs/analytics.md has the same table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QualityInputs:
    publishing: bool | None = None  # None: the ingest is not on this node
    buffer_health: float | None = None
    latency_p95_ms: float | None = None
    latency_target_ms: float = 5000
    dropped_frames: int = 0
    frame_rate: float | None = None
    interval_seconds: float = 10
    av_sync_ms: int | None = None
    errors: int = 0


def _frame_drop_share(inputs: QualityInputs) -> float:
    if inputs.dropped_frames <= 0:
        return 0.0
    expected = (inputs.frame_rate or 0.0) * inputs.interval_seconds
    return 1.0 if expected <= 0 else min(1.0, inputs.dropped_frames / expected)


def penalties(inputs: QualityInputs) -> dict[str, float]:
    """Each component's penalty, in score points."""
    found = {"buffering": 0.0, "latency": 0.0, "frames": 0.0, "av_sync": 0.0, "errors": 0.0}
    if inputs.buffer_health is not None:
        found["buffering"] = min(40.0, 400 * (1 - inputs.buffer_health))
    if inputs.latency_p95_ms is not None:
        target = inputs.latency_target_ms
        found["latency"] = min(20.0, 20 * max(0.0, inputs.latency_p95_ms - target) / target)
    found["frames"] = min(20.0, 400 * _frame_drop_share(inputs))
    if inputs.av_sync_ms is not None:
        found["av_sync"] = min(10.0, 10 * max(0, abs(inputs.av_sync_ms) - 100) / 400)
    found["errors"] = min(10.0, 2.0 * inputs.errors)
    return found


def quality_score(inputs: QualityInputs) -> float:
    if inputs.publishing is False:
        return 0.0
    return round(max(0.0, 100 - sum(penalties(inputs).values())), 1)
