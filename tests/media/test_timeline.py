"""Timestamp normalization: wraps, jumps, steps back, reconnects, and a monotonic property."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from livecast.media.timeline import Timestamp, TimestampNormalizer


def dts(normalizer: TimestampNormalizer, track: str, *raws: int) -> list[int]:
    return [normalizer.normalize(track, raw).dts for raw in raws]


def test_starts_at_zero_and_keeps_normal_steps() -> None:
    n = TimestampNormalizer()
    assert n.normalize("video", 5000) == Timestamp(0, 0, False)
    assert n.normalize("audio", 5010) == Timestamp(10, 10, False)
    assert dts(n, "video", 5040, 5080) == [40, 80]
    assert n.last_dts == 80


def test_32_bit_wrap_is_continuous() -> None:
    n = TimestampNormalizer()
    assert dts(n, "video", 2**32 - 40, 2**32 - 1, 39, 79) == [0, 39, 79, 119]
    assert n.forward_jumps == n.backward_jumps == n.clamped == 0


def test_forward_jump_is_rebased_one_frame_later() -> None:
    n = TimestampNormalizer(jump_threshold_ms=10_000)
    assert dts(n, "video", 0, 40, 80, 60_080, 60_120) == [0, 40, 80, 120, 160]
    assert n.forward_jumps == 1


def test_encoder_reset_rebases_each_track_and_keeps_them_in_step() -> None:
    n = TimestampNormalizer()
    out = []
    for raw in (100_000, 100_040, 100_080, 0, 40):  # the encoder restarts its clock at 0
        out.append((n.normalize("video", raw).dts, n.normalize("audio", raw + 3).dts))
    assert out[:3] == [(0, 3), (40, 43), (80, 83)]
    assert out[3:] == [(120, 123), (160, 163)]
    assert n.backward_jumps == 2


def test_small_step_back_is_clamped_without_shifting_what_follows() -> None:
    n = TimestampNormalizer(backward_tolerance_ms=250)
    assert dts(n, "audio", 0, 23, 20, 46, 46, 69) == [0, 23, 24, 46, 47, 69]
    assert n.clamped == 2
    assert n.backward_jumps == 0


def test_reconnect_continues_after_last_dts_and_marks_discontinuity() -> None:
    n = TimestampNormalizer()
    dts(n, "video", 0, 40, 80)
    dts(n, "audio", 0, 23, 46, 69, 92)
    n.new_session()
    first_audio = n.normalize("audio", 0)
    first_video = n.normalize("video", 0)
    # One frame after the latest track end: video's 80 + 40 (audio's 92 + 23 is earlier).
    assert first_audio == Timestamp(120, 120, True)
    assert first_video == Timestamp(120, 120, True)  # same raw time, same output time
    assert n.normalize("video", 40) == Timestamp(160, 160, False)
    assert n.normalize("audio", 23).discontinuity is False
    assert n.sessions == 2


def test_reconnect_keeps_tracks_apart_by_their_raw_offset() -> None:
    n = TimestampNormalizer()
    dts(n, "video", 0, 40)
    n.new_session()
    assert dts(n, "video", 1000, 1040) == [80, 120]  # 40 + one 40 ms frame
    assert dts(n, "audio", 1010) == [90]


def test_track_starting_before_the_origin_is_held_at_zero() -> None:
    n = TimestampNormalizer()
    assert dts(n, "video", 100) == [0]
    assert dts(n, "audio", 60, 83) == [0, 23]


_EVENTS = st.lists(
    st.tuples(st.sampled_from(["video", "audio"]), st.integers(0, 2**32 - 1) | st.just(-1)),
    max_size=60,
)


@settings(max_examples=200)
@given(_EVENTS, st.data())
def test_output_increases_and_never_leaps_within_a_session(
    events: list[tuple[str, int]], data: st.DataObject
) -> None:
    n = TimestampNormalizer(jump_threshold_ms=10_000)
    last: dict[str, int] = {}
    last_in_session: dict[str, int] = {}
    raw_by_track: dict[str, int] = {}
    for track, raw in events:
        if raw == -1:  # a step near the previous raw time: the common case
            raw = (raw_by_track.get(track, 0) + data.draw(st.integers(-300, 2000))) % 2**32
        if data.draw(st.integers(0, 30)) == 0:
            n.new_session()  # may resume far ahead of a track that the other outran
            last_in_session.clear()
        stamp = n.normalize(track, raw)
        raw_by_track[track] = raw
        assert stamp.dts > last.get(track, -1)
        if track in last_in_session:
            assert stamp.dts - last_in_session[track] <= 10_000
        assert stamp.media_time_ms == stamp.dts
        last[track] = last_in_session[track] = stamp.dts
