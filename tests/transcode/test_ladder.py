from fractions import Fraction

import pytest

from livecast.transcode.admission import Budget
from livecast.transcode.encoders import (
    EncoderUnavailable,
    choose_encoder,
    parse_encoders,
)
from livecast.transcode.ladder import Source, ladder_cost, select_rungs

FULL_HD = Source(1920, 1080, Fraction(30))


def names(source: Source, quality: str, max_rungs: int = 4) -> list[str]:
    return [rung.name for rung in select_rungs(source, quality, max_rungs)]


def test_1080p_source_gets_the_four_top_rungs() -> None:
    rungs = select_rungs(FULL_HD, "1080p", 4)
    assert [(r.name, r.width, r.height, r.bitrate_kbps) for r in rungs] == [
        ("1080p", 1920, 1080, 5000),
        ("720p", 1280, 720, 2800),
        ("480p", 854, 480, 1400),
        ("360p", 640, 360, 800),
    ]


def test_a_rung_is_never_above_the_source_or_the_cap() -> None:
    assert names(Source(1280, 720, Fraction(30)), "1080p") == ["720p", "480p", "360p", "240p"]
    assert names(FULL_HD, "480p") == ["480p", "360p", "240p", "144p"]
    assert names(Source(256, 144, Fraction(30)), "2160p") == ["144p"]
    assert names(Source(200, 100, Fraction(30)), "2160p") == []


def test_rungs_keep_the_source_frame_rate() -> None:
    rungs = select_rungs(Source(1280, 720, Fraction(25)), "720p", 2)
    assert {rung.frame_rate for rung in rungs} == {Fraction(25)}


def test_unknown_quality_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown quality"):
        select_rungs(FULL_HD, "999p", 4)


def test_cost_is_megapixels_per_second() -> None:
    assert round(ladder_cost(select_rungs(FULL_HD, "1080p", 4))) == 109


def test_budget_admits_until_full_and_frees() -> None:
    budget = Budget(120)
    assert budget.acquire("a", 109)
    assert not budget.acquire("b", 109)
    assert budget.load == 109
    budget.release("a")
    assert budget.acquire("b", 109)


LISTING = """Encoders:
 V..... = Video
 ------
 V....D libx264              libx264 H.264 / AVC
 V....D h264_nvenc           NVIDIA NVENC H.264 encoder (codec h264)
 V....D libx265              libx265 H.265 / HEVC
 A....D aac                  AAC (Advanced Audio Coding)
"""


def test_encoder_listing_is_parsed() -> None:
    assert parse_encoders(LISTING) == {"libx264", "h264_nvenc", "libx265"}


def test_encoder_choice() -> None:
    present = parse_encoders(LISTING)
    assert choose_encoder("h264", None, False, present) == "libx264"
    assert choose_encoder("h264", None, True, present) == "h264_nvenc"
    assert choose_encoder("hevc", None, True, present) == "libx265"  # no HEVC GPU encoder
    assert choose_encoder("hevc", "libx265", False, present) == "libx265"


def test_an_absent_encoder_is_a_clear_error() -> None:
    present = parse_encoders(LISTING)
    with pytest.raises(EncoderUnavailable, match="'hevc_vaapi' is not in this ffmpeg build"):
        choose_encoder("hevc", "hevc_vaapi", False, present)
    with pytest.raises(EncoderUnavailable, match="libsvtav1"):
        choose_encoder("av1", None, False, present)
    with pytest.raises(EncoderUnavailable, match="does not produce h264"):
        choose_encoder("h264", "libx265", False, present)


def test_a_gpu_encoder_that_cannot_run_here_is_passed_over_or_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    present = parse_encoders(LISTING)

    def no_gpu(name: str) -> str | None:
        return "Cannot load libcuda.so.1" if name.endswith("_nvenc") else None

    assert choose_encoder("h264", None, True, present, no_gpu) == "libx264"
    assert "h264_nvenc: Cannot load libcuda.so.1" in caplog.text
    with pytest.raises(EncoderUnavailable, match="cannot run on this machine: Cannot load"):
        choose_encoder("h264", "h264_nvenc", False, present, no_gpu)
    assert choose_encoder("h264", "libx264", False, present, no_gpu) == "libx264"
