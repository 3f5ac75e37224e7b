"""H.264 / AVC bitstream pieces an ingest server needs, sans I/O.

* :class:`AVCDecoderConfigurationRecord` (ISO/IEC 14496-15, 5.3.3.1): the ``avcC`` record that
  RTMP and FLV carry as the AVC sequence header.
* :func:`split_avcc`: AVCC framing, NAL units each prefixed by a big-endian length.
* :class:`SequenceParameterSet` (ITU-T H.264, 7.3.2.1.1 and Annex E): enough of the SPS for
  picture size, profile, level and frame rate.
* :class:`BitReader` / :class:`BitWriter`: ``u(n)``, ``ue(v)`` and ``se(v)`` (Exp-Golomb, 9.1).

Every parser raises :class:`~livecast.errors.ProtocolError` on malformed input, and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from livecast.errors import ProtocolError

NAL_UNIT_TYPE_IDR = 5
NAL_UNIT_TYPE_SPS = 7
NAL_UNIT_TYPE_PPS = 8

# profile_idc values whose SPS carries chroma_format_idc, bit depths, scaling lists (7.3.2.1.1).
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})

# Table E-1, aspect_ratio_idc 1..16; 255 is Extended_SAR, carried explicitly.
_SAMPLE_ASPECT_RATIOS = (
    (1, 1), (12, 11), (10, 11), (16, 11), (40, 33), (24, 11), (20, 11), (32, 11),
    (80, 33), (18, 11), (15, 11), (64, 33), (160, 99), (4, 3), (3, 2), (2, 1),
)  # fmt: skip
_EXTENDED_SAR = 255

# An Exp-Golomb code with more leading zeros than this cannot be a valid 32-bit ue(v).
_MAX_EXP_GOLOMB_ZEROS = 31

_NEEDS_ESCAPE = re.compile(rb"\x00\x00(?=[\x00-\x03])")


class BitReader:
    """Reads big-endian bit fields from a byte string; every read is bounds-checked.

    The bytes are held as one Python integer, so ``ue(v)`` finds its leading zeros with
    ``int.bit_length`` instead of a loop over bits. Meant for headers (SPS, audio config),
    which are tens of bytes, not for slice data.
    """

    __slots__ = ("_pos", "_size", "_value")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._value = int.from_bytes(data, "big")
        self._size = len(data) * 8
        self._pos = 0

    @property
    def bits_left(self) -> int:
        return self._size - self._pos

    def u(self, bits: int) -> int:
        """Read an unsigned integer of ``bits`` bits."""
        if bits > self.bits_left:
            raise ProtocolError(f"bitstream ends: {bits} bits wanted, {self.bits_left} left")
        self._pos += bits
        return (self._value >> (self._size - self._pos)) & ((1 << bits) - 1)

    def flag(self) -> bool:
        return self.u(1) == 1

    def skip(self, bits: int) -> None:
        self.u(bits)

    def ue(self) -> int:
        """Read an unsigned Exp-Golomb code, ``ue(v)``."""
        rest = self._value & ((1 << self.bits_left) - 1)
        if rest == 0:
            raise ProtocolError("bitstream ends inside an Exp-Golomb code")
        zeros = self.bits_left - rest.bit_length()
        if zeros > _MAX_EXP_GOLOMB_ZEROS:
            raise ProtocolError(f"Exp-Golomb code with {zeros} leading zeros")
        self._pos += zeros
        return self.u(zeros + 1) - 1

    def se(self) -> int:
        """Read a signed Exp-Golomb code, ``se(v)``: 0, 1, -1, 2, -2, …"""
        code = self.ue()
        return (code + 1) // 2 if code % 2 else -(code // 2)


class BitWriter:
    """Writes big-endian bit fields; the inverse of :class:`BitReader`."""

    __slots__ = ("_size", "_value")

    def __init__(self) -> None:
        self._value = 0
        self._size = 0

    def u(self, bits: int, value: int) -> None:
        if value < 0 or value >> bits:
            raise ValueError(f"{value} does not fit in {bits} bits")
        self._value = (self._value << bits) | value
        self._size += bits

    def flag(self, value: bool) -> None:
        self.u(1, int(value))

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(2 * code.bit_length() - 1, code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def to_bytes(self) -> bytes:
        """The bits written so far, padded with zero bits to a whole byte."""
        pad = -self._size % 8
        return (self._value << pad).to_bytes((self._size + pad) // 8, "big")


def unescape_rbsp(data: bytes | memoryview) -> bytes:
    """Remove emulation-prevention bytes: every ``00 00 03`` becomes ``00 00`` (7.4.1)."""
    return bytes(data).replace(b"\x00\x00\x03", b"\x00\x00")


def escape_rbsp(rbsp: bytes) -> bytes:
    """Insert emulation-prevention bytes so that no start code appears inside a NAL unit."""
    escaped = _NEEDS_ESCAPE.sub(b"\x00\x00\x03", rbsp)
    return escaped + b"\x03" if escaped.endswith(b"\x00\x00") else escaped


def nal_unit_type(nal: bytes | memoryview) -> int:
    if not nal:
        raise ProtocolError("empty NAL unit")
    return nal[0] & 0x1F


def split_avcc(data: bytes | memoryview, length_size: int = 4) -> list[memoryview]:
    """Split AVCC framing (each NAL unit prefixed by a ``length_size``-byte length).

    Returns views into ``data``, without copying. Zero-length NAL units are skipped.
    """
    if length_size not in (1, 2, 3, 4):
        raise ProtocolError(f"NAL unit length size {length_size}")
    view = memoryview(data)
    end = len(view)
    units: list[memoryview] = []
    pos = 0
    while pos < end:
        start = pos + length_size
        if start > end:
            raise ProtocolError("NAL unit length runs past the end of the payload")
        stop = start + int.from_bytes(view[pos:start], "big")
        if stop > end:
            raise ProtocolError("NAL unit runs past the end of the payload")
        if stop > start:
            units.append(view[start:stop])
        pos = stop
    return units


def contains_idr(data: bytes | memoryview, length_size: int = 4) -> bool:
    """Whether an AVCC payload holds a slice of an IDR picture."""
    return any(nal[0] & 0x1F == NAL_UNIT_TYPE_IDR for nal in split_avcc(data, length_size))


def codec_string(profile_idc: int, constraint_flags: int, level_idc: int) -> str:
    """RFC 6381 codec string, e.g. ``avc1.64001f`` for High profile, level 3.1."""
    return f"avc1.{profile_idc:02x}{constraint_flags:02x}{level_idc:02x}"


@dataclass(frozen=True, slots=True)
class AVCDecoderConfigurationRecord:
    """The ``avcC`` record: profile, level, NAL length size and the parameter sets."""

    profile_indication: int
    profile_compatibility: int
    level_indication: int
    nal_length_size: int
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]

    @classmethod
    def parse(cls, data: bytes | memoryview) -> AVCDecoderConfigurationRecord:
        view = memoryview(data)
        if len(view) < 7:
            raise ProtocolError("AVCDecoderConfigurationRecord shorter than 7 bytes")
        if view[0] != 1:
            raise ProtocolError(f"AVCDecoderConfigurationRecord version {view[0]}")
        length_size = (view[4] & 0x03) + 1
        if length_size == 3:
            raise ProtocolError("AVCDecoderConfigurationRecord lengthSizeMinusOne 2")
        sps, pos = read_parameter_sets(view, 6, view[5] & 0x1F)
        if not sps:
            raise ProtocolError("AVCDecoderConfigurationRecord without an SPS")
        if pos >= len(view):
            raise ProtocolError(
                "AVCDecoderConfigurationRecord ends before numOfPictureParameterSets"
            )
        # Trailing bytes (the High profile chroma/bit depth extension) are derived from the SPS.
        pps, _ = read_parameter_sets(view, pos + 1, view[pos])
        return cls(view[1], view[2], view[3], length_size, sps, pps)

    def __bytes__(self) -> bytes:
        head = bytes(
            (
                1,
                self.profile_indication,
                self.profile_compatibility,
                self.level_indication,
                0xFC | (self.nal_length_size - 1),
                0xE0 | len(self.sps),
            )
        )
        parts = [head, *_length_prefixed(self.sps), bytes((len(self.pps),))]
        parts.extend(_length_prefixed(self.pps))
        return b"".join(parts)

    @property
    def codec_string(self) -> str:
        return codec_string(
            self.profile_indication, self.profile_compatibility, self.level_indication
        )

    def in_band_parameter_sets(self) -> bytes:
        """The SPS and PPS as NAL units prefixed with ``nal_length_size`` bytes (AVCC samples).

        Prepended to a keyframe, they let a decoder that keeps its first configuration (such as
        ffmpeg's HLS demuxer, which reads one ``moov``) follow a change of configuration.
        """
        size = self.nal_length_size
        return b"".join(len(n).to_bytes(size, "big") + n for n in (*self.sps, *self.pps))


def read_parameter_sets(view: memoryview, pos: int, count: int) -> tuple[tuple[bytes, ...], int]:
    """Read ``count`` parameter sets, each prefixed by a 16-bit length, starting at ``pos``.

    The layout of both ``avcC`` and ``hvcC``; returns the sets and the position after them.
    """
    sets: list[bytes] = []
    for _ in range(count):
        if pos + 2 > len(view):
            raise ProtocolError("parameter set length runs past the configuration record")
        end = pos + 2 + int.from_bytes(view[pos : pos + 2], "big")
        if end > len(view):
            raise ProtocolError("parameter set runs past the configuration record")
        sets.append(bytes(view[pos + 2 : end]))
        pos = end
    return tuple(sets), pos


def _length_prefixed(units: tuple[bytes, ...]) -> list[bytes]:
    return [len(unit).to_bytes(2, "big") + unit for unit in units]


@dataclass(frozen=True, slots=True)
class SequenceParameterSet:
    """The fields of an H.264 SPS that packaging and players need."""

    profile_idc: int
    constraint_flags: int  # constraint_set0_flag … constraint_set5_flag and 2 reserved bits
    level_idc: int
    seq_parameter_set_id: int
    chroma_format_idc: int
    bit_depth_luma: int
    bit_depth_chroma: int
    width: int  # after cropping
    height: int
    frame_mbs_only: bool
    sample_aspect_ratio: Fraction | None = None
    frame_rate: Fraction | None = None  # from VUI timing, for progressive frames

    @classmethod
    def parse(cls, nal: bytes | memoryview) -> SequenceParameterSet:
        """Parse an SPS NAL unit, including its one-byte NAL header."""
        if nal_unit_type(nal) != NAL_UNIT_TYPE_SPS or nal[0] & 0x80:
            raise ProtocolError(f"not an SPS NAL unit: header {nal[0]:#04x}")
        return _parse_sps(BitReader(unescape_rbsp(nal[1:])))

    @property
    def codec_string(self) -> str:
        return codec_string(self.profile_idc, self.constraint_flags, self.level_idc)


def _parse_sps(r: BitReader) -> SequenceParameterSet:
    profile_idc, constraint_flags, level_idc = r.u(8), r.u(8), r.u(8)
    sps_id = _ue_max(r, 31, "seq_parameter_set_id")
    chroma_format_idc, separate_planes, depth_luma, depth_chroma = 1, False, 8, 8
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = _ue_max(r, 3, "chroma_format_idc")
        if chroma_format_idc == 3:
            separate_planes = r.flag()
        depth_luma = _ue_max(r, 6, "bit_depth_luma_minus8") + 8
        depth_chroma = _ue_max(r, 6, "bit_depth_chroma_minus8") + 8
        r.skip(1)  # qpprime_y_zero_transform_bypass_flag
        if r.flag():  # seq_scaling_matrix_present_flag
            _skip_scaling_matrix(r, 8 if chroma_format_idc != 3 else 12)
    _ue_max(r, 12, "log2_max_frame_num_minus4")
    _skip_pic_order_count(r)
    r.ue()  # max_num_ref_frames
    r.skip(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs, height_units = r.ue() + 1, r.ue() + 1
    frame_mbs_only = r.flag()
    if not frame_mbs_only:
        r.skip(1)  # mb_adaptive_frame_field_flag
    r.skip(1)  # direct_8x8_inference_flag
    crop = (r.ue(), r.ue(), r.ue(), r.ue()) if r.flag() else (0, 0, 0, 0)
    chroma_array_type = 0 if separate_planes else chroma_format_idc
    width, height = _cropped_size(width_mbs, height_units, frame_mbs_only, chroma_array_type, crop)
    sar, frame_rate = _parse_vui(r) if r.flag() else (None, None)
    return SequenceParameterSet(
        profile_idc,
        constraint_flags,
        level_idc,
        sps_id,
        chroma_format_idc,
        depth_luma,
        depth_chroma,
        width,
        height,
        frame_mbs_only,
        sar,
        frame_rate,
    )


def _ue_max(r: BitReader, maximum: int, name: str) -> int:
    value = r.ue()
    if value > maximum:
        raise ProtocolError(f"SPS {name} {value} exceeds {maximum}")
    return value


def _skip_scaling_matrix(r: BitReader, lists: int) -> None:
    for index in range(lists):
        if r.flag():  # seq_scaling_list_present_flag[index]
            _skip_scaling_list(r, 16 if index < 6 else 64)


def _skip_scaling_list(r: BitReader, size: int) -> None:
    last_scale = next_scale = 8
    for _ in range(size):
        if next_scale:
            next_scale = (last_scale + r.se()) % 256
        last_scale = next_scale or last_scale


def _skip_pic_order_count(r: BitReader) -> None:
    poc_type = _ue_max(r, 2, "pic_order_cnt_type")
    if poc_type == 0:
        _ue_max(r, 12, "log2_max_pic_order_cnt_lsb_minus4")
    elif poc_type == 1:
        r.skip(1)  # delta_pic_order_always_zero_flag
        r.se()  # offset_for_non_ref_pic
        r.se()  # offset_for_top_to_bottom_field
        for _ in range(_ue_max(r, 255, "num_ref_frames_in_pic_order_cnt_cycle")):
            r.se()  # offset_for_ref_frame


def _cropped_size(
    width_mbs: int,
    height_units: int,
    frame_mbs_only: bool,
    chroma_array_type: int,
    crop: tuple[int, int, int, int],
) -> tuple[int, int]:
    # Equations 7-19 to 7-22 with Table 6-1 (SubWidthC, SubHeightC).
    sub_width, sub_height = {0: (1, 1), 1: (2, 2), 2: (2, 1), 3: (1, 1)}[chroma_array_type]
    field_factor = 1 if frame_mbs_only else 2
    left, right, top, bottom = crop
    width = width_mbs * 16 - sub_width * (left + right)
    height = field_factor * height_units * 16 - sub_height * field_factor * (top + bottom)
    if width <= 0 or height <= 0:
        raise ProtocolError(f"SPS cropping leaves a {width}x{height} picture")
    return width, height


def _parse_vui(r: BitReader) -> tuple[Fraction | None, Fraction | None]:
    """Sample aspect ratio and frame rate from vui_parameters() (E.1.1).

    VUI is advisory; a VUI cut short yields what was read before the cut instead of an error.
    """
    sar: Fraction | None = None
    try:
        if r.flag():  # aspect_ratio_info_present_flag
            sar = _read_sample_aspect_ratio(r)
        if r.flag():  # overscan_info_present_flag
            r.skip(1)
        if r.flag():  # video_signal_type_present_flag
            r.skip(4)  # video_format, video_full_range_flag
            if r.flag():  # colour_description_present_flag
                r.skip(24)
        if r.flag():  # chroma_loc_info_present_flag
            r.ue()
            r.ue()
        if not r.flag():  # timing_info_present_flag
            return sar, None
        num_units_in_tick, time_scale = r.u(32), r.u(32)
    except ProtocolError:
        return sar, None
    if num_units_in_tick == 0 or time_scale == 0:
        return sar, None
    # One frame is two field ticks (E.2.1, equation E-6 with progressive frames).
    return sar, Fraction(time_scale, 2 * num_units_in_tick)


def _read_sample_aspect_ratio(r: BitReader) -> Fraction | None:
    idc = r.u(8)
    if idc == _EXTENDED_SAR:
        width, height = r.u(16), r.u(16)
    elif 1 <= idc <= len(_SAMPLE_ASPECT_RATIOS):
        width, height = _SAMPLE_ASPECT_RATIOS[idc - 1]
    else:
        return None
    return Fraction(width, height) if width and height else None
