"""MPDs rendered live and ended, read back with ElementTree."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from livecast.protocols.dash import (
    LIVE_PROFILE,
    AdaptationSet,
    Period,
    Presentation,
    Representation,
    SegmentTemplate,
    duration,
    render_mpd,
    timeline,
)

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
VIDEO_SEGMENTS = [(180_000 * i, 180_000) for i in range(10)] + [(1_800_000, 177_000)]
AUDIO_SEGMENTS = [(0, 88_064), (88_064, 88_064), (176_128, 87_040), (300_000, 88_064)]


def presentation(ended: bool = False) -> Presentation:
    video = AdaptationSet(
        content_type="video",
        representations=[
            Representation(
                id="source",
                bandwidth=2_500_000,
                codecs="avc1.64001f",
                width=1280,
                height=720,
                frame_rate=Fraction(30000, 1001),
            ),
            Representation(
                id="480p",
                bandwidth=1_000_000,
                codecs="avc1.4d401e",
                width=854,
                height=480,
                frame_rate=25,
            ),
        ],
        segment_template=SegmentTemplate(
            timescale=90_000,
            initialization="$RepresentationID$/init.mp4",
            media="$RepresentationID$/$Number$.m4s",
            start_number=40,
            segments=VIDEO_SEGMENTS,
        ),
    )
    audio = AdaptationSet(
        content_type="audio",
        language="en",
        representations=[
            Representation(
                id="audio", bandwidth=128_000, codecs="mp4a.40.2", sample_rate=44_100, channels=2
            )
        ],
        segment_template=SegmentTemplate(
            timescale=44_100,
            initialization="$RepresentationID$/init.mp4",
            media="$RepresentationID$/$Number$.m4s",
            start_number=40,
            segments=AUDIO_SEGMENTS,
        ),
    )
    return Presentation(
        periods=[Period(id="0", start_s=0, adaptation_sets=[video, audio])],
        availability_start_time=START,
        publish_time=datetime(2024, 5, 1, 12, 0, 22, 500_000, tzinfo=UTC),
        utc_timing_url="https://live.example/api/v1/time?a=1&b=2",
        ended=ended,
    )


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - our own output, not untrusted input


def expand(template: ET.Element) -> list[tuple[int, int]]:
    """SegmentTimeline S elements back to (t, d) pairs, as a client computes them."""
    segments, clock = [], 0
    for s in template.findall("d:SegmentTimeline/d:S", NS):
        clock = int(s.get("t", clock))
        for _ in range(int(s.get("r", "0")) + 1):
            d = int(s.attrib["d"])
            segments.append((clock, d))
            clock += d
    return segments


def test_dynamic_mpd() -> None:
    root = parse(render_mpd(presentation()))
    assert root.tag == "{urn:mpeg:dash:schema:mpd:2011}MPD"
    assert root.attrib == {
        "profiles": LIVE_PROFILE,
        "type": "dynamic",
        "availabilityStartTime": "2024-05-01T12:00:00.000Z",
        "minimumUpdatePeriod": "PT2S",
        "timeShiftBufferDepth": "PT60S",
        "suggestedPresentationDelay": "PT6S",
        "publishTime": "2024-05-01T12:00:22.500Z",
        "maxSegmentDuration": "PT2S",
        "minBufferTime": "PT2S",
    }
    (period,) = root.findall("d:Period", NS)
    assert period.attrib == {"id": "0", "start": "PT0S"}
    video, audio = period.findall("d:AdaptationSet", NS)
    assert video.attrib == {
        "id": "0",
        "contentType": "video",
        "mimeType": "video/mp4",
        "segmentAlignment": "true",
        "startWithSAP": "1",
    }
    assert audio.attrib["lang"] == "en"
    source, low = video.findall("d:Representation", NS)
    assert source.attrib == {
        "id": "source",
        "bandwidth": "2500000",
        "codecs": "avc1.64001f",
        "width": "1280",
        "height": "720",
        "sar": "1:1",
        "frameRate": "30000/1001",
    }
    assert low.attrib["frameRate"] == "25"
    (audio_representation,) = audio.findall("d:Representation", NS)
    assert audio_representation.attrib["audioSamplingRate"] == "44100"
    channels = audio_representation.find("d:AudioChannelConfiguration", NS)
    assert channels is not None
    assert channels.attrib["value"] == "2"
    template = video.find("d:SegmentTemplate", NS)
    assert template is not None
    assert template.attrib == {
        "timescale": "90000",
        "initialization": "$RepresentationID$/init.mp4",
        "media": "$RepresentationID$/$Number$.m4s",
        "startNumber": "40",
    }
    assert expand(template) == VIDEO_SEGMENTS
    assert sum(d for _, d in expand(template)) == 10 * 180_000 + 177_000
    audio_template = audio.find("d:SegmentTemplate", NS)
    assert audio_template is not None
    assert expand(audio_template) == AUDIO_SEGMENTS  # the gap before 300000 survives
    (utc,) = root.findall("d:UTCTiming", NS)
    assert utc.attrib == {
        "schemeIdUri": "urn:mpeg:dash:utc:http-iso:2014",
        "value": "https://live.example/api/v1/time?a=1&b=2",
    }


def test_compact_timeline() -> None:
    text = render_mpd(presentation())
    assert '<S t="0" d="180000" r="9"/>\n          <S d="177000"/>' in text
    assert '<S t="300000" d="88064"/>' in text


def test_static_mpd_once_ended() -> None:
    root = parse(render_mpd(presentation(ended=True)))
    assert root.attrib["type"] == "static"
    # video ends at 1_977_000 / 90_000 = 21.9667 s; audio at 388064 / 44100 = 8.8 s
    assert root.attrib["mediaPresentationDuration"] == "PT21.967S"
    for dynamic_only in ("availabilityStartTime", "minimumUpdatePeriod", "timeShiftBufferDepth"):
        assert dynamic_only not in root.attrib


def test_durations() -> None:
    assert [duration(x) for x in (0, 2, 0.52, Fraction(1001, 30000), 3600)] == [
        "PT0S", "PT2S", "PT0.52S", "PT0.034S", "PT3600S",
    ]  # fmt: skip


@given(st.lists(st.tuples(st.sampled_from([0, 0, 0, 7]), st.sampled_from([3, 3, 4])), max_size=40))
def test_timeline_round_trips(steps: list[tuple[int, int]]) -> None:
    segments, clock = [], 1000
    for gap, length in steps:
        clock += gap
        segments.append((clock, length))
        clock += length
    rebuilt, position = [], 0
    for t, d, r in timeline(segments):
        position = position if t is None else t
        for _ in range(r + 1):
            rebuilt.append((position, d))
            position += d
    assert rebuilt == segments


def test_a_period_per_codec_configuration() -> None:
    """A new Period where the configuration changes; it ends the last Period's duration."""
    first = presentation().periods[0]
    template = SegmentTemplate(
        timescale=90_000,
        initialization="$RepresentationID$/init-1.mp4",
        media="$RepresentationID$/$Number$.m4s",
        start_number=51,
        segments=[(1_977_000, 180_000)],
        presentation_time_offset=1_977_000,
    )
    rung = Representation(
        id="480p", bandwidth=1, codecs="avc1.4d401e", initialization="480p/init-3.mp4"
    )
    video = AdaptationSet(
        content_type="video",
        representations=[Representation(id="source", bandwidth=1, codecs="avc1.42c00d"), rung],
        segment_template=template,
    )
    second = Period(id="1", start_s=Fraction(1_977_000, 90_000), adaptation_sets=[video])
    mpd = replace(presentation(ended=True), periods=[first, second])
    root = parse(render_mpd(mpd))
    periods = root.findall("d:Period", NS)
    assert [(p.get("id"), p.get("start")) for p in periods] == [("0", "PT0S"), ("1", "PT21.967S")]
    rendered = periods[1].find("d:AdaptationSet/d:SegmentTemplate", NS)
    assert rendered is not None
    assert rendered.get("presentationTimeOffset") == "1977000"
    # A Representation on another init segment overrides only the initialization.
    (override,) = periods[1].findall("d:AdaptationSet/d:Representation/d:SegmentTemplate", NS)
    assert override.attrib == {"initialization": "480p/init-3.mp4"}
    # 21.967 s + one 2 s segment
    assert root.attrib["mediaPresentationDuration"] == "PT23.967S"
