"""Live ingest statistics of one stream: what `GET /streams/{id}/health` and /metrics report.

Cheap per unit (a few additions); rates are computed when read, over a sliding window of
one-second buckets.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livecast.media.unit import Track, TrackKind, Unit
from livecast.protocols.h264 import AVCDecoderConfigurationRecord

WINDOW_SECONDS = 5


@dataclass(slots=True)
class _Second:
    second: int
    video_bytes: int = 0
    audio_bytes: int = 0
    video_frames: int = 0


@dataclass(slots=True)
class IngestStats:
    clock: Callable[[], float] = time.monotonic
    connected_at: float | None = None
    reconnects: int = 0
    video_units: int = 0
    audio_units: int = 0
    keyframes: int = 0
    last_keyframe_dts: int | None = None
    keyframe_interval_ms: int | None = None
    last_video_dts: int | None = None
    last_audio_dts: int | None = None
    tracks: dict[TrackKind, Track] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    _seconds: deque[_Second] = field(default_factory=lambda: deque(maxlen=WINDOW_SECONDS + 1))

    def publisher_connected(self, reconnect: bool) -> None:
        self.connected_at = self.clock()
        self.reconnects += reconnect

    def publisher_gone(self) -> None:
        self.connected_at = None

    def add(self, unit: Unit) -> None:
        bucket = self._bucket()
        size = len(unit.payload)
        if unit.kind == "video":
            self.video_units += 1
            bucket.video_bytes += size
            bucket.video_frames += 1
            self.last_video_dts = unit.dts
            if unit.keyframe:
                self.keyframes += 1
                if self.last_keyframe_dts is not None:
                    self.keyframe_interval_ms = unit.dts - self.last_keyframe_dts
                self.last_keyframe_dts = unit.dts
        else:
            self.audio_units += 1
            bucket.audio_bytes += size
            self.last_audio_dts = unit.dts

    def _bucket(self) -> _Second:
        second = int(self.clock())
        if not self._seconds or self._seconds[-1].second != second:
            self._seconds.append(_Second(second))
        return self._seconds[-1]

    def rates(self) -> tuple[float, float, float]:
        """Video bits/s, audio bits/s and frames/s over the last complete seconds."""
        now = int(self.clock())
        complete = [s for s in self._seconds if now - WINDOW_SECONDS <= s.second < now]
        if not complete:
            return 0.0, 0.0, 0.0
        span = now - max(complete[0].second, now - WINDOW_SECONDS)
        video = sum(s.video_bytes for s in complete) * 8 / span
        audio = sum(s.audio_bytes for s in complete) * 8 / span
        fps = sum(s.video_frames for s in complete) / span
        return video, audio, fps

    @property
    def av_drift_ms(self) -> int | None:
        """How far the newest video timestamp is ahead of the newest audio one."""
        if self.last_video_dts is None or self.last_audio_dts is None:
            return None
        return self.last_video_dts - self.last_audio_dts

    def uptime_seconds(self) -> float:
        return 0.0 if self.connected_at is None else self.clock() - self.connected_at


def describe_track(track: Track) -> dict[str, Any]:
    """Codec, profile, level and picture size or sampling of a track, for people."""
    info: dict[str, Any] = {"codec": track.codec, "codec_string": track.codec_string}
    if track.kind == "video":
        info.update(width=track.width, height=track.height)
        if track.frame_rate is not None:
            info["declared_frame_rate"] = round(float(track.frame_rate), 3)
        if track.codec == "h264":
            record = AVCDecoderConfigurationRecord.parse(track.config)
            info["profile"] = _H264_PROFILES.get(
                record.profile_indication, str(record.profile_indication)
            )
            info["level"] = f"{record.level_indication // 10}.{record.level_indication % 10}"
    else:
        info.update(sample_rate=track.sample_rate, channels=track.channels)
    return info


_H264_PROFILES = {
    66: "Baseline",
    77: "Main",
    88: "Extended",
    100: "High",
    110: "High 10",
    122: "High 4:2:2",
    244: "High 4:4:4 Predictive",
}
