"""MPEG-DASH MPDs (ISO/IEC 23009-1) for livecast's CMAF renditions, live and ended.

A new Period starts where the codec configuration changes (each Period has its own
initialization segment). In each Period, one AdaptationSet per content type, each with a
SegmentTemplate of ``$Number$`` media URLs and a SegmentTimeline, so the exact duration of every
segment (in the track's own timescale) is in the manifest and clients never accumulate
rounding. The ISO BMFF live profile (``isoff-live:2011``) is what CMAF segments addressed by
template satisfy.

While live the MPD is ``dynamic``: clients anchor segment availability on
``availabilityStartTime`` and keep their clock in step through the UTCTiming element (the
``http-iso`` scheme: a URL answering with an ISO 8601 timestamp). When the stream has ended it
becomes ``static`` with a ``mediaPresentationDuration``, and the same segments play as VOD.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Literal
from xml.sax.saxutils import escape

from livecast.protocols.hls.attributes import date_time

LIVE_PROFILE = "urn:mpeg:dash:profile:isoff-live:2011"
UTC_TIMING_HTTP_ISO = "urn:mpeg:dash:utc:http-iso:2014"
# The value of this scheme is the number of channels (ISO/IEC 23009-1).
_AUDIO_CHANNEL_CONFIGURATION = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
_NAMESPACE = "urn:mpeg:dash:schema:mpd:2011"


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentTemplate:
    """Addressing and timing of one AdaptationSet's segments.

    ``segments`` are ``(t, d)`` pairs in ``timescale`` ticks, in order: the first has number
    ``start_number``. ``$RepresentationID$`` and ``$Number$`` in the templates are expanded by
    the client.
    """

    timescale: int
    initialization: str
    media: str
    start_number: int
    segments: Sequence[tuple[int, int]]
    presentation_time_offset: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Representation:
    id: str
    bandwidth: int
    codecs: str  # RFC 6381
    width: int | None = None
    height: int | None = None
    frame_rate: Fraction | int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    initialization: str | None = None  # overrides the AdaptationSet's SegmentTemplate's


@dataclass(frozen=True, slots=True, kw_only=True)
class AdaptationSet:
    content_type: Literal["video", "audio"]
    representations: Sequence[Representation]
    segment_template: SegmentTemplate
    id: int | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Period:
    """``start_s`` is on the presentation timeline (zero at ``availabilityStartTime``); each
    SegmentTemplate's ``presentation_time_offset`` is the media time shown at that start."""

    id: str
    start_s: float | Fraction
    adaptation_sets: Sequence[AdaptationSet]


@dataclass(frozen=True, slots=True, kw_only=True)
class Presentation:
    """Everything an MPD says; durations in seconds. ``ended`` selects the static form."""

    periods: Sequence[Period]
    availability_start_time: datetime
    publish_time: datetime
    utc_timing_url: str | None = None
    ended: bool = False
    minimum_update_period_s: float = 2.0
    time_shift_buffer_depth_s: float = 60.0
    suggested_presentation_delay_s: float = 6.0
    min_buffer_time_s: float = 2.0
    max_segment_duration_s: float | None = None  # None: the longest listed segment
    media_presentation_duration_s: float | None = None  # None: the end of the last Period


