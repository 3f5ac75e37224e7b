"""Which encoder serves a codec, and whether the ffmpeg at hand has it.

The choice is explicit: an encoder asked for by name must be present, or startup fails with an
error naming it; there is no silent fallback to a different encoder.
"""

from __future__ import annotations

import functools
import logging
import re
import subprocess
from collections.abc import Callable
from typing import Literal

from livecast.errors import LivecastError
from livecast.transcode.ladder import VideoCodecName

log = logging.getLogger(__name__)

Family = Literal["x264", "x265", "svtav1", "nvenc", "qsv", "vaapi"]
GPU_FAMILIES: frozenset[Family] = frozenset({"nvenc", "qsv", "vaapi"})

CPU_ENCODERS: dict[VideoCodecName, str] = {"h264": "libx264", "hevc": "libx265", "av1": "libsvtav1"}
GPU_ENCODERS: dict[VideoCodecName, tuple[str, ...]] = {
    "h264": ("h264_nvenc", "h264_qsv", "h264_vaapi"),
    "hevc": ("hevc_nvenc", "hevc_qsv", "hevc_vaapi"),
    "av1": ("av1_nvenc", "av1_qsv", "av1_vaapi"),
}
ENCODER_CODECS: dict[str, VideoCodecName] = {
    name: codec for codec, names in GPU_ENCODERS.items() for name in (*names, CPU_ENCODERS[codec])
}
_LINE = re.compile(r"^\s*V[A-Z.]{5}\s+(\S+)", re.MULTILINE)


class EncoderUnavailable(LivecastError):
    """The encoder asked for is not in this ffmpeg build, or cannot run on this machine."""

    status = 503
    title = "Encoder unavailable"


def family(encoder: str) -> Family:
    for suffix in ("nvenc", "qsv", "vaapi"):
        if encoder.endswith("_" + suffix):
            return suffix
    families: dict[str, Family] = {"libx264": "x264", "libx265": "x265", "libsvtav1": "svtav1"}
    try:
        return families[encoder]
    except KeyError:
        detail = f"livecast does not know how to drive encoder {encoder!r}"
        raise EncoderUnavailable(detail) from None


def parse_encoders(listing: str) -> frozenset[str]:
    """Video encoder names from ``ffmpeg -hide_banner -encoders`` output."""
    return frozenset(_LINE.findall(listing.split("------", 1)[-1]))


@functools.cache
def detect_encoders(ffmpeg: str) -> frozenset[str]:
    """The video encoders ``ffmpeg`` was built with (run once per binary)."""
    try:
        result = subprocess.run(  # noqa: S603 - the configured ffmpeg binary
            [ffmpeg, "-hide_banner", "-encoders"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise EncoderUnavailable(f"could not list the encoders of {ffmpeg}: {exc}") from exc
    return parse_encoders(result.stdout)


@functools.cache
def probe_encoder(ffmpeg: str, encoder: str) -> str | None:
    """None when ``encoder`` encodes a frame on this machine, else ffmpeg's reason.

    A GPU encoder is compiled into most ffmpeg builds whether or not the machine has the GPU
    and driver; only trying it tells. Each encoder is tried once per binary.
    """
    argv = [ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi"]
    argv += ["-i", "color=black:size=256x144:rate=30", "-frames:v", "1", "-c:v", encoder]
    argv += ["-f", "null", "-"]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)  # noqa: S603
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if result.returncode == 0:
        return None
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    return lines[0][:300] if lines else f"ffmpeg exited with {result.returncode}"


Probe = Callable[[str], str | None]


def _runs_anywhere(encoder: str) -> str | None:
    return None


def choose_encoder(
    codec: VideoCodecName,
    requested: str | None,
    gpu: bool,
    available: frozenset[str],
    probe: Probe = _runs_anywhere,
) -> str:
    """The encoder to use; :class:`EncoderUnavailable` when the one asked for is absent.

    ``requested`` names an encoder outright: it must be in ``available`` and, for a GPU
    encoder, ``probe`` must find that it runs. Otherwise ``gpu`` picks the first GPU encoder of
    the codec that runs here (NVENC, then QSV, then VAAPI); without one, and by default, the
    CPU encoder of the codec is used, and the log says why the GPU ones were passed over.
    """
    if requested:
        if ENCODER_CODECS.get(requested) not in (codec, None):
            raise EncoderUnavailable(f"encoder {requested!r} does not produce {codec}")
        kind = family(requested)
        if requested not in available:
            raise EncoderUnavailable(
                f"encoder {requested!r} is not in this ffmpeg build; set LIVECAST_FFMPEG to "
                "one that has it, or choose another LIVECAST_TRANSCODE_ENCODER"
            )
        reason = probe(requested) if kind in GPU_FAMILIES else None
        if reason is not None:
            raise EncoderUnavailable(f"encoder {requested!r} cannot run on this machine: {reason}")
        return requested
    if gpu:
        passed: list[str] = []
        for name in GPU_ENCODERS[codec]:
            reason = probe(name) if name in available else "not in this ffmpeg build"
            if reason is None:
                return name
            passed.append(f"{name}: {reason}")
        log.warning(
            "no GPU encoder for %s runs here; using the CPU one (%s)", codec, "; ".join(passed)
        )
    name = CPU_ENCODERS[codec]
    if name not in available:
        raise EncoderUnavailable(f"encoder {name!r} for {codec} is not in this ffmpeg build")
    return name
