"""The ffmpeg command line of one stream's ladder: FLV in on stdin, one FLV out per rung.

One process decodes the source once and scales it for every rung (``split``), so decoding is
paid once per stream rather than once per rung. Timestamps stay on the source's timeline
(``-copyts``, ``-fps_mode passthrough``, and a millisecond encoder time base: with the default
1/fps one, a source pts off the frame grid, e.g. 2021 ms at 30 fps, comes out as 2033 ms and no
rung segment can start where the source's does), and every rung's keyframes are forced where the
source has them (``-force_key_frames source``, scene-cut detection off), so the packager can cut
every rung's segment N at the same presentation time as the source's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from livecast.transcode.encoders import family
from livecast.transcode.ladder import Rung

VAAPI_DEVICE = "/dev/dri/renderD128"


@dataclass(frozen=True, slots=True)
class EncodeOptions:
    encoder: str = "libx264"
    keyframe_interval_s: float = 2.0  # the longest GOP an encoder may make between forced ones
    log_level: str = "warning"


def build_argv(
    ffmpeg: str, rungs: Sequence[Rung], outputs: Sequence[str], options: EncodeOptions
) -> list[str]:
    """The argv for ``rungs``; ``outputs[i]`` is where rung ``i`` goes (``pipe:3`` …)."""
    if len(rungs) != len(outputs) or not rungs:
        raise ValueError("one output per rung, and at least one rung")
    kind = family(options.encoder)
    argv = [ffmpeg, "-hide_banner", "-nostats", "-loglevel", options.log_level]
    if kind == "vaapi":
        argv += ["-init_hw_device", f"vaapi=va:{VAAPI_DEVICE}", "-filter_hw_device", "va"]
    argv += ["-analyzeduration", "1000000", "-f", "flv", "-i", "pipe:0", "-copyts"]
    argv += ["-filter_complex", _filter_graph(rungs, kind)]
    for index, (rung, output) in enumerate(zip(rungs, outputs, strict=True)):
        argv += ["-map", f"[o{index}]", *_encoder_args(rung, options, kind)]
        argv += ["-force_key_frames", "source", "-fps_mode", "passthrough"]
        argv += ["-enc_time_base:v", "1:1000", "-an"]
        argv += ["-flush_packets", "1", "-flvflags", "no_duration_filesize", "-f", "flv", output]
    return argv


def _filter_graph(rungs: Sequence[Rung], kind: str) -> str:
    upload = {"vaapi": ",format=nv12,hwupload", "qsv": ",format=nv12"}.get(kind, "")
    if len(rungs) == 1:
        return f"[0:v]scale=-2:{rungs[0].height}{upload}[o0]"
    split = "[0:v]split=" + str(len(rungs)) + "".join(f"[s{i}]" for i in range(len(rungs)))
    scales = [f"[s{i}]scale=-2:{rung.height}{upload}[o{i}]" for i, rung in enumerate(rungs)]
    return ";".join([split, *scales])


def _encoder_args(rung: Rung, options: EncodeOptions, kind: str) -> list[str]:
    gop = max(1, round(options.keyframe_interval_s * float(rung.frame_rate)))
    rate = rung.bitrate_kbps
    common = ["-b:v", f"{rate}k", "-maxrate", f"{rate}k", "-bufsize", f"{2 * rate}k"]
    head = ["-c:v", options.encoder]
    if kind == "x264":
        tuning = ["-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "high"]
        keyframes = ["-g", str(gop), "-sc_threshold", "0"]
        return [*head, *tuning, "-pix_fmt", "yuv420p", *common, *keyframes]
    if kind == "x265":
        params = f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:repeat-headers=0"
        tuning = ["-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p"]
        return [*head, *tuning, *common, "-x265-params", params]
    if kind == "svtav1":
        # SVT-AV1 refuses -maxrate outside its capped-CRF mode: a plain VBR target here.
        params = f"keyint={gop}:scd=0:tune=0:fast-decode=1"
        target = ["-b:v", f"{rate}k"]
        return [*head, "-preset", "10", "-pix_fmt", "yuv420p", *target, "-svtav1-params", params]
    if kind == "nvenc":
        tuning = ["-preset", "p4", "-tune", "ll", "-rc", "cbr", "-zerolatency", "1"]
        idr = ["-forced-idr", "1", "-no-scenecut", "1", "-bf", "0"]
        return [*head, *tuning, *common, "-g", str(gop), *idr]
    if kind == "qsv":
        tuning = ["-preset", "veryfast", "-look_ahead", "0", "-low_power", "0"]
        return [*head, *tuning, *common, "-g", str(gop), "-bf", "0", "-forced_idr", "1"]
    # vaapi
    return [*head, "-rc_mode", "CBR", *common, "-g", str(gop), "-bf", "0", "-idr_interval", "0"]
