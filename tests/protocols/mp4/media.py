"""Real media for the packaging tests: ffmpeg encodes FLV, a tiny splitter reads its tags, and
:class:`FlvDepacketizer` turns them into the Units and Tracks that ingest would produce."""

from __future__ import annotations

import struct
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import imageio_ffmpeg

from livecast.ingest.flv_units import FlvDepacketizer
from livecast.media.timeline import TimestampNormalizer
from livecast.media.unit import Track, TrackKind, Unit

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
TAG_AUDIO, TAG_VIDEO = 8, 9
_FLV_HEADER = 9
_VIDEO_ENCODERS = {
    "h264": ("-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "25"),
    "hevc": ("-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error:bframes=2",
             "-g", "25"),
    "av1": ("-c:v", "libsvtav1", "-preset", "12", "-g", "25", "-svtav1-params", "lp=1"),
}  # fmt: skip


@dataclass
class Source:
    """What a publisher sent: the tracks and each track's units in arrival order."""

    tracks: dict[TrackKind, Track] = field(default_factory=dict)
    units: dict[TrackKind, list[Unit]] = field(default_factory=lambda: {"video": [], "audio": []})


def split_flv(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """``(tag_type, timestamp_ms, body)`` for each tag of an FLV file."""
    if data[:3] != b"FLV":
        raise ValueError("not an FLV file")
    pos = struct.unpack_from(">I", data, 5)[0] + 4  # header, then PreviousTagSize0
    while pos + 11 <= len(data):
        kind, size_hi, size_lo, ts_lo, ts_ext = struct.unpack_from(">BBHIB", data, pos)
        size = size_hi << 16 | size_lo
        timestamp = (ts_lo >> 8) | ts_ext << 24  # 24 low bits, then the extension byte
        body = data[pos + 11 : pos + 11 + size]
        yield kind & 0x1F, timestamp, body
        pos += 11 + size + 4


def encode_flv(path: Path, seconds: float, codec: str = "h264", audio: bool = True) -> None:
    """Encode a test pattern (and a tone) with ffmpeg into an FLV file."""
    args = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error"]
    args += ["-f", "lavfi", "-i", f"testsrc=size=320x240:rate=25:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
        args += ["-c:a", "aac", "-b:a", "64k"]
    args += [*_VIDEO_ENCODERS[codec], "-pix_fmt", "yuv420p", "-f", "flv", str(path)]
    subprocess.run(args, check=True, capture_output=True)


def depacketize(data: bytes) -> Source:
    """Feed an FLV file's tags through ingest's depacketizer."""
    depacketizer = FlvDepacketizer(TimestampNormalizer())
    source = Source()
    for kind, timestamp, body in split_flv(data):
        if kind == TAG_VIDEO:
            result = depacketizer.video(timestamp, body)
        elif kind == TAG_AUDIO:
            result = depacketizer.audio(timestamp, body)
        else:
            continue
        if isinstance(result, Track):
            source.tracks[result.kind] = result
        elif isinstance(result, Unit):
            source.units[result.kind].append(result)
    return source


@lru_cache(maxsize=8)
def source(seconds: float = 2, codec: str = "h264", audio: bool = True) -> Source:
    """Units of a freshly encoded clip; cached, so each clip is encoded once per test run."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "clip.flv"
        encode_flv(path, seconds, codec, audio)
        return depacketize(path.read_bytes())
