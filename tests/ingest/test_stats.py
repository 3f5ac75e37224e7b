"""Ingest statistics: rates over whole seconds, keyframe interval, drift, uptime."""

from __future__ import annotations

from livecast.ingest.stats import IngestStats
from livecast.media.unit import Unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def unit(kind: str, dts: int, size: int, key: bool = False) -> Unit:
    codec = "h264" if kind == "video" else "aac"
    return Unit(kind, codec, dts, dts, key, b"x" * size, dts)  # type: ignore[arg-type]


def test_rates_keyframes_drift_and_uptime() -> None:
    clock = Clock()
    stats = IngestStats(clock=clock)
    stats.publisher_connected(reconnect=False)
    for second in range(3):
        for frame in range(30):
            dts = second * 1000 + frame * 33
            stats.add(unit("video", dts, 1000, key=frame == 0))
            clock.now += 1 / 60
        for frame in range(50):
            stats.add(unit("audio", second * 1000 + frame * 20, 40))
        clock.now = 1001.0 + second
    clock.now = 1003.5
    video_bps, audio_bps, fps = stats.rates()
    assert fps == 30
    assert video_bps == 30 * 1000 * 8
    assert audio_bps == 50 * 40 * 8
    assert stats.keyframe_interval_ms == 1000
    assert stats.av_drift_ms == (2000 + 29 * 33) - (2000 + 49 * 20)
    assert stats.uptime_seconds() == 3.5
    stats.publisher_gone()
    stats.publisher_connected(reconnect=True)
    assert stats.reconnects == 1


def test_no_data_means_zero_rates() -> None:
    stats = IngestStats(clock=Clock())
    assert stats.rates() == (0.0, 0.0, 0.0)
    assert stats.av_drift_ms is None
