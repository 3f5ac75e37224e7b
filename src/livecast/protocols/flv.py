"""FLV audio and video tag bodies, as RTMP carries them in message types 8 and 9.

A tag body is what follows the 11-byte FLV tag header; in RTMP it is the whole message payload.
:func:`parse_video_tag` and :func:`parse_audio_tag` turn one body into one typed result:

* legacy video (Adobe FLV 10.1, E.4.3): AVC, codec id 7, with ``AVCPacketType`` and a signed
  24-bit composition time offset. Codec id 12, the widespread pre-standard HEVC carriage with the
  same layout, is read the same way.
* Enhanced RTMP video (veovera enhanced-rtmp, "Enhanced Video"): ``IsExHeader`` set, a
  ``VideoPacketType`` and a FourCC (``avc1``, ``hvc1``, ``av01``, ``vp09``, ``vp08``).
  ``CodedFramesX`` means a composition time offset of zero; AV1 and VP8/9 never carry one.
* legacy AAC audio (sound format 10) and Enhanced RTMP audio (``ExHeader``, FourCC ``mp4a``,
  ``Opus``, …).

Valid tags that livecast does not use (other legacy codecs, multitrack, MPEG-2 TS sequence start)
come back as :class:`UnsupportedVideo` / :class:`UnsupportedAudio` so the caller can count and
skip them. A body that breaks the format raises :class:`~livecast.errors.ProtocolError`, and
nothing else does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

from livecast.errors import ProtocolError

VideoCodec = Literal["h264", "hevc", "av1", "vp9", "vp8"]
AudioCodec = Literal["aac", "opus", "mp3", "flac", "ac3", "eac3"]

VIDEO_FOURCCS: dict[bytes, VideoCodec] = {
    b"avc1": "h264",
    b"hvc1": "hevc",
    b"av01": "av1",
    b"vp09": "vp9",
    b"vp08": "vp8",
}
AUDIO_FOURCCS: dict[bytes, AudioCodec] = {
    b"mp4a": "aac",
    b"Opus": "opus",
    b".mp3": "mp3",
    b"fLaC": "flac",
    b"ac-3": "ac3",
    b"ec-3": "eac3",
}
# Legacy CodecID values read with the AVC layout: 7 is AVC, 12 the de-facto HEVC extension.
_LEGACY_VIDEO_CODECS: dict[int, VideoCodec] = {7: "h264", 12: "hevc"}
# Codecs whose CodedFrames carry an SI24 compositionTimeOffset before the data.
_CODECS_WITH_COMPOSITION_TIME = frozenset({"h264", "hevc"})


class VideoFrameType(IntEnum):
    KEY_FRAME = 1
    INTER_FRAME = 2
    DISPOSABLE_INTER_FRAME = 3
    GENERATED_KEY_FRAME = 4
    COMMAND_FRAME = 5  # video info / command frame: a UI8 command instead of video data


class AVCPacketType(IntEnum):
    SEQUENCE_HEADER = 0
    NALU = 1
    END_OF_SEQUENCE = 2


class VideoPacketType(IntEnum):
    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    CODED_FRAMES_X = 3
    METADATA = 4
    MPEG2TS_SEQUENCE_START = 5
    MULTITRACK = 6
    MOD_EX = 7


class SoundFormat(IntEnum):
    LINEAR_PCM_PLATFORM_ENDIAN = 0
    ADPCM = 1
    MP3 = 2
    LINEAR_PCM_LITTLE_ENDIAN = 3
    NELLYMOSER_16KHZ_MONO = 4
    NELLYMOSER_8KHZ_MONO = 5
    NELLYMOSER = 6
    G711_A_LAW = 7
    G711_MU_LAW = 8
    EX_HEADER = 9
    AAC = 10
    SPEEX = 11
    MP3_8KHZ = 14
    DEVICE_SPECIFIC = 15


_SOUND_FORMATS = frozenset(SoundFormat)


class AACPacketType(IntEnum):
    SEQUENCE_HEADER = 0
    RAW = 1


class AudioPacketType(IntEnum):
    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    MULTICHANNEL_CONFIG = 4
    MULTITRACK = 5
    MOD_EX = 7


@dataclass(frozen=True, slots=True)
class VideoSequenceStart:
    """Decoder configuration: an avcC, hvcC or av1C record, unchanged."""

    codec: VideoCodec
    config: bytes


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One coded picture. For H.264/HEVC ``data`` is AVCC: length-prefixed NAL units."""

    codec: VideoCodec
    frame_type: VideoFrameType
    composition_time: int  # milliseconds, pts - dts
    data: bytes

    @property
    def keyframe(self) -> bool:
        return self.frame_type in (VideoFrameType.KEY_FRAME, VideoFrameType.GENERATED_KEY_FRAME)


