"""AAC AudioSpecificConfig (ISO/IEC 14496-3, 1.6.2.1), the AAC sequence header of RTMP and FLV.

Parsing raises :class:`~livecast.errors.ProtocolError` on malformed input, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from livecast.errors import ProtocolError
from livecast.protocols.h264 import BitReader, BitWriter

# Table 1.18, samplingFrequencyIndex 0..12; 13 and 14 are reserved, 15 means "explicit".
SAMPLING_FREQUENCIES = (
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
)  # fmt: skip
_EXPLICIT_FREQUENCY = 0x0F
_ESCAPE_OBJECT_TYPE = 31

AOT_AAC_LC = 2
AOT_SBR = 5
AOT_PS = 29
AOT_ER_AAC_LD = 23
# Object types whose config continues with GASpecificConfig (frameLengthFlag first).
_GA_OBJECT_TYPES = frozenset({1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23})

# Table 1.19: channelConfiguration -> channels; 0 means "defined in a program_config_element".
_CHANNELS = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 8, 11: 7, 12: 8, 13: 24, 14: 8}


@dataclass(frozen=True, slots=True)
class AudioSpecificConfig:
    """The fields of an AudioSpecificConfig that packaging and players need.

    ``object_type`` is the first audioObjectType (5 or 29 for explicitly signalled HE-AAC, whose
    AAC core is then ``core_object_type`` and whose output rate ``extension_sampling_frequency``).
    """

    object_type: int
    sampling_frequency: int
    channel_configuration: int
    frame_length_flag: bool = False
    core_object_type: int | None = None
    extension_sampling_frequency: int | None = None

    @classmethod
    def parse(cls, data: bytes | memoryview) -> AudioSpecificConfig:
        r = BitReader(data)
        object_type = _read_object_type(r)
        frequency = _read_frequency(r)
        channels = r.u(4)
        if channels not in _CHANNELS and channels != 0:
            raise ProtocolError(f"reserved AAC channelConfiguration {channels}")
        core, extension_frequency = None, None
        if object_type in (AOT_SBR, AOT_PS):
            extension_frequency = _read_frequency(r)
            core = _read_object_type(r)
        frame_length_flag = r.flag() if (core or object_type) in _GA_OBJECT_TYPES else False
        return cls(object_type, frequency, channels, frame_length_flag, core, extension_frequency)

    def __bytes__(self) -> bytes:
        """Serialize the parsed fields; the rest of GASpecificConfig is written as zeros."""
        w = BitWriter()
        _write_object_type(w, self.object_type)
        _write_frequency(w, self.sampling_frequency)
        w.u(4, self.channel_configuration)
        if self.core_object_type is not None:
            _write_frequency(w, self.extension_sampling_frequency or self.sampling_frequency)
            _write_object_type(w, self.core_object_type)
        if (self.core_object_type or self.object_type) in _GA_OBJECT_TYPES:
            w.flag(self.frame_length_flag)
            w.u(2, 0)  # dependsOnCoreCoder, extensionFlag
        return w.to_bytes()

    @property
    def codec_string(self) -> str:
        """RFC 6381 codec string, e.g. ``mp4a.40.2`` for AAC-LC."""
        return f"mp4a.40.{self.object_type}"

    @property
    def channels(self) -> int | None:
        """Number of output channels, or None when a program_config_element defines them."""
        return _CHANNELS.get(self.channel_configuration)

    @property
    def samples_per_frame(self) -> int:
        """PCM samples per access unit at ``sampling_frequency`` (1024, or 960 when flagged)."""
        if (self.core_object_type or self.object_type) == AOT_ER_AAC_LD:
            return 480 if self.frame_length_flag else 512
        return 960 if self.frame_length_flag else 1024


def _read_object_type(r: BitReader) -> int:
    object_type = r.u(5)
    if object_type == _ESCAPE_OBJECT_TYPE:
        object_type = 32 + r.u(6)
    if object_type == 0:
        raise ProtocolError("AAC audioObjectType 0 (null)")
    return object_type


def _write_object_type(w: BitWriter, object_type: int) -> None:
    if object_type >= _ESCAPE_OBJECT_TYPE:
        w.u(5, _ESCAPE_OBJECT_TYPE)
        w.u(6, object_type - 32)
    else:
        w.u(5, object_type)


def _read_frequency(r: BitReader) -> int:
    index = r.u(4)
    if index == _EXPLICIT_FREQUENCY:
        frequency = r.u(24)
        if frequency == 0:
            raise ProtocolError("AAC explicit samplingFrequency 0")
        return frequency
    if index >= len(SAMPLING_FREQUENCIES):
        raise ProtocolError(f"reserved AAC samplingFrequencyIndex {index}")
    return SAMPLING_FREQUENCIES[index]


def _write_frequency(w: BitWriter, frequency: int) -> None:
    if frequency in SAMPLING_FREQUENCIES:
        w.u(4, SAMPLING_FREQUENCIES.index(frequency))
    else:
        w.u(4, _EXPLICIT_FREQUENCY)
        w.u(24, frequency)
