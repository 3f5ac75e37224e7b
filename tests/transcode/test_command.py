"""Golden ffmpeg command lines, one per encoder family. Regenerate with UPDATE_GOLDEN=1."""

import os
from fractions import Fraction
from pathlib import Path

import pytest

from livecast.transcode.command import EncodeOptions, build_argv
from livecast.transcode.ladder import Source, select_rungs

GOLDEN = Path(__file__).parent / "golden"
RUNGS = select_rungs(Source(1920, 1080, Fraction(30)), "1080p", 2)
OUTPUTS = ["pipe:5", "pipe:7"]


@pytest.mark.parametrize(
    "encoder",
    ["libx264", "libx265", "libsvtav1", "h264_nvenc", "hevc_nvenc", "h264_qsv", "h264_vaapi"],
)
def test_command_line_golden(encoder: str) -> None:
    argv = build_argv("ffmpeg", RUNGS, OUTPUTS, EncodeOptions(encoder=encoder))
    text = "\n".join(argv) + "\n"
    path = GOLDEN / f"{encoder}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_one_rung_needs_no_split() -> None:
    argv = build_argv("ffmpeg", RUNGS[1:], ["pipe:3"], EncodeOptions())
    assert argv[argv.index("-filter_complex") + 1] == "[0:v]scale=-2:720[o0]"


def test_every_rung_keeps_source_keyframes_and_timeline() -> None:
    argv = build_argv("ffmpeg", RUNGS, OUTPUTS, EncodeOptions(keyframe_interval_s=1))
    assert "-copyts" in argv
    assert argv.count("-force_key_frames") == 2
    assert argv.count("passthrough") == 2
    assert argv[argv.index("-g") + 1] == "30"


def test_outputs_must_match_rungs() -> None:
    with pytest.raises(ValueError, match="one output per rung"):
        build_argv("ffmpeg", RUNGS, ["pipe:3"], EncodeOptions())
