"""Media units and track descriptions: what flows through a :class:`~livecast.media.stream.Stream`.

Timestamps are integers in a ``timebase`` (a :class:`~fractions.Fraction` of a second), as in
PyAV; RTMP gives milliseconds, ``Fraction(1, 1000)``. Never float seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from livecast.protocols.aac import AudioSpecificConfig
from livecast.protocols.flv import AudioCodec, VideoCodec
from livecast.protocols.h264 import AVCDecoderConfigurationRecord, SequenceParameterSet
from livecast.protocols.hevc import HEVCDecoderConfigurationRecord

TrackKind = Literal["video", "audio"]
Codec = VideoCodec | AudioCodec

MILLISECONDS = Fraction(1, 1000)


@dataclass(frozen=True, slots=True)
class Unit:
    """One access unit: a coded picture or an audio frame.

    ``payload`` is the codec's bitstream as ingest received it; for H.264 and HEVC that is AVCC,
    length-prefixed NAL units, unchanged from FLV. ``media_time_ms`` is milliseconds since the
    stream started, the clock that chat and commerce events are placed on. ``discontinuity`` marks
    the first unit of each track after a publisher reconnected.
    """

    kind: TrackKind
    codec: Codec
    pts: int
    dts: int
    keyframe: bool
    payload: bytes
    media_time_ms: int
    timebase: Fraction = MILLISECONDS
    discontinuity: bool = False


@dataclass(frozen=True, slots=True)
class Track:
    """A track's codec configuration.

    ``config`` is the decoder configuration record exactly as the publisher sent it (avcC, hvcC,
    av1C, or the AAC AudioSpecificConfig); packagers copy it into their init segments.
    """

    kind: TrackKind
    codec: Codec
    codec_string: str  # RFC 6381, e.g. "avc1.64001f", "mp4a.40.2"
    config: bytes
    timebase: Fraction = MILLISECONDS
    width: int | None = None
    height: int | None = None
    frame_rate: Fraction | None = None
    sample_rate: int | None = None
    channels: int | None = None
    samples_per_frame: int | None = None

    @classmethod
    def h264(cls, config: bytes) -> Track:
        """Describe an H.264 track from its AVCDecoderConfigurationRecord."""
        record = AVCDecoderConfigurationRecord.parse(config)
        sps = SequenceParameterSet.parse(record.sps[0])
        return cls(
            "video",
            "h264",
            record.codec_string,
            bytes(config),
            width=sps.width,
            height=sps.height,
            frame_rate=sps.frame_rate,
        )

    @classmethod
    def hevc(cls, config: bytes) -> Track:
        """Describe an HEVC track from its HEVCDecoderConfigurationRecord (no picture size yet)."""
        record = HEVCDecoderConfigurationRecord.parse(config)
        return cls("video", "hevc", record.codec_string(), bytes(config))

    @classmethod
    def av1(cls, config: bytes) -> Track:
        """Describe an AV1 track; the av1C record is carried as-is."""
        return cls("video", "av1", "av01", bytes(config))

    @classmethod
    def aac(cls, config: bytes) -> Track:
        """Describe an AAC track from its AudioSpecificConfig."""
        asc = AudioSpecificConfig.parse(config)
        return cls(
            "audio",
            "aac",
            asc.codec_string,
            bytes(config),
            sample_rate=asc.sampling_frequency,
            channels=asc.channels,
            samples_per_frame=asc.samples_per_frame,
        )
