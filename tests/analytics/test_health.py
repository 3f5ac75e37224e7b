"""Health conditions: each threshold, the hold before firing, and no re-firing until clear."""

from __future__ import annotations

from livecast.analytics.health import Debounce, HealthMonitor, IngestReading, Thresholds
from livecast.analytics.players import PlayerWindow

T = Thresholds(hold_seconds=10, connection_lost_seconds=3, ingest_stall_seconds=5)
QUIET = PlayerWindow()


def steady(units: int, **fields: object) -> IngestReading:
    values: dict[str, object] = {
        "publishing": True,
        "video_bps": 2_500_000.0,
        "frame_rate": 30.0,
        "declared_frame_rate": 30.0,
        "video_units": units,
        "dropped_units": 0,
    }
    values.update(fields)
    return IngestReading(**values)  # type: ignore[arg-type]


def kinds(findings: list) -> list[str]:  # type: ignore[type-arg]
    return [f.kind for f in findings]


def test_debounce_holds_before_firing_and_rearms_only_after_clearing() -> None:
    gate = Debounce(10)
    assert [gate.update(True, t) for t in (0, 5, 9.9)] == [None, None, None]
    assert gate.update(True, 10) == "fire"
    assert gate.update(True, 30) is None  # still true: no second event
    assert gate.update(False, 31) is None
    assert gate.update(True, 35) is None  # flapped back before clearing for 10 s
    assert gate.update(False, 36) is None
    assert gate.update(False, 46) == "clear"
    assert gate.update(True, 50) is None
    assert gate.update(True, 60) == "fire"


def test_a_condition_that_flaps_never_fires() -> None:
    monitor = HealthMonitor(T)
    found = []
    for step in range(60):  # 2 s readings; the p95 is high every other reading
        latency = 9000.0 if step % 2 else 1000.0
        window = PlayerWindow(heartbeats=10, covered_ms=1e5, latency_p95_ms=latency)
        found += monitor.update(step * 2, None, window, 100)
    assert kinds(found) == []


def test_high_latency_fires_once_after_the_hold_and_again_after_clearing() -> None:
    monitor = HealthMonitor(T)
    high = PlayerWindow(heartbeats=5, covered_ms=5e4, latency_p95_ms=7000)
    low = PlayerWindow(heartbeats=5, covered_ms=5e4, latency_p95_ms=1000)
    assert monitor.update(0, None, high, 100) == []
    assert monitor.update(8, None, high, 100) == []
    [finding] = monitor.update(10, None, high, 100)
    assert (finding.kind, finding.severity, finding.value, finding.threshold) == (
        "high_latency",
        "warning",
        7000,
        5000,
    )
    for t in range(12, 40, 2):
        assert monitor.update(t, None, high, 100) == []
    for t in range(40, 52, 2):
        assert monitor.update(t, None, low, 100) == []  # clears at 50
    for t in range(52, 62, 2):
        assert monitor.update(t, None, high, 100) == []
    assert kinds(monitor.update(62, None, high, 100)) == ["high_latency"]


def test_buffer_underflow_and_player_errors() -> None:
    monitor = HealthMonitor(T)
    stalling = PlayerWindow(heartbeats=10, covered_ms=100_000, buffering_ms=6_000, errors=6)
    assert monitor.update(0, None, stalling, 100) == []
    found = monitor.update(10, None, stalling, 100)
    assert kinds(found) == ["buffer_underflow", "error"]
    underflow, errors = found
    assert (underflow.value, underflow.threshold) == (0.06, 0.05)
    assert (errors.severity, errors.value) == ("error", 12)  # 6 in a 30 s window: 12 a minute
    fine = PlayerWindow(heartbeats=10, covered_ms=100_000, buffering_ms=4_000, errors=5)
    assert monitor.update(12, None, fine, 100) == []  # at the thresholds: not over them


def test_connection_lost_then_restored() -> None:
    monitor = HealthMonitor(T)
    assert monitor.update(0, steady(0), QUIET, 100) == []
    gone = IngestReading(publishing=False)
    assert monitor.update(2, gone, QUIET, 0) == []
    [lost] = monitor.update(5, gone, QUIET, 0)
    assert (lost.kind, lost.severity) == ("connection_lost", "error")
    assert monitor.update(7, gone, QUIET, 0) == []
    [back] = monitor.update(9, steady(10), QUIET, 100)
    assert (back.kind, back.severity) == ("connection_restored", "info")
    # A blip shorter than 3 s is not a lost connection.
    assert monitor.update(11, gone, QUIET, 0) == []
    assert monitor.update(13, steady(20), QUIET, 100) == []


def test_a_publisher_that_sends_no_video_is_a_critical_error() -> None:
    monitor = HealthMonitor(T)
    assert monitor.update(0, steady(100), QUIET, 100) == []
    assert monitor.update(4, steady(100), QUIET, 100) == []
    [stalled] = monitor.update(6, steady(100), QUIET, 100)
    assert (stalled.kind, stalled.severity) == ("error", "critical")
    assert monitor.update(8, steady(100), QUIET, 100) == []
    assert monitor.update(10, steady(160), QUIET, 100) == []  # moving again: re-armed
    assert kinds(monitor.update(16, steady(160), QUIET, 100)) == ["error"]


def test_frame_drop_from_dropped_units_or_a_low_frame_rate() -> None:
    monitor = HealthMonitor(T)
    units, dropped = 0, 0
    found = []
    for t in range(0, 14, 2):  # 60 frames per reading, 3 of them dropped: 4.8 %
        units, dropped = units + 57, dropped + 3
        found += monitor.update(t, steady(units, dropped_units=dropped), QUIET, 100)
    [drop] = found
    assert (drop.kind, drop.value, drop.threshold) == ("frame_drop", 0.05, 0.02)

    slow = HealthMonitor(T)
    found = []
    for t in range(0, 14, 2):
        units += 40
        found += slow.update(t, steady(units, frame_rate=20.0), QUIET, 100)
    [drop] = found
    assert (drop.kind, drop.value, drop.threshold) == ("frame_drop", 20.0, 30.0)


def test_bitrate_change_fires_once_per_sustained_shift() -> None:
    monitor = HealthMonitor(T)
    found = []
    units = 0
    for t, bps in [(0, 2.5e6), (2, 2.5e6), (4, 1.0e6), (8, 1.0e6), (14, 1.0e6), (20, 1.0e6)]:
        units += 60
        found += monitor.update(t, steady(units, video_bps=bps), QUIET, 100)
    [change] = found
    assert (change.kind, change.severity, change.value, change.threshold) == (
        "bitrate_change",
        "warning",
        1_000_000,
        2_500_000,
    )
    # The new rate is the baseline: going up again is one more event, an info one.
    for t in (22, 28, 32):
        units += 60
        found += monitor.update(t, steady(units, video_bps=2.0e6), QUIET, 100)
    assert [(f.kind, f.severity) for f in found[1:]] == [("bitrate_change", "info")]


def test_quality_changed_when_the_band_moves_and_holds() -> None:
    monitor = HealthMonitor(T)
    assert monitor.update(0, None, QUIET, 60) == []
    assert monitor.update(5, None, QUIET, 40) == []  # still below 80, now poor
    [changed] = monitor.update(10, None, QUIET, 45)
    assert (changed.kind, changed.severity, changed.value) == ("quality_changed", "error", 45)
    assert monitor.update(20, None, QUIET, 45) == []
    assert monitor.update(22, None, QUIET, 95) == []
    [better] = monitor.update(32, None, QUIET, 90)
    assert (better.kind, better.severity) == ("quality_changed", "info")
