"""LL-HLS Media Playlists rendered from realistic states, parsed back and held to RFC 8216bis."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecast.protocols.hls import (
    ByteRange,
    MediaPlaylist,
    Part,
    RenditionReport,
    Segment,
    ServerControl,
    render_media_playlist,
)
from livecast.protocols.hls.attributes import date_time, decimal
from tests.protocols.hls.m3u8 import check_rules, parse_media, unquote

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CONTROL = ServerControl(can_block_reload=True, part_hold_back=1.0, can_skip_until=12.0)


def live(
    count: int = 30,
    first_msn: int = 100,
    in_progress: int = 2,
    discontinuity_at: int | None = None,
    ended: bool = False,
) -> MediaPlaylist:
    """``count`` 2 s segments of four 0.5 s parts (a keyframe each 2 s), then one in progress."""
    segments = []
    for i in range(count + (1 if in_progress else 0)):
        msn = first_msn + i
        done = i < count
        parts = [
            Part(f"part{msn}.{k}.m4s", 0.5, independent=k == 0)
            for k in range(4 if done else in_progress)
        ]
        segments.append(
            Segment(
                msn,
                f"seg{msn}.m4s" if done else None,
                2.0 if done else 0.0,
                parts,
                program_date_time=START + timedelta(seconds=2 * i),
                discontinuity=i == discontinuity_at,
            )
        )
    in_progress_msn = first_msn + count
    return MediaPlaylist(
        target_duration=2,
        part_target=0.5,
        msn_start=first_msn,
        discontinuity_sequence=3,
        segments=segments,
        preload_hint_uri=f"part{in_progress_msn}.{in_progress}.m4s",
        rendition_reports=[RenditionReport("../audio/playlist.m3u8", in_progress_msn, 1)],
        server_control=CONTROL,
        ended=ended,
        map_uri="init.mp4",
    )


def test_live_playlist_tags() -> None:
    text = render_media_playlist(live(discontinuity_at=20))
    p = parse_media(text)
    check_rules(p)
    assert p.lines[:9] == [
        "#EXTM3U",
        "#EXT-X-VERSION:9",
        "#EXT-X-TARGETDURATION:2",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=1.0",
        "#EXT-X-PART-INF:PART-TARGET=0.5",
        "#EXT-X-MEDIA-SEQUENCE:100",
        "#EXT-X-DISCONTINUITY-SEQUENCE:3",
        '#EXT-X-MAP:URI="init.mp4"',
        "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:00.000Z",
    ]
    assert [s.msn for s in p.segments] == list(range(100, 131))
    assert [s.uri for s in p.segments[:30]] == [f"seg{m}.m4s" for m in range(100, 130)]
    assert all(s.duration == 2.0 for s in p.segments[:30])
    assert [s.discontinuity for s in p.segments].index(True) == 20
    assert p.segments[1].program_date_time == "2024-05-01T12:00:02.000Z"
    # parts: the three segments ending within 3 target durations, and the in-progress one
    with_parts = [s.msn for s in p.segments if s.parts]
    assert with_parts == [127, 128, 129, 130]
    assert [len(s.parts) for s in p.segments[-4:]] == [4, 4, 4, 2]
    assert p.segments[-1].uri is None
    assert all(part.independent == part.uri.endswith(".0.m4s") for part in p.parts)
    assert p.preload_hint == {"TYPE": "PART", "URI": '"part130.2.m4s"'}
    assert p.rendition_reports == [
        {"URI": '"../audio/playlist.m3u8"', "LAST-MSN": "130", "LAST-PART": "1"}
    ]
    assert not p.ended


def test_parts_are_listed_before_their_segment() -> None:
    lines = render_media_playlist(live(count=3, in_progress=0)).splitlines()
    first = lines.index("#EXTINF:2.0,")
    assert lines[first - 4 : first] == [
        '#EXT-X-PART:DURATION=0.5,URI="part100.0.m4s",INDEPENDENT=YES',
        '#EXT-X-PART:DURATION=0.5,URI="part100.1.m4s"',
        '#EXT-X-PART:DURATION=0.5,URI="part100.2.m4s"',
        '#EXT-X-PART:DURATION=0.5,URI="part100.3.m4s"',
    ]
    assert lines[first + 1] == "seg100.m4s"


def test_delta_update_skips_segments_older_than_can_skip_until() -> None:
    state = live()
    full = parse_media(render_media_playlist(state))
    delta = parse_media(render_media_playlist(state, skip="yes"))
    check_rules(delta)
    # 30 complete segments + 1 s of parts = 61 s; segments ending by 61 - 12 = 49 s are skipped
    assert delta.skipped == 24
    assert delta.lines[8] == "#EXT-X-SKIP:SKIPPED-SEGMENTS=24"
    assert delta.media_sequence == full.media_sequence == 100
    assert delta.version >= 9
    # the client's merge: the skipped ones from its copy, then the delta's
    merged = full.segments[: delta.skipped] + delta.segments
    assert [(s.msn, s.uri, s.parts) for s in merged] == [
        (s.msn, s.uri, s.parts) for s in full.segments
    ]


def test_delta_update_v2_also_reports_removed_date_ranges() -> None:
    delta = parse_media(render_media_playlist(live(), skip="v2"))
    check_rules(delta)
    assert delta.skip_attributes == {"SKIPPED-SEGMENTS": "24", "RECENTLY-REMOVED-DATERANGES": '""'}
    assert delta.version == 10


def test_skip_is_ignored_when_not_offered_or_nothing_is_old_enough() -> None:
    no_skip = MediaPlaylist(
        target_duration=2, segments=live().segments, msn_start=100, part_target=0.5
    )
    assert "#EXT-X-SKIP" not in render_media_playlist(no_skip, skip="yes")
    short = live(count=5)
    assert render_media_playlist(short, skip="yes") == render_media_playlist(short)


def test_ended_playlist() -> None:
    p = parse_media(render_media_playlist(live(count=4, in_progress=0, ended=True)))
    check_rules(p)
    assert p.ended
    assert p.lines[-1] == "#EXT-X-ENDLIST"
    assert p.preload_hint is None
    assert [s.uri for s in p.segments] == [f"seg{m}.m4s" for m in range(100, 104)]


def test_plain_playlist_without_low_latency() -> None:
    state = MediaPlaylist(
        target_duration=6,
        segments=[Segment(7, "a.ts", 6.006), Segment(8, "b.ts", 5.005, gap=True)],
        msn_start=7,
    )
    p = parse_media(render_media_playlist(state))
    check_rules(p)
    assert p.version == 3
    assert not p.server_control
    assert [(s.duration, s.gap) for s in p.segments] == [(6.006, False), (5.005, True)]


def test_target_duration_rises_to_cover_a_long_segment() -> None:
    state = MediaPlaylist(target_duration=2, segments=[Segment(0, "a", 2.49), Segment(1, "b", 3.5)])
    assert parse_media(render_media_playlist(state)).target_duration == 4
    state = MediaPlaylist(target_duration=2, segments=[Segment(0, "a", 2.49)])
    assert parse_media(render_media_playlist(state)).target_duration == 2


def test_part_hold_back_defaults_to_three_part_targets() -> None:
    state = MediaPlaylist(
        target_duration=2,
        part_target=0.33334,
        segments=[Segment(0, None, 0.0, [Part("p.0", 0.33334, independent=True)])],
        server_control=ServerControl(),
    )
    p = parse_media(render_media_playlist(state))
    check_rules(p)
    assert p.server_control == {"CAN-BLOCK-RELOAD": "YES", "PART-HOLD-BACK": "1.00002"}


def test_byterange_and_gap_parts() -> None:
    part = Part("seg.m4s", 0.5, byterange=ByteRange(1000, 2000), gap=True)
    state = MediaPlaylist(
        target_duration=2, part_target=0.5, segments=[Segment(0, None, 0, [part])]
    )
    (parsed,) = parse_media(render_media_playlist(state)).parts
    assert parsed.attributes["BYTERANGE"] == '"1000@2000"'
    assert parsed.attributes["GAP"] == "YES"


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (MediaPlaylist(target_duration=2, segments=[Segment(1, "a", 2)]), "MSN 1"),
        (
            MediaPlaylist(target_duration=2, segments=[Segment(0, None, 0), Segment(1, "a", 2)]),
            "in progress",
        ),
        (MediaPlaylist(target_duration=2, segments=[Segment(0, 'a"b', 2)], map_uri='x"'), "quote"),
        (
            MediaPlaylist(
                target_duration=2,
                segments=[Segment(0, "a", 2, program_date_time=datetime(2024, 1, 1))],
            ),
            "timezone",
        ),
        (
            MediaPlaylist(
                target_duration=2,
                part_target=0.5,
                segments=[],
                server_control=ServerControl(part_hold_back=0.9),
            ),
            "twice PART-TARGET",
        ),
        (
            MediaPlaylist(
                target_duration=2, segments=[], server_control=ServerControl(can_skip_until=11.9)
            ),
            "six Target Durations",
        ),
    ],
)
def test_inconsistent_state_is_refused(state: MediaPlaylist, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_media_playlist(state)


def test_formatting_helpers() -> None:
    assert [decimal(x) for x in (2, 2.5, 1 / 3, 0.000001, 4.00008)] == [
        "2.0", "2.5", "0.33333", "0.0", "4.00008",
    ]  # fmt: skip
    plus_two = datetime(2024, 5, 1, 14, 0, 0, 40_500, tzinfo=timezone(timedelta(hours=2)))
    assert date_time(plus_two) == "2024-05-01T12:00:00.040Z"


@given(
    count=st.integers(0, 40),
    first_msn=st.integers(0, 10**6),
    in_progress=st.integers(0, 4),
    skip=st.sampled_from(["none", "yes", "v2"]),
    ended=st.booleans(),
)
def test_any_live_state_renders_a_valid_playlist(
    count: int, first_msn: int, in_progress: int, skip: str, ended: bool
) -> None:
    state = live(count, first_msn, in_progress if not ended else 0, ended=ended)
    p = parse_media(render_media_playlist(state, skip=skip))  # type: ignore[arg-type]
    check_rules(p)
    assert p.media_sequence == first_msn
    assert [s.msn for s in p.segments] == [s.msn for s in state.segments][p.skipped :]
    if p.preload_hint is not None:
        assert unquote(p.preload_hint["URI"]) == state.preload_hint_uri


def test_a_new_map_before_the_first_segment_that_uses_it() -> None:
    """Each segment names its init segment; the tag appears only where it changes."""
    base = live(count=30, in_progress=0)
    segments = [
        replace(s, map_uri="init-0.mp4" if i < 10 else "init-1.mp4", discontinuity=i == 10)
        for i, s in enumerate(base.segments)
    ]
    playlist = replace(base, segments=segments, map_uri="init-0.mp4")
    text = render_media_playlist(playlist)
    body = text.splitlines()
    assert [line for line in body if line.startswith("#EXT-X-MAP")] == [
        '#EXT-X-MAP:URI="init-0.mp4"',
        '#EXT-X-MAP:URI="init-1.mp4"',
    ]
    new = body.index('#EXT-X-MAP:URI="init-1.mp4"')
    assert body[new - 1] == "#EXT-X-DISCONTINUITY"
    assert next(line for line in body[new:] if not line.startswith("#")) == segments[10].uri
    # A delta update skipped the change: the first listed segment names its map after the skip.
    delta = render_media_playlist(playlist, "yes").splitlines()
    skip = next(i for i, line in enumerate(delta) if line.startswith("#EXT-X-SKIP"))
    assert [line for line in delta[skip:] if line.startswith("#EXT-X-MAP")] == [
        '#EXT-X-MAP:URI="init-1.mp4"'
    ]
