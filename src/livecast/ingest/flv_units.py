"""FLV tag bodies to media units and back.

:class:`FlvDepacketizer` turns one publisher's RTMP audio/video messages into :class:`Unit` s on
the stream's timeline (via the shared :class:`TimestampNormalizer`), and reports codec
configuration as :class:`Track` s. The ``*_tag`` functions do the reverse for RTMP playback.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from livecast.media.timeline import TimestampNormalizer
from livecast.media.unit import Track, TrackKind, Unit
from livecast.protocols import flv

_TRACK_BUILDERS = {"h264": Track.h264, "hevc": Track.hevc, "av1": Track.av1, "aac": Track.aac}
_FOURCC = {codec: fourcc for fourcc, codec in flv.VIDEO_FOURCCS.items()}


@dataclass(slots=True)
class DepacketizerCounters:
    units: int = 0
    unsupported: int = 0  # well-formed tags of codecs livecast does not carry
    before_config: int = 0  # frames that arrived before their sequence header


class FlvDepacketizer:
    """Stateful per publisher: knows the current tracks, emits units and config changes."""

    def __init__(self, normalizer: TimestampNormalizer) -> None:
        self.normalizer = normalizer
        self.tracks: dict[TrackKind, Track] = {}
        self.counters = DepacketizerCounters()

    def video(self, timestamp_ms: int, body: bytes) -> Unit | Track | None:
        """A video message: a new Track on a sequence header, a Unit for a frame, else None.

        Raises :class:`~livecast.errors.ProtocolError` for a malformed body.
        """
        tag = flv.parse_video_tag(body)
        if isinstance(tag, flv.VideoSequenceStart):
            return self._configure("video", tag.codec, tag.config)
        if isinstance(tag, flv.VideoFrame):
            return self._unit(
                "video", tag.codec, timestamp_ms, tag.composition_time, tag.keyframe, tag.data
            )
        if isinstance(tag, flv.UnsupportedVideo):
            self.counters.unsupported += 1
        return None

    def audio(self, timestamp_ms: int, body: bytes) -> Unit | Track | None:
        """An audio message: like :meth:`video`."""
        tag = flv.parse_audio_tag(body)
        if isinstance(tag, flv.AudioSequenceStart):
            return self._configure("audio", tag.codec, tag.config)
        if isinstance(tag, flv.AudioFrame):
            return self._unit("audio", tag.codec, timestamp_ms, 0, True, tag.data)
        if isinstance(tag, flv.UnsupportedAudio):
            self.counters.unsupported += 1
        return None

    def _configure(self, kind: TrackKind, codec: str, config: bytes) -> Track | None:
        build = _TRACK_BUILDERS.get(codec)
        if build is None:
            self.counters.unsupported += 1
            return None
        track = build(config)
        if self.tracks.get(kind) == track:
            return None  # encoders repeat sequence headers; only a change matters
        self.tracks[kind] = track
        return track

    def _unit(
        self, kind: TrackKind, codec: str, raw_ms: int, cto: int, key: bool, data: bytes
    ) -> Unit | None:
        track = self.tracks.get(kind)
        if track is None or track.codec != codec:
            self.counters.before_config += 1
            return None
        stamp = self.normalizer.normalize(kind, raw_ms)
        self.counters.units += 1
        return Unit(
            kind,
            track.codec,
            stamp.dts + cto,
            stamp.dts,
            key,
            data,
            stamp.media_time_ms,
            discontinuity=stamp.discontinuity,
        )


# -- playback: units back into FLV tag bodies ----------------------------------------------

_AAC_HEADER = 0xAF  # AAC, 44 kHz, 16-bit, stereo: fixed values FLV requires for AAC
_SI24 = struct.Struct(">i")


def _si24(value: int) -> bytes:
    return _SI24.pack(value)[1:]


def sequence_header(track: Track) -> bytes | None:
    """The FLV tag body that announces ``track``'s decoder configuration, if FLV can carry it."""
    if track.codec == "aac":
        return bytes((_AAC_HEADER, 0)) + track.config
    if track.codec == "h264":
        return b"\x17\x00\x00\x00\x00" + track.config
    fourcc = _FOURCC.get(track.codec)  # type: ignore[arg-type]
    if fourcc is None:
        return None
    # Enhanced RTMP: IsExHeader | key frame | PacketType.SequenceStart, then the FourCC.
    return bytes((0x80 | 0x10 | flv.VideoPacketType.SEQUENCE_START,)) + fourcc + track.config


def unit_tag(unit: Unit) -> bytes | None:
    """The FLV tag body carrying ``unit``, or None for a codec FLV cannot carry."""
    if unit.codec == "aac":
        return bytes((_AAC_HEADER, 1)) + unit.payload
    frame_type = 0x10 if unit.keyframe else 0x20
    cto = unit.pts - unit.dts
    if unit.codec == "h264":
        return bytes((frame_type | 7, 1)) + _si24(cto) + unit.payload
    fourcc = _FOURCC.get(unit.codec)  # type: ignore[arg-type]
    if fourcc is None:
        return None
    if unit.codec == "hevc":
        header = bytes((0x80 | frame_type | flv.VideoPacketType.CODED_FRAMES,)) + fourcc
        return header + _si24(cto) + unit.payload
    # AV1 and VP8/9 frames carry no composition time offset.
    return bytes((0x80 | frame_type | flv.VideoPacketType.CODED_FRAMES,)) + fourcc + unit.payload