@dataclass(frozen=True, slots=True)
class VideoSequenceEnd:
    codec: VideoCodec


@dataclass(frozen=True, slots=True)
class VideoCommand:
    """A video info / command frame (0 = start of client-side seeking, 1 = end); no picture."""

    command: int


@dataclass(frozen=True, slots=True)
class VideoMetadata:
    """Enhanced RTMP ``Metadata`` packet: AMF-encoded ``[name, value]`` pairs (e.g. colorInfo)."""

    codec: VideoCodec
    amf: bytes


@dataclass(frozen=True, slots=True)
class UnsupportedVideo:
    """A well-formed tag that livecast does not use."""

    reason: str
    codec_id: int | None = None
    fourcc: bytes | None = None


VideoTag = (
    VideoSequenceStart
    | VideoFrame
    | VideoSequenceEnd
    | VideoCommand
    | VideoMetadata
    | UnsupportedVideo
)


@dataclass(frozen=True, slots=True)
class AudioSequenceStart:
    """Decoder configuration, e.g. the AAC AudioSpecificConfig, unchanged."""

    codec: AudioCodec
    config: bytes


@dataclass(frozen=True, slots=True)
class AudioFrame:
    codec: AudioCodec
    data: bytes


@dataclass(frozen=True, slots=True)
class AudioSequenceEnd:
    codec: AudioCodec


@dataclass(frozen=True, slots=True)
class UnsupportedAudio:
    """A well-formed tag that livecast does not use (MP3, Speex, PCM, multitrack, …)."""

    reason: str
    sound_format: int
    fourcc: bytes | None = None


AudioTag = AudioSequenceStart | AudioFrame | AudioSequenceEnd | UnsupportedAudio


def parse_video_tag(body: bytes | memoryview) -> VideoTag:
    """Parse the body of an FLV video tag (an RTMP type 9 message)."""
    view = memoryview(body)
    if not view:
        raise ProtocolError("empty video tag")
    if view[0] & 0x80:
        return _parse_ex_video(view)
    frame_type = _video_frame_type(view[0] >> 4)
    if frame_type is VideoFrameType.COMMAND_FRAME:
        return _video_command(view, 1)
    codec = _LEGACY_VIDEO_CODECS.get(view[0] & 0x0F)
    if codec is None:
        return UnsupportedVideo(f"legacy video codec id {view[0] & 0x0F}", codec_id=view[0] & 0x0F)
    if len(view) < 5:
        raise ProtocolError(f"AVC video tag of {len(view)} bytes, shorter than its 5-byte header")
    packet_type = view[1]
    if packet_type == AVCPacketType.SEQUENCE_HEADER:
        return VideoSequenceStart(codec, _config(view[5:]))
    if packet_type == AVCPacketType.NALU:
        return VideoFrame(codec, frame_type, _si24(view, 2), bytes(view[5:]))
    if packet_type == AVCPacketType.END_OF_SEQUENCE:
        return VideoSequenceEnd(codec)
    raise ProtocolError(f"AVCPacketType {packet_type}")


def _parse_ex_video(view: memoryview) -> VideoTag:
    raw_frame_type, packet_type = (view[0] >> 4) & 0x07, view[0] & 0x0F
    packet_type, pos = _skip_mod_ex(view, 1, packet_type, VideoPacketType.MOD_EX)
    if packet_type == VideoPacketType.METADATA:
        codec, pos = _video_fourcc(view, pos)
        return VideoMetadata(codec, bytes(view[pos:])) if codec else _unknown_fourcc(view, pos)
    frame_type = _video_frame_type(raw_frame_type)
    if frame_type is VideoFrameType.COMMAND_FRAME:
        return _video_command(view, pos)
    if packet_type == VideoPacketType.MULTITRACK:
        return UnsupportedVideo("enhanced RTMP video multitrack")
    codec, pos = _video_fourcc(view, pos)
    if codec is None:
        return _unknown_fourcc(view, pos)
    if packet_type == VideoPacketType.CODED_FRAMES and codec in _CODECS_WITH_COMPOSITION_TIME:
        _need(view, pos + 3, "compositionTimeOffset")
        return VideoFrame(codec, frame_type, _si24(view, pos), bytes(view[pos + 3 :]))
    if packet_type in (VideoPacketType.CODED_FRAMES, VideoPacketType.CODED_FRAMES_X):
        return VideoFrame(codec, frame_type, 0, bytes(view[pos:]))
    if packet_type == VideoPacketType.SEQUENCE_START:
        return VideoSequenceStart(codec, _config(view[pos:]))
    if packet_type == VideoPacketType.SEQUENCE_END:
        return VideoSequenceEnd(codec)
    if packet_type == VideoPacketType.MPEG2TS_SEQUENCE_START:
        return UnsupportedVideo("MPEG2TSSequenceStart", fourcc=bytes(view[pos - 4 : pos]))
    raise ProtocolError(f"reserved VideoPacketType {packet_type}")


