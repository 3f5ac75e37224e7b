"""Real clips through the writer, read back by PyAV and ffmpeg: every packet must survive intact."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import pytest

from livecast.media.unit import TrackKind, Unit
from livecast.protocols.mp4 import Fragmenter
from tests.protocols.mp4.media import FFMPEG, Source, source

pytestmark = pytest.mark.e2e


def write_mp4(path: Path, clip: Source, kind: TrackKind, per_fragment: int = 8) -> list[Unit]:
    """init + fragments of ``per_fragment`` units each, like 333 ms parts at 25 fps."""
    units = clip.units[kind]
    fragmenter = Fragmenter(clip.tracks[kind])
    chunks = [units[i : i + per_fragment] for i in range(0, len(units), per_fragment)]
    parts = [fragmenter.init_segment()]
    for i, chunk in enumerate(chunks):
        next_dts = chunks[i + 1][0].dts if i + 1 < len(chunks) else None
        parts.append(fragmenter.fragment(chunk, next_dts))
    path.write_bytes(b"".join(parts))
    return units


def ffmpeg_errors(path: Path) -> str:
    args = [FFMPEG, "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"]
    return subprocess.run(args, capture_output=True, text=True, check=False).stderr


def demux(path: Path) -> tuple[list[av.Packet], Fraction, int]:
    """Packets of the only stream, its time base, and how many frames decode from them."""
    with av.open(str(path)) as container:
        stream = container.streams[0]
        packets = [packet for packet in container.demux(stream) if packet.size]
        decoded = sum(len(stream.codec_context.decode(packet)) for packet in packets)
        decoded += len(stream.codec_context.decode(None))
        return packets, Fraction(stream.time_base), decoded


def assert_same_packets(packets: Sequence[av.Packet], units: Sequence[Unit]) -> None:
    assert len(packets) == len(units)
    assert [bytes(p) for p in packets] == [u.payload for u in units]
    assert [p.is_keyframe for p in packets] == [u.keyframe for u in units]


@pytest.mark.parametrize("codec", ["h264", "hevc", "av1"])
def test_video_only_file(tmp_path: Path, codec: str) -> None:
    clip = source(2, codec)
    path = tmp_path / "video.mp4"
    units = write_mp4(path, clip, "video")
    packets, time_base, decoded = demux(path)
    assert time_base == Fraction(1, 90_000)
    assert_same_packets(packets, units)
    assert [(p.pts, p.dts) for p in packets] == [(u.pts * 90, u.dts * 90) for u in units]
    assert decoded == len(units) == 50
    assert ffmpeg_errors(path) == ""


def test_audio_only_file(tmp_path: Path, clip: Source) -> None:
    path = tmp_path / "audio.mp4"
    units = write_mp4(path, clip, "audio")
    packets, time_base, decoded = demux(path)
    assert time_base == Fraction(1, 44_100)
    assert_same_packets(packets, units)
    # sample-exact and gapless; each within a millisecond of the RTMP timestamp
    first = packets[0].dts
    assert [p.dts for p in packets] == [first + 1024 * i for i in range(len(units))]
    assert all(p.pts == p.dts for p in packets)
    for packet, unit in zip(packets, units, strict=True):
        assert abs(packet.dts * time_base * 1000 - unit.dts) <= 1
    assert decoded == len(units)
    assert ffmpeg_errors(path) == ""
