"""H.264: avcC records and SPS captured from x264, AVCC framing, Exp-Golomb, and Hypothesis."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livecast.errors import ProtocolError
from livecast.protocols.h264 import (
    AVCDecoderConfigurationRecord,
    BitReader,
    BitWriter,
    SequenceParameterSet,
    contains_idr,
    escape_rbsp,
    split_avcc,
    unescape_rbsp,
)

# avcC records written by ffmpeg/libx264 (see test_flv.py for how): High profile at 318x238,
# which needs cropping and ends with the chroma/bit depth extension; Main profile at 29.97 fps.
HIGH_318X238 = bytes.fromhex(
    "0164000dffe1001a6764000dacd94141feab011000000300100000030320f142996001000668ebe3cb22c0fdf8f800"
)
MAIN_NTSC = bytes.fromhex(
    "014d400dffe10016674d400deca0a0fd808800001f480007530078a14cb001000568ebe3cb20"
)


def test_high_profile_record_and_sps() -> None:
    record = AVCDecoderConfigurationRecord.parse(HIGH_318X238)
    assert (record.profile_indication, record.profile_compatibility) == (100, 0)
    assert (record.level_indication, record.nal_length_size) == (13, 4)
    assert [len(s) for s in record.sps] == [26]
    assert [len(p) for p in record.pps] == [6]
    assert record.codec_string == "avc1.64000d"
    sps = SequenceParameterSet.parse(record.sps[0])
    assert (sps.width, sps.height) == (318, 238)
    assert (sps.profile_idc, sps.level_idc, sps.constraint_flags) == (100, 13, 0)
    assert (sps.chroma_format_idc, sps.bit_depth_luma, sps.bit_depth_chroma) == (1, 8, 8)
    assert sps.frame_rate == 25
    assert sps.sample_aspect_ratio == 1
    assert sps.codec_string == record.codec_string


def test_main_profile_constraint_flags_and_ntsc_rate() -> None:
    record = AVCDecoderConfigurationRecord.parse(MAIN_NTSC)
    sps = SequenceParameterSet.parse(record.sps[0])
    assert record.codec_string == sps.codec_string == "avc1.4d400d"
    assert sps.constraint_flags == 0x40  # constraint_set1_flag
    assert (sps.width, sps.height) == (320, 240)
    assert sps.frame_rate == Fraction(30000, 1001)


def test_record_serializes_back() -> None:
    assert bytes(AVCDecoderConfigurationRecord.parse(MAIN_NTSC)) == MAIN_NTSC
    # The High profile extension is not kept; everything before it is byte-identical.
    assert bytes(AVCDecoderConfigurationRecord.parse(HIGH_318X238)) == HIGH_318X238[:-4]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x01\x64\x00\x0d\xff\xe1",  # too short
        b"\x02\x64\x00\x0d\xff\xe1\x00\x00\x00",  # version 2
        b"\x01\x64\x00\x0d\xfe\xe1\x00\x01\x67\x00",  # lengthSizeMinusOne 2
        b"\x01\x64\x00\x0d\xff\xe0\x00",  # no SPS
        b"\x01\x64\x00\x0d\xff\xe1\x00\x09\x67",  # SPS runs past the end
        b"\x01\x64\x00\x0d\xff\xe1\x00\x01\x67",  # no PPS count
    ],
)
def test_malformed_record(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        AVCDecoderConfigurationRecord.parse(data)


def test_split_avcc_returns_views() -> None:
    payload = b"\x00\x00\x00\x02\x09\xf0" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x03\x65\x88\x84"
    units = split_avcc(payload)
    assert [bytes(u) for u in units] == [b"\x09\xf0", b"\x65\x88\x84"]  # empty unit skipped
    assert all(u.obj is payload for u in units)
    assert contains_idr(payload)
    assert not contains_idr(b"\x00\x02\x41\x9a", length_size=2)
    assert [bytes(u) for u in split_avcc(b"\x01\x06", length_size=1)] == [b"\x06"]


@pytest.mark.parametrize("payload", [b"\x00\x00\x00", b"\x00\x00\x00\x05\x65", b"\x00\x00\x00\x01"])
def test_split_avcc_truncated(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        split_avcc(payload)


def test_bit_reader_bounds() -> None:
    reader = BitReader(b"\xa5")
    assert (reader.u(3), reader.flag(), reader.bits_left) == (5, False, 4)
    with pytest.raises(ProtocolError):
        reader.u(5)
    with pytest.raises(ProtocolError):
        BitReader(b"\x00\x00").ue()  # no terminating one bit
    with pytest.raises(ProtocolError):
        BitReader(b"\x00\x00\x00\x00\x80\x00\x00\x00\x00").ue()  # 32 leading zeros


def test_exp_golomb_known_codes() -> None:
    # 1 | 010 | 011 | 00100 | 00101 -> ue 0, 1, 2, 3 and se(4 -> -2)
    reader = BitReader(bytes((0b10100110, 0b01000010, 0b10000000)))
    assert [reader.ue(), reader.ue(), reader.ue(), reader.ue(), reader.se()] == [0, 1, 2, 3, -2]


_FIELDS = st.one_of(
    st.tuples(st.just("ue"), st.integers(0, 2**32 - 2)),
    st.tuples(st.just("se"), st.integers(-(2**31) + 1, 2**31 - 1)),
    st.integers(1, 32).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, 2**n - 1))),
)


@settings(max_examples=200)
@given(st.lists(_FIELDS, max_size=20))
def test_exp_golomb_round_trip(fields: list[tuple[str | int, int]]) -> None:
    writer = BitWriter()
    for kind, value in fields:
        if kind == "ue":
            writer.ue(value)
        elif kind == "se":
            writer.se(value)
        else:
            writer.u(int(kind), value)
    reader = BitReader(writer.to_bytes())
    read = [
        reader.ue() if k == "ue" else reader.se() if k == "se" else reader.u(int(k))
        for k, _ in fields
    ]
    assert read == [value for _, value in fields]
    assert reader.bits_left < 8


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_emulation_prevention_round_trip(rbsp: bytes) -> None:
    escaped = escape_rbsp(rbsp)
    assert unescape_rbsp(escaped) == rbsp
    assert not re.search(rb"\x00\x00[\x00-\x02]", escaped)


@dataclass(frozen=True)
class SpsFields:
    """What a test SPS is built from, and the picture it describes."""

    profile_idc: int
    chroma_format_idc: int
    width_mbs: int
    height_units: int
    frame_mbs_only: bool
    crop: tuple[int, int, int, int]
    poc_type: int
    scaling_matrix: bool
    timing: tuple[int, int] | None


def build_sps(f: SpsFields) -> bytes:
    w = BitWriter()
    w.u(8, f.profile_idc)
    w.u(8, 0x40)
    w.u(8, 31)
    w.ue(0)  # seq_parameter_set_id
    if f.profile_idc == 100:
        w.ue(f.chroma_format_idc)
        if f.chroma_format_idc == 3:
            w.flag(False)  # separate_colour_plane_flag
        w.ue(2)  # bit_depth_luma_minus8
        w.ue(2)
        w.flag(False)
        w.flag(f.scaling_matrix)
        if f.scaling_matrix:
            for index in range(12 if f.chroma_format_idc == 3 else 8):
                w.flag(index == 0)
                if index == 0:
                    for _ in range(16):
                        w.se(-3)
    w.ue(0)  # log2_max_frame_num_minus4
    w.ue(f.poc_type)
    if f.poc_type == 0:
        w.ue(2)
    elif f.poc_type == 1:
        w.flag(False)
        w.se(-1)
        w.se(2)
        w.ue(3)
        for offset in (1, -1, 5):
            w.se(offset)
    w.ue(4)  # max_num_ref_frames
    w.flag(False)
    w.ue(f.width_mbs - 1)
    w.ue(f.height_units - 1)
    w.flag(f.frame_mbs_only)
    if not f.frame_mbs_only:
        w.flag(True)
    w.flag(True)
    w.flag(any(f.crop))
    if any(f.crop):
        for value in f.crop:
            w.ue(value)
    w.flag(f.timing is not None)  # vui_parameters_present_flag
    if f.timing is not None:
        w.flag(True)  # aspect_ratio_info_present_flag
        w.u(8, 255)  # Extended_SAR
        w.u(32, (4 << 16) | 3)
        w.u(3, 0)  # no overscan, video signal type or chroma location info
        w.flag(True)  # timing_info_present_flag
        w.u(32, f.timing[0])
        w.u(32, f.timing[1])
        w.flag(True)
    w.flag(True)  # rbsp_stop_one_bit
    return b"\x67" + escape_rbsp(w.to_bytes())


_SPS_FIELDS = st.builds(
    SpsFields,
    profile_idc=st.sampled_from([66, 77, 100]),
    chroma_format_idc=st.integers(0, 3),
    width_mbs=st.integers(1, 256),
    height_units=st.integers(1, 256),
    frame_mbs_only=st.booleans(),
    crop=st.tuples(*[st.integers(0, 2)] * 4),
    poc_type=st.integers(0, 2),
    scaling_matrix=st.booleans(),
    timing=st.none() | st.tuples(st.integers(1, 1001), st.integers(1, 120000)),
)


@settings(max_examples=200)
@given(_SPS_FIELDS)
def test_built_sps_parses_back(f: SpsFields) -> None:
    chroma = f.chroma_format_idc if f.profile_idc == 100 else 1
    sub_width, sub_height = {0: (1, 1), 1: (2, 2), 2: (2, 1), 3: (1, 1)}[chroma]
    field = 1 if f.frame_mbs_only else 2
    width = f.width_mbs * 16 - sub_width * (f.crop[0] + f.crop[1])
    height = field * (f.height_units * 16 - sub_height * (f.crop[2] + f.crop[3]))
    nal = build_sps(f)
    if width <= 0 or height <= 0:
        with pytest.raises(ProtocolError):
            SequenceParameterSet.parse(nal)
        return
    sps = SequenceParameterSet.parse(nal)
    assert (sps.width, sps.height, sps.chroma_format_idc) == (width, height, chroma)
    assert (sps.profile_idc, sps.constraint_flags, sps.level_idc) == (f.profile_idc, 0x40, 31)
    assert sps.bit_depth_luma == (10 if f.profile_idc == 100 else 8)
    if f.timing is None:
        assert (sps.frame_rate, sps.sample_aspect_ratio) == (None, None)
    else:
        assert sps.frame_rate == Fraction(f.timing[1], 2 * f.timing[0])
        assert sps.sample_aspect_ratio == Fraction(4, 3)


def test_truncated_vui_keeps_the_picture_size() -> None:
    fields = SpsFields(100, 1, 80, 45, True, (0, 0, 0, 0), 0, False, (1, 50))
    nal = build_sps(fields)
    sps = SequenceParameterSet.parse(nal[:-6])  # cut inside time_scale
    assert (sps.width, sps.height, sps.frame_rate) == (1280, 720, None)


@pytest.mark.parametrize("nal", [b"", b"\x68\x00", b"\xe7\x64", b"\x67\x64\x00", b"\x67"])
def test_malformed_sps(nal: bytes) -> None:
    with pytest.raises(ProtocolError):
        SequenceParameterSet.parse(nal)


@settings(max_examples=300)
@given(st.binary(max_size=48), st.sampled_from([1, 2, 4]))
def test_arbitrary_bytes_raise_only_protocol_error(data: bytes, length_size: int) -> None:
    with contextlib.suppress(ProtocolError):
        AVCDecoderConfigurationRecord.parse(data)
    with contextlib.suppress(ProtocolError):
        SequenceParameterSet.parse(b"\x67" + data)
    with contextlib.suppress(ProtocolError):
        SequenceParameterSet.parse(b"\x67\x64" + data)
    with contextlib.suppress(ProtocolError):
        split_avcc(data, length_size)


def test_in_band_parameter_sets_are_avcc_nal_units() -> None:
    record = AVCDecoderConfigurationRecord.parse(HIGH_318X238)
    nal_units = [bytes(n) for n in split_avcc(record.in_band_parameter_sets(), 4)]
    assert nal_units == [*record.sps, *record.pps]
    assert [n[0] & 0x1F for n in nal_units] == [7, 8]  # SPS, PPS
