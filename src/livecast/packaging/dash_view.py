"""The DASH face of a packager: a dynamic MPD over the same CMAF segments HLS serves.

Segments are addressed with ``$Number$`` (the HLS media sequence number) and described by a
SegmentTimeline in each track's own timescale, taken from the fragments' decode times, so
``S@t`` equals every segment's ``tfdt``.

A Period lasts as long as one init segment of the lead rendition (the source video, or the
audio of an audio-only stream): a new codec configuration starts a new Period at its first
segment, so each Period names one initialization segment and describes one resolution. Period
``N`` (its id) uses the lead's init segment version ``N``, so ids stay the same across updates.
Every rendition's segment numbers are aligned, so a Period holds the same numbers in each.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from fractions import Fraction

from livecast.packaging.hls_view import bandwidth, init_uri
from livecast.packaging.packager import AUDIO, SOURCE, StreamPackager
from livecast.packaging.rendition import LiveSegment, Rendition
from livecast.protocols.dash.mpd import (
    AdaptationSet,
    Period,
    Presentation,
    Representation,
    SegmentTemplate,
    render_mpd,
)


@dataclass(frozen=True, slots=True)
class _Span:
    """The segment numbers ``first`` to ``end`` (exclusive; None: open) of one lead init."""

    version: int
    first: int
    end: int | None

    def holds(self, segment: LiveSegment) -> bool:
        return segment.msn >= self.first and (self.end is None or segment.msn < self.end)


def _spans(lead: Rendition) -> list[_Span]:
    starts: list[tuple[int, int]] = []  # (init version, first msn)
    for segment in lead.segments:
        if segment.complete and (not starts or starts[-1][0] != segment.init_version):
            starts.append((segment.init_version, segment.msn))
    ends = [first for _, first in starts[1:]] + [None]
    return [_Span(v, first, end) for (v, first), end in zip(starts, ends, strict=True)]


def _period_start(lead: Rendition, span: _Span) -> Fraction:
    """Where the Period starts: zero for the first configuration, else its first decode time."""
    init = lead.inits.get(span.version)
    if span.version == 0 or init is None or init.start_ticks is None:
        return Fraction(0)
    return Fraction(init.start_ticks, lead.fragmenter.timescale)


def _timeline(rendition: Rendition, span: _Span) -> list[tuple[int, int, int]]:
    """(number, t, d) of the complete segments in ``span``."""
    timeline = [
        (s.msn, s.start_ticks, s.end_ticks - s.start_ticks)
        for s in rendition.segments
        if s.complete and s.start_ticks is not None and s.end_ticks is not None and span.holds(s)
    ]
    # $Number$ counts up by one per entry: keep only the newest run of consecutive numbers.
    for index in range(len(timeline) - 1, 0, -1):
        if timeline[index][0] != timeline[index - 1][0] + 1:
            return timeline[index:]
    return timeline


def _init_version(rendition: Rendition, span: _Span) -> int:
    """The init segment of ``rendition``'s segments in ``span``."""
    held = (s.init_version for s in rendition.segments if span.holds(s))
    return next(held, rendition.init_version)


def _template(
    packager: StreamPackager, rendition: Rendition, span: _Span, start: Fraction, suffix: str
) -> SegmentTemplate:
    timescale = rendition.fragmenter.timescale
    timeline = _timeline(rendition, span)
    base = f"/hls/{packager.stream_id}/$RepresentationID$"
    return SegmentTemplate(
        timescale=timescale,
        initialization=f"{base}/{init_uri(_init_version(rendition, span), suffix)}",
        media=f"{base}/seg-$Number$.m4s{suffix}",
        start_number=timeline[0][0] if timeline else rendition.next_msn,
        segments=[(start, length) for _, start, length in timeline],
        presentation_time_offset=round(start * timescale),
    )


def _representation(rendition: Rendition, span: _Span) -> Representation:
    init = rendition.inits.get(_init_version(rendition, span))
    track = init.track if init is not None else rendition.track
    return Representation(
        id=rendition.name,
        bandwidth=max(1, bandwidth(rendition)[0]),
        codecs=track.codec_string,
        width=track.width,
        height=track.height,
        frame_rate=track.frame_rate,
        sample_rate=track.sample_rate,
        channels=track.channels,
    )


def _period(packager: StreamPackager, lead: Rendition, span: _Span, suffix: str) -> Period:
    start = _period_start(lead, span)
    sets = []
    video = packager.renditions.get(SOURCE)
    if video is not None:
        # Rungs share the source's segment numbers and times, hence its SegmentTimeline; a
        # rung whose encoder restarted on its own may be on another init segment version.
        rungs = [r for r in packager.rungs if any(s.complete and span.holds(s) for s in r.segments)]
        shared = _init_version(video, span)
        representations = [_representation(video, span)]
        for rung in rungs:
            representation = _representation(rung, span)
            version = _init_version(rung, span)
            if version != shared:
                own = f"/hls/{packager.stream_id}/{rung.name}/{init_uri(version, suffix)}"
                representation = replace(representation, initialization=own)
            representations.append(representation)
        sets.append(
            AdaptationSet(
                content_type="video",
                representations=representations,
                segment_template=_template(packager, video, span, start, suffix),
            )
        )
    audio = packager.renditions.get(AUDIO)
    if audio is not None:
        sets.append(
            AdaptationSet(
                content_type="audio",
                representations=[_representation(audio, span)],
                segment_template=_template(packager, audio, span, start, suffix),
            )
        )
    return Period(id=str(span.version), start_s=start, adaptation_sets=sets)


def render_manifest(packager: StreamPackager, suffix: str, time_url: str) -> bytes:
    lead = packager.renditions.get(SOURCE) or packager.renditions.get(AUDIO)
    spans = _spans(lead) if lead is not None else []
    if lead is not None and not spans:
        spans = [_Span(lead.init_version, lead.next_msn, None)]
    periods = [_period(packager, lead, span, suffix) for span in spans if lead is not None]
    target = packager.options.segment_target_ms / 1000
    mpd = Presentation(
        periods=periods,
        availability_start_time=packager.wall_clock_at_zero,
        publish_time=datetime.now(UTC),
        utc_timing_url=time_url,
        ended=packager.ended_at is not None,
        minimum_update_period_s=target,
        time_shift_buffer_depth_s=packager.window_seconds,
        suggested_presentation_delay_s=3 * target,
        min_buffer_time_s=target,
    )
    return render_mpd(mpd).encode()