def render_mpd(mpd: Presentation) -> str:
    """The MPD document (UTF-8 XML text)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', _mpd_open(mpd)]
    for period in mpd.periods:
        lines.append(f'  <Period id="{_text(period.id)}" start="{duration(period.start_s)}">')
        for index, adaptation_set in enumerate(period.adaptation_sets):
            lines.extend(_adaptation_set(adaptation_set, index))
        lines.append("  </Period>")
    if mpd.utc_timing_url is not None:
        url = _text(mpd.utc_timing_url)
        lines.append(f'  <UTCTiming schemeIdUri="{UTC_TIMING_HTTP_ISO}" value="{url}"/>')
    lines += ["</MPD>", ""]
    return "\n".join(lines)


def duration(seconds: float | Fraction) -> str:
    """An xs:duration in seconds, rounded up to the millisecond: ``PT2S``, ``PT0.52S``.

    Up, so that a maxSegmentDuration or mediaPresentationDuration never falls short of the media.
    """
    milliseconds = math.ceil(round(float(seconds) * 1000, 6))  # round: 0.52 * 1000 = 520.0…01
    whole, fraction = divmod(milliseconds, 1000)
    text = f"{whole}.{fraction:03d}".rstrip("0").rstrip(".")
    return f"PT{text}S"


def timeline(segments: Sequence[tuple[int, int]]) -> Iterator[tuple[int | None, int, int]]:
    """Run-length ``(t, d, r)`` S entries; ``t`` only where the timeline is not contiguous."""
    run: tuple[int | None, int] | None = None  # (t, d) of the run being built
    repeat = 0
    expected: int | None = None
    for start, length in segments:
        contiguous = start == expected
        if run is not None and contiguous and length == run[1]:
            repeat += 1
        else:
            if run is not None:
                yield run[0], run[1], repeat
            run, repeat = (None if contiguous else start, length), 0
        expected = start + length
    if run is not None:
        yield run[0], run[1], repeat


def _mpd_open(mpd: Presentation) -> str:
    attributes = [
        f'xmlns="{_NAMESPACE}"',
        f'profiles="{LIVE_PROFILE}"',
        f'type="{"static" if mpd.ended else "dynamic"}"',
    ]
    if mpd.ended:
        total = mpd.media_presentation_duration_s
        attributes.append(f'mediaPresentationDuration="{duration(total or _end(mpd))}"')
    else:
        attributes += [
            f'availabilityStartTime="{date_time(mpd.availability_start_time)}"',
            f'minimumUpdatePeriod="{duration(mpd.minimum_update_period_s)}"',
            f'timeShiftBufferDepth="{duration(mpd.time_shift_buffer_depth_s)}"',
            f'suggestedPresentationDelay="{duration(mpd.suggested_presentation_delay_s)}"',
        ]
    attributes.append(f'publishTime="{date_time(mpd.publish_time)}"')
    longest = mpd.max_segment_duration_s
    attributes.append(f'maxSegmentDuration="{duration(longest or _longest_segment(mpd))}"')
    attributes.append(f'minBufferTime="{duration(mpd.min_buffer_time_s)}"')
    return "<MPD " + " ".join(attributes) + ">"


def _longest_segment(mpd: Presentation) -> Fraction:
    longest = Fraction(0)
    for a in (a for period in mpd.periods for a in period.adaptation_sets):
        template = a.segment_template
        if template.segments:
            ticks = max(length for _, length in template.segments)
            longest = max(longest, Fraction(ticks, template.timescale))
    return longest


def _end(mpd: Presentation) -> Fraction:
    """Where the last segment of the last Period's longest AdaptationSet ends."""
    if not mpd.periods:
        return Fraction(0)
    period = mpd.periods[-1]
    ends = []
    for a in period.adaptation_sets:
        template = a.segment_template
        if template.segments:
            start, length = template.segments[-1]
            end = start + length - template.presentation_time_offset
            ends.append(Fraction(end, template.timescale))
    return Fraction(period.start_s) + max(ends, default=Fraction(0))


def _adaptation_set(a: AdaptationSet, index: int) -> list[str]:
    attributes = [
        f'id="{a.id if a.id is not None else index}"',
        f'contentType="{a.content_type}"',
        f'mimeType="{a.content_type}/mp4"',
        'segmentAlignment="true"',
        'startWithSAP="1"',
    ]
    if a.language is not None:
        attributes.append(f'lang="{_text(a.language)}"')
    lines = ["    <AdaptationSet " + " ".join(attributes) + ">"]
    lines.extend(_segment_template(a.segment_template))
    lines.extend(_representation(r) for r in a.representations)
    lines.append("    </AdaptationSet>")
    return lines


def _segment_template(template: SegmentTemplate) -> list[str]:
    attributes = [
        f'timescale="{template.timescale}"',
        f'initialization="{_text(template.initialization)}"',
        f'media="{_text(template.media)}"',
        f'startNumber="{template.start_number}"',
    ]
    if template.presentation_time_offset:
        attributes.append(f'presentationTimeOffset="{template.presentation_time_offset}"')
    lines = ["      <SegmentTemplate " + " ".join(attributes) + ">", "        <SegmentTimeline>"]
    for start, length, repeat in timeline(template.segments):
        t = "" if start is None else f' t="{start}"'
        r = f' r="{repeat}"' if repeat else ""
        lines.append(f'          <S{t} d="{length}"{r}/>')
    lines += ["        </SegmentTimeline>", "      </SegmentTemplate>"]
    return lines


def _representation(r: Representation) -> str:
    attributes = [f'id="{_text(r.id)}"', f'bandwidth="{r.bandwidth}"']
    attributes.append(f'codecs="{_text(r.codecs)}"')
    if r.width is not None and r.height is not None:
        attributes += [f'width="{r.width}"', f'height="{r.height}"', 'sar="1:1"']
    if r.frame_rate is not None:
        rate = Fraction(r.frame_rate)
        text = str(rate.numerator) if rate.denominator == 1 else str(rate)
        attributes.append(f'frameRate="{text}"')
    if r.sample_rate is not None:
        attributes.append(f'audioSamplingRate="{r.sample_rate}"')
    head = "      <Representation " + " ".join(attributes)
    children = []
    if r.channels is not None:
        children.append(
            f'        <AudioChannelConfiguration schemeIdUri="{_AUDIO_CHANNEL_CONFIGURATION}"'
            f' value="{r.channels}"/>'
        )
    if r.initialization is not None:
        # Inherits everything else from the AdaptationSet's SegmentTemplate.
        children.append(f'        <SegmentTemplate initialization="{_text(r.initialization)}"/>')
    if not children:
        return head + "/>"
    return "\n".join([head + ">", *children, "      </Representation>"])


def _text(value: str) -> str:
    return escape(value, {'"': "&quot;"})
