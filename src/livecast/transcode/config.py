"""The transcoding configuration of a node, from its Settings (encoders detected once, here)."""

from __future__ import annotations

import functools
from typing import cast

import imageio_ffmpeg

from livecast.settings import Settings
from livecast.transcode.admission import default_budget
from livecast.transcode.command import EncodeOptions
from livecast.transcode.encoders import choose_encoder, detect_encoders, probe_encoder
from livecast.transcode.ladder import VideoCodecName
from livecast.transcode.manager import TranscodeConfig
from livecast.transcode.supervisor import SupervisorOptions


def ffmpeg_binary(settings: Settings) -> str:
    """``LIVECAST_FFMPEG``, or the binary of the imageio-ffmpeg wheel."""
    return settings.ffmpeg or imageio_ffmpeg.get_ffmpeg_exe()


class NodeEncoders:
    """The encoder of each codec on this node, chosen once per codec (see choose_encoder).

    The node's codec may name its encoder outright (``LIVECAST_TRANSCODE_ENCODER``); a stream
    that asks for another codec gets that codec's automatic choice.
    """

    def __init__(self, settings: Settings) -> None:
        self.ffmpeg = ffmpeg_binary(settings)
        self.available = detect_encoders(self.ffmpeg)
        self.gpu = settings.gpu_acceleration
        self.default_codec: VideoCodecName = settings.transcode_codec
        self.requested = settings.transcode_encoder or None
        self._chosen: dict[VideoCodecName, str] = {}

    def for_codec(self, codec: str | None = None) -> str:
        """Raises :class:`~livecast.transcode.encoders.EncoderUnavailable`; may run ffmpeg."""
        wanted = cast(VideoCodecName, codec or self.default_codec)
        if wanted not in self._chosen:
            requested = self.requested if wanted == self.default_codec else None
            probe = functools.partial(probe_encoder, self.ffmpeg)
            self._chosen[wanted] = choose_encoder(
                wanted, requested, self.gpu, self.available, probe
            )
        return self._chosen[wanted]


def transcode_config(settings: Settings) -> TranscodeConfig:
    """Raises :class:`~livecast.transcode.encoders.EncoderUnavailable` for an absent encoder."""
    encoders = NodeEncoders(settings)
    interval_ms = settings.transcode_keyframe_interval_ms or settings.hls_segment_target_ms
    return TranscodeConfig(
        supervisor=SupervisorOptions(
            ffmpeg=encoders.ffmpeg,
            encode=EncodeOptions(
                encoder=encoders.for_codec(), keyframe_interval_s=interval_ms / 1000
            ),
            stall_seconds=settings.transcode_stall_seconds,
        ),
        budget=settings.transcode_budget or default_budget(),
        max_rungs=settings.transcode_max_rungs,
        encoder_for=encoders.for_codec,
    )
