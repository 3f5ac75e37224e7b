"""Movie fragments: trun fields, data offsets, timing rules, read back box by box."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecast.media.unit import Track, Unit
from livecast.protocols.mp4 import (
    NON_SYNC_SAMPLE_FLAGS,
    SYNC_SAMPLE_FLAGS,
    Fragmenter,
    fragment,
    sample_timing,
    to_timescale,
)
from tests.protocols.mp4.boxtree import parse_trun, root, tfdt

VIDEO = Track("video", "h264", "avc1.64001f", b"", frame_rate=Fraction(25))
AUDIO = Track("audio", "aac", "mp4a.40.2", b"", sample_rate=48_000, samples_per_frame=1024)


def video(dts: int, cto: int = 0, key: bool = False, payload: bytes = b"v") -> Unit:
    return Unit("video", "h264", dts + cto, dts, key, payload, dts)


def audio(dts: int, payload: bytes = b"a", discontinuity: bool = False) -> Unit:
    return Unit("audio", "aac", dts, dts, True, payload, dts, discontinuity=discontinuity)


def read(data: bytes) -> tuple[int, int, list[tuple[int, int, int, int]], list[bytes]]:
    """(sequence number, tfdt, trun samples, sample payloads) of one fragment."""
    tree = root(data)
    assert [child.kind for child in tree.children] == [b"moof", b"mdat"]
    moof = tree.find("moof")
    trun = parse_trun(moof.find("traf/trun"))
    assert moof.find("traf/tfhd").version_flags == (0, 0x020000)  # default-base-is-moof
    assert moof.find("traf/tfdt").version_flags[0] == 1
    sequence = int.from_bytes(moof.find("mfhd").body[4:8])
    payloads, pos = [], trun.data_offset
    for _, size, _, _ in trun.samples:
        payloads.append(data[pos : pos + size])
        pos += size
    assert pos == len(data)  # the mdat holds exactly the samples, right after the moof
    return sequence, tfdt(moof), trun.samples, payloads


def test_video_fragment_fields() -> None:
    units = [video(0, 80, True, b"key"), video(40, 160), video(80, 40), video(120, 40)]
    sequence, base, samples, payloads = read(fragment(VIDEO, 5, units, next_dts=160))
    assert (sequence, base) == (5, 0)
    assert samples == [
        (3600, 3, SYNC_SAMPLE_FLAGS, 7200),
        (3600, 1, NON_SYNC_SAMPLE_FLAGS, 14400),
        (3600, 1, NON_SYNC_SAMPLE_FLAGS, 3600),
        (3600, 1, NON_SYNC_SAMPLE_FLAGS, 3600),
    ]
    assert payloads == [u.payload for u in units]


def test_trun_version_0_without_composition_offsets() -> None:
    trun = parse_trun(root(fragment(VIDEO, 1, [video(0, key=True)])).find("moof/traf/trun"))
    assert (trun.version, trun.flags) == (0, 0x000701)


def test_negative_composition_offsets_use_signed_version_1() -> None:
    units = [video(0, key=True), video(40, -40)]
    trun = parse_trun(root(fragment(VIDEO, 1, units)).find("moof/traf/trun"))
    assert trun.version == 1
    assert trun.samples[1][3] == -3600


def test_last_video_duration_without_next_dts() -> None:
    # the previous sample's duration, else the nominal frame duration
    assert sample_timing(VIDEO, [video(0), video(33)]).durations == [2970, 2970]
    assert sample_timing(VIDEO, [video(0)]).durations == [3600]
    no_rate = Track("video", "h264", "avc1", b"")
    assert sample_timing(no_rate, [video(0)]).durations == [3000]


def test_fragmenter_numbers_fragments_and_reuses_the_last_duration() -> None:
    fragmenter = Fragmenter(VIDEO, track_id=2, first_sequence_number=10)
    fragmenter.fragment([video(0, key=True), video(50)])
    assert (fragmenter.decode_time, fragmenter.end_time) == (0, 9000)
    second = fragmenter.fragment([video(100)])
    sequence, base, samples, _ = read(second)
    assert (sequence, base, samples[0][0]) == (11, 9000, 4500)
    assert fragmenter.sequence_number == 12


def test_audio_durations_are_exact_frames_despite_millisecond_jitter() -> None:
    # 1024 samples at 48 kHz are 21.333 ms: RTMP says 0, 21, 43, 64 ...
    stamps = [round(i * 1024 / 48) for i in range(8)]
    timing = sample_timing(AUDIO, [audio(t) for t in stamps])
    assert timing.base == 0
    assert timing.durations == [1024] * 8


def test_audio_timeline_continues_across_fragments() -> None:
    track = Track("audio", "aac", "mp4a.40.2", b"", sample_rate=44_100, samples_per_frame=1024)
    fragmenter = Fragmenter(track)
    stamps = [round(i * 1024 / 44.1) for i in range(10)]  # 0, 23, 46, 70 ...
    fragmenter.fragment([audio(t) for t in stamps[:3]], next_dts=stamps[3])
    assert stamps[3] * 441 // 10 != 3 * 1024  # the timestamp alone would leave a gap
    _, base, _, _ = read(fragmenter.fragment([audio(t) for t in stamps[3:6]]))
    assert base == 3 * 1024
    fragmenter.fragment([audio(t) for t in stamps[6:]])
    assert fragmenter.decode_time == 6 * 1024
    assert fragmenter.end_time == 10 * 1024


def test_audio_gap_stretches_the_sample_before_it() -> None:
    units = [audio(0), audio(21), audio(1000), audio(1021)]
    timing = sample_timing(AUDIO, units)
    assert timing.durations == [1024, 48_000 - 1024, 1024, 1024]


def test_audio_discontinuity_restarts_the_timeline() -> None:
    fragmenter = Fragmenter(AUDIO)
    fragmenter.fragment([audio(0), audio(21)])
    fragmenter.fragment([audio(43, discontinuity=True)])
    assert fragmenter.decode_time == 43 * 48


def test_other_timebases_convert_exactly_or_round_half_up() -> None:
    assert to_timescale(3003, Fraction(1, 90_000), 90_000) == 3003
    assert to_timescale(1, Fraction(1, 30), 90_000) == 3000
    assert to_timescale(1, Fraction(1, 7), 10) == 1  # 1.43
    assert to_timescale(1, Fraction(1, 4), 10) == 3  # 2.5 rounds up
    unit = Unit("video", "h264", 3, 3, True, b"x", 0, timebase=Fraction(1, 30))
    assert sample_timing(VIDEO, [unit]).base == 9000


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one unit"):
        fragment(VIDEO, 1, [])
    with pytest.raises(ValueError, match="backwards"):
        fragment(VIDEO, 1, [video(40), video(0)])


samples = st.lists(
    st.tuples(st.integers(0, 200), st.integers(-100, 300), st.booleans(), st.binary(max_size=40)),
    min_size=1,
    max_size=30,
)


@given(st.integers(0, 2**40), samples, st.integers(1, 2**32 - 1), st.integers(1, 2**32 - 1))
def test_fragments_read_back(
    start: int, rows: list[tuple[int, int, bool, bytes]], sequence: int, track_id: int
) -> None:
    units, dts = [], start
    for step, cto, key, payload in rows:
        units.append(video(dts, cto, key, payload))
        dts += step
    data = fragment(VIDEO, sequence, units, next_dts=dts, track_id=track_id)
    got_sequence, base, trun, payloads = read(data)
    assert (got_sequence, base) == (sequence, start * 90)
    tfhd = root(data).find("moof/traf/tfhd").body
    assert int.from_bytes(tfhd[4:8]) == track_id
    assert [row[0] for row in trun] == [step * 90 for step, _, _, _ in rows]
    assert [row[3] for row in trun] == [cto * 90 for _, cto, _, _ in rows]
    flags = [SYNC_SAMPLE_FLAGS if key else NON_SYNC_SAMPLE_FLAGS for _, _, key, _ in rows]
    assert [row[2] for row in trun] == flags
    assert payloads == [u.payload for u in units]