def parse_audio_tag(body: bytes | memoryview) -> AudioTag:
    """Parse the body of an FLV audio tag (an RTMP type 8 message)."""
    view = memoryview(body)
    if not view:
        raise ProtocolError("empty audio tag")
    sound_format = view[0] >> 4
    if sound_format == SoundFormat.EX_HEADER:
        return _parse_ex_audio(view)
    if sound_format != SoundFormat.AAC:
        name = SoundFormat(sound_format).name if sound_format in _SOUND_FORMATS else "reserved"
        return UnsupportedAudio(f"legacy sound format {sound_format} ({name})", sound_format)
    _need(view, 2, "AACPacketType")
    if view[1] == AACPacketType.SEQUENCE_HEADER:
        return AudioSequenceStart("aac", _config(view[2:]))
    if view[1] == AACPacketType.RAW:
        return AudioFrame("aac", bytes(view[2:]))
    raise ProtocolError(f"AACPacketType {view[1]}")


def _parse_ex_audio(view: memoryview) -> AudioTag:
    packet_type, pos = _skip_mod_ex(view, 1, view[0] & 0x0F, AudioPacketType.MOD_EX)
    if packet_type == AudioPacketType.MULTITRACK:
        return UnsupportedAudio("enhanced RTMP audio multitrack", SoundFormat.EX_HEADER)
    _need(view, pos + 4, "audio FourCC")
    fourcc = bytes(view[pos : pos + 4])
    codec, pos = AUDIO_FOURCCS.get(fourcc), pos + 4
    if codec is None:
        return UnsupportedAudio(f"audio FourCC {fourcc!r}", SoundFormat.EX_HEADER, fourcc)
    if packet_type == AudioPacketType.SEQUENCE_START:
        return AudioSequenceStart(codec, _config(view[pos:]))
    if packet_type == AudioPacketType.CODED_FRAMES:
        return AudioFrame(codec, bytes(view[pos:]))
    if packet_type == AudioPacketType.SEQUENCE_END:
        return AudioSequenceEnd(codec)
    if packet_type == AudioPacketType.MULTICHANNEL_CONFIG:
        return UnsupportedAudio("MultichannelConfig", SoundFormat.EX_HEADER, fourcc)
    raise ProtocolError(f"reserved AudioPacketType {packet_type}")


def _skip_mod_ex(view: memoryview, pos: int, packet_type: int, mod_ex: int) -> tuple[int, int]:
    """Step over ModEx prefixes (e.g. a nanosecond timestamp offset, which livecast ignores).

    Each is a size (UI8 + 1, or UI16 + 1 after 255), that many bytes of data, then a byte whose
    low nibble is the next packet type.
    """
    while packet_type == mod_ex:
        _need(view, pos + 1, "ModEx data size")
        size, pos = view[pos] + 1, pos + 1
        if size == 256:
            _need(view, pos + 2, "ModEx data size")
            size, pos = int.from_bytes(view[pos : pos + 2], "big") + 1, pos + 2
        pos += size
        _need(view, pos + 1, "ModEx data")
        packet_type, pos = view[pos] & 0x0F, pos + 1
    return packet_type, pos


def _video_frame_type(value: int) -> VideoFrameType:
    if not 1 <= value <= VideoFrameType.COMMAND_FRAME:
        raise ProtocolError(f"reserved video frame type {value}")
    return VideoFrameType(value)


def _video_command(view: memoryview, pos: int) -> VideoCommand:
    _need(view, pos + 1, "video command")
    return VideoCommand(view[pos])


def _video_fourcc(view: memoryview, pos: int) -> tuple[VideoCodec | None, int]:
    _need(view, pos + 4, "video FourCC")
    return VIDEO_FOURCCS.get(bytes(view[pos : pos + 4])), pos + 4


def _unknown_fourcc(view: memoryview, pos: int) -> UnsupportedVideo:
    fourcc = bytes(view[pos - 4 : pos])
    return UnsupportedVideo(f"video FourCC {fourcc!r}", fourcc=fourcc)


def _config(view: memoryview) -> bytes:
    if not view:
        raise ProtocolError("sequence start without a decoder configuration record")
    return bytes(view)


def _si24(view: memoryview, pos: int) -> int:
    return int.from_bytes(view[pos : pos + 3], "big", signed=True)


def _need(view: memoryview, end: int, field: str) -> None:
    if len(view) < end:
        raise ProtocolError(f"tag of {len(view)} bytes ends before its {field}")
