"""Multivariant Playlists: a ladder sharing one audio rendition group."""

from __future__ import annotations

from fractions import Fraction

import pytest

from livecast.protocols.hls import AudioRendition, Variant, render_multivariant
from tests.protocols.hls.m3u8 import parse_multivariant, unquote

LADDER = [
    Variant(
        uri="source/playlist.m3u8",
        bandwidth=2_800_000,
        average_bandwidth=2_500_000,
        codecs=["avc1.64001f", "mp4a.40.2"],
        resolution=(1280, 720),
        frame_rate=Fraction(30000, 1001),
        audio_group="audio",
    ),
    Variant(
        uri="480p/playlist.m3u8",
        bandwidth=1_200_000,
        codecs=["avc1.4d401e", "mp4a.40.2"],
        resolution=(854, 480),
        frame_rate=25,
        audio_group="audio",
    ),
]
AUDIO = [AudioRendition(uri="audio/playlist.m3u8", name="Main", language="en", channels=2)]


def test_ladder_with_shared_audio() -> None:
    lines, media, variants = parse_multivariant(render_multivariant(LADDER, AUDIO))
    assert lines[:3] == ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS"]
    assert media == [
        {
            "TYPE": "AUDIO",
            "GROUP-ID": '"audio"',
            "NAME": '"Main"',
            "LANGUAGE": '"en"',
            "DEFAULT": "YES",
            "AUTOSELECT": "YES",
            "CHANNELS": '"2"',
            "URI": '"audio/playlist.m3u8"',
        }
    ]
    assert [v.uri for v in variants] == ["source/playlist.m3u8", "480p/playlist.m3u8"]
    first, second = (v.attributes for v in variants)
    assert first == {
        "BANDWIDTH": "2800000",
        "AVERAGE-BANDWIDTH": "2500000",
        "CODECS": '"avc1.64001f,mp4a.40.2"',
        "RESOLUTION": "1280x720",
        "FRAME-RATE": "29.970",
        "AUDIO": '"audio"',
    }
    assert "AVERAGE-BANDWIDTH" not in second
    assert second["FRAME-RATE"] == "25.000"
    # every group a variant names exists
    groups = {unquote(m["GROUP-ID"]) for m in media}
    assert all(unquote(v.attributes["AUDIO"]) in groups for v in variants)


def test_audio_only_and_options() -> None:
    audio_only = Variant(uri="a.m3u8", bandwidth=64_000, codecs=["mp4a.40.2"])
    text = render_multivariant([audio_only], version=7, independent_segments=False)
    assert text == (
        '#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS="mp4a.40.2"\na.m3u8\n'
    )


def test_unknown_audio_group_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown audio group"):
        render_multivariant(LADDER, [])
