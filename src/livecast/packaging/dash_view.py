"""The DASH face of a packager: a dynamic MPD over the same CMAF segments HLS serves.

Segments are addressed with ``$Number$`` (the HLS media sequence number) and described by a
SegmentTimeline in each track's own timescale, taken from the fragments' decode times, so
``S@t`` equals every segment's ``tfdt``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from livecast.packaging.hls_view import bandwidth
from livecast.packaging.packager import AUDIO, SOURCE, StreamPackager
from livecast.packaging.rendition import Rendition
from livecast.protocols.dash.mpd import (
    AdaptationSet,
    Presentation,
    Representation,
    SegmentTemplate,
    render_mpd,
)


def _template(packager: StreamPackager, rendition: Rendition, suffix: str) -> SegmentTemplate:
    timeline = [
        (s.msn, s.start_ticks, s.end_ticks - s.start_ticks)
        for s in rendition.segments
        if s.complete and s.start_ticks is not None and s.end_ticks is not None
    ]
    # $Number$ counts up by one per entry: keep only the newest run of consecutive numbers.
    for index in range(len(timeline) - 1, 0, -1):
        if timeline[index][0] != timeline[index - 1][0] + 1:
            timeline = timeline[index:]
            break
    base = f"/hls/{packager.stream_id}/$RepresentationID$"
    return SegmentTemplate(
        timescale=rendition.fragmenter.timescale,
        initialization=f"{base}/init-{rendition.init_version}.mp4{suffix}",
        media=f"{base}/seg-$Number$.m4s{suffix}",
        start_number=timeline[0][0] if timeline else rendition.next_msn,
        segments=[(start, duration) for _, start, duration in timeline],
    )


def render_manifest(packager: StreamPackager, suffix: str, time_url: str) -> bytes:
    sets = []
    video = packager.renditions.get(SOURCE)
    if video is not None:
        # Rungs share the source's segment numbers and times, hence its SegmentTimeline.
        rungs = [r for r in packager.rungs if any(s.complete for s in r.segments)]
        representations = [
            Representation(
                id=rendition.name,
                bandwidth=max(1, bandwidth(rendition)[0]),
                codecs=rendition.track.codec_string,
                width=rendition.track.width,
                height=rendition.track.height,
                frame_rate=rendition.track.frame_rate,
            )
            for rendition in (video, *rungs)
        ]
        sets.append(
            AdaptationSet(
                content_type="video",
                representations=representations,
                segment_template=_template(packager, video, suffix),
            )
        )
    audio = packager.renditions.get(AUDIO)
    if audio is not None:
        track = audio.track
        representation = Representation(
            id=AUDIO,
            bandwidth=max(1, bandwidth(audio)[0]),
            codecs=track.codec_string,
            sample_rate=track.sample_rate,
            channels=track.channels,
        )
        sets.append(
            AdaptationSet(
                content_type="audio",
                representations=[representation],
                segment_template=_template(packager, audio, suffix),
            )
        )
    target = packager.options.segment_target_ms / 1000
    ended = packager.ended_at is not None
    mpd = Presentation(
        adaptation_sets=sets,
        availability_start_time=packager.wall_clock_at_zero,
        publish_time=datetime.now(UTC),
        utc_timing_url=time_url,
        ended=ended,
        minimum_update_period_s=target,
        time_shift_buffer_depth_s=packager.window_seconds,
        suggested_presentation_delay_s=3 * target,
        min_buffer_time_s=target,
    )
    return render_mpd(mpd).encode()
