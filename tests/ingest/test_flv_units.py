"""FLV tag bodies to units and back, on real encoder output."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from livecast.ingest.flv_units import FlvDepacketizer, sequence_header, unit_tag
from livecast.media.timeline import TimestampNormalizer
from livecast.media.unit import Track, Unit
from tests.flv_file import read_tags


@pytest.fixture(scope="module")
def flv_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("flv") / "av.flv"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine",
            "-t",
            "1",
            "-c:v",
            "libx264",
            "-bf",
            "2",
            "-g",
            "10",
            "-c:a",
            "aac",
            "-f",
            "flv",
            str(path),
        ],
        check=True,
    )
    return path


def test_round_trip_is_byte_exact(flv_file: Path) -> None:
    depacketizer = FlvDepacketizer(TimestampNormalizer())
    tracks: list[Track] = []
    units: list[Unit] = []
    originals: dict[int, list[bytes]] = {8: [], 9: []}
    for kind, timestamp, body in read_tags(flv_file):
        code = 9 if kind == "video" else 8
        originals[code].append(body)
        convert = depacketizer.video if kind == "video" else depacketizer.audio
        result = convert(timestamp, body)
        if isinstance(result, Unit):
            units.append(result)
        elif isinstance(result, Track):
            tracks.append(result)

    assert {track.kind for track in tracks} == {"video", "audio"}
    rebuilt = {
        9: [sequence_header(t) for t in tracks if t.kind == "video"]
        + [unit_tag(u) for u in units if u.kind == "video"],
        8: [sequence_header(t) for t in tracks if t.kind == "audio"]
        + [unit_tag(u) for u in units if u.kind == "audio"],
    }
    # ffmpeg ends the video with an end-of-sequence tag, which carries no picture.
    assert rebuilt[9] == originals[9][: len(rebuilt[9])]
    assert len(originals[9]) - len(rebuilt[9]) <= 1
    assert rebuilt[8] == originals[8]
    assert any(u.pts != u.dts for u in units)  # B-frames: composition offsets survived
    video = [u for u in units if u.kind == "video"]
    assert video[0].keyframe
    assert video[0].dts == 0
    assert [u.dts for u in video] == sorted(u.dts for u in video)


def test_frames_before_their_config_are_counted_not_emitted() -> None:
    depacketizer = FlvDepacketizer(TimestampNormalizer())
    assert depacketizer.audio(0, b"\xaf\x01\x21\x10") is None
    assert depacketizer.counters.before_config == 1
    assert depacketizer.audio(0, b"\x2f\x01") is None  # MP3: well formed, not carried
    assert depacketizer.counters.unsupported == 1


def test_repeated_sequence_header_is_not_a_change(flv_file: Path) -> None:
    depacketizer = FlvDepacketizer(TimestampNormalizer())
    header = next(body for kind, _, body in read_tags(flv_file) if kind == "video")
    assert isinstance(depacketizer.video(0, header), Track)
    assert depacketizer.video(40, header) is None
