"""HEVC / H.265 decoder configuration, just enough to describe a track.

:class:`HEVCDecoderConfigurationRecord` is the ``hvcC`` record (ISO/IEC 14496-15, 8.3.3.1.2),
which Enhanced RTMP carries as the ``hvc1`` SequenceStart. Picture size would need an HEVC SPS
parser, which livecast does not have yet.

Parsing raises :class:`~livecast.errors.ProtocolError` on malformed input, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from livecast.errors import ProtocolError
from livecast.protocols.h264 import read_parameter_sets

NAL_UNIT_TYPE_VPS = 32
NAL_UNIT_TYPE_SPS = 33
NAL_UNIT_TYPE_PPS = 34

_HEADER_SIZE = 23
_PROFILE_SPACES = ("", "A", "B", "C")


@dataclass(frozen=True, slots=True)
class NalUnitArray:
    """One array of the record: NAL units of one type (VPS, SPS, PPS or SEI)."""

    nal_unit_type: int
    complete: bool
    nal_units: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class HEVCDecoderConfigurationRecord:
    general_profile_space: int
    general_tier_flag: bool
    general_profile_idc: int
    general_profile_compatibility_flags: int  # 32 bits, flag j in bit 31 - j
    general_constraint_indicator_flags: int  # 48 bits
    general_level_idc: int
    chroma_format_idc: int
    bit_depth_luma: int
    bit_depth_chroma: int
    nal_length_size: int
    arrays: tuple[NalUnitArray, ...]

    @classmethod
    def parse(cls, data: bytes | memoryview) -> HEVCDecoderConfigurationRecord:
        view = memoryview(data)
        if len(view) < _HEADER_SIZE:
            raise ProtocolError(f"HEVCDecoderConfigurationRecord shorter than {_HEADER_SIZE} bytes")
        if view[0] != 1:
            raise ProtocolError(f"HEVCDecoderConfigurationRecord version {view[0]}")
        if view[21] & 0x03 == 2:
            raise ProtocolError("HEVCDecoderConfigurationRecord lengthSizeMinusOne 2")
        return cls(
            general_profile_space=view[1] >> 6,
            general_tier_flag=bool(view[1] & 0x20),
            general_profile_idc=view[1] & 0x1F,
            general_profile_compatibility_flags=int.from_bytes(view[2:6], "big"),
            general_constraint_indicator_flags=int.from_bytes(view[6:12], "big"),
            general_level_idc=view[12],
            chroma_format_idc=view[16] & 0x03,
            bit_depth_luma=(view[17] & 0x07) + 8,
            bit_depth_chroma=(view[18] & 0x07) + 8,
            nal_length_size=(view[21] & 0x03) + 1,
            arrays=_parse_arrays(view, view[22]),
        )

    def nal_units(self, nal_unit_type: int) -> tuple[bytes, ...]:
        """The parameter sets of one type, e.g. ``NAL_UNIT_TYPE_SPS``."""
        matching = (a.nal_units for a in self.arrays if a.nal_unit_type == nal_unit_type)
        return tuple(unit for units in matching for unit in units)

    def codec_string(self, fourcc: str = "hvc1") -> str:
        """RFC 6381 codec string per ISO/IEC 14496-15 Annex E, e.g. ``hvc1.1.6.L93.B0``."""
        compatibility = int(f"{self.general_profile_compatibility_flags:032b}"[::-1], 2)
        constraints = self.general_constraint_indicator_flags.to_bytes(6, "big").rstrip(b"\x00")
        parts = [
            fourcc,
            f"{_PROFILE_SPACES[self.general_profile_space]}{self.general_profile_idc}",
            f"{compatibility:X}",
            f"{'H' if self.general_tier_flag else 'L'}{self.general_level_idc}",
            *(f"{byte:02X}" for byte in constraints),
        ]
        return ".".join(parts)


def _parse_arrays(view: memoryview, count: int) -> tuple[NalUnitArray, ...]:
    arrays: list[NalUnitArray] = []
    pos = _HEADER_SIZE
    for _ in range(count):
        if pos + 3 > len(view):
            raise ProtocolError("HEVCDecoderConfigurationRecord array header runs past the end")
        header, units = view[pos], int.from_bytes(view[pos + 1 : pos + 3], "big")
        nal_units, pos = read_parameter_sets(view, pos + 3, units)
        arrays.append(NalUnitArray(header & 0x3F, bool(header & 0x80), nal_units))
    return tuple(arrays)
