"""The transcoding configuration of a node, from its Settings (encoders detected once, here)."""

from __future__ import annotations

import imageio_ffmpeg

from livecast.settings import Settings
from livecast.transcode.admission import default_budget
from livecast.transcode.command import EncodeOptions
from livecast.transcode.encoders import choose_encoder, detect_encoders
from livecast.transcode.manager import TranscodeConfig
from livecast.transcode.supervisor import SupervisorOptions


def ffmpeg_binary(settings: Settings) -> str:
    """``LIVECAST_FFMPEG``, or the binary of the imageio-ffmpeg wheel."""
    return settings.ffmpeg or imageio_ffmpeg.get_ffmpeg_exe()


def transcode_config(settings: Settings) -> TranscodeConfig:
    """Raises :class:`~livecast.transcode.encoders.EncoderUnavailable` for an absent encoder."""
    ffmpeg = ffmpeg_binary(settings)
    encoder = choose_encoder(
        settings.transcode_codec,
        settings.transcode_encoder or None,
        settings.gpu_acceleration,
        detect_encoders(ffmpeg),
    )
    interval_ms = settings.transcode_keyframe_interval_ms or settings.hls_segment_target_ms
    return TranscodeConfig(
        supervisor=SupervisorOptions(
            ffmpeg=ffmpeg,
            encode=EncodeOptions(encoder=encoder, keyframe_interval_s=interval_ms / 1000),
            stall_seconds=settings.transcode_stall_seconds,
        ),
        budget=settings.transcode_budget or default_budget(),
        max_rungs=settings.transcode_max_rungs,
    )
