"""The HLS face of a packager: rendition state as playlist dataclasses, rendered and cached.

URIs are relative to the playlist, and carry ``suffix`` (``?token=…`` for streams that need a
playback token) so that players which do not propagate query strings still authenticate.
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from livecast.packaging.packager import AUDIO, SOURCE, StreamPackager
from livecast.packaging.rendition import SLACK_MS, LiveSegment, Rendition
from livecast.protocols.hls.media_playlist import (
    MediaPlaylist,
    Part,
    RenditionReport,
    Segment,
    ServerControl,
    Skip,
    render_media_playlist,
)
from livecast.protocols.hls.multivariant import AudioRendition, Variant, render_multivariant

SKIP_TARGET_DURATIONS = 6  # CAN-SKIP-UNTIL, in target durations (Apple asks for at least six)


@dataclass(frozen=True, slots=True)
class Rendered:
    text: bytes
    gzipped: bytes


def segment_uri(msn: int, suffix: str) -> str:
    return f"seg-{msn}.m4s{suffix}"


def part_uri(msn: int, index: int, suffix: str) -> str:
    return f"part-{msn}-{index}.m4s{suffix}"


def init_uri(version: int, suffix: str) -> str:
    return f"init-{version}.mp4{suffix}"


def target_duration(packager: StreamPackager) -> int:
    return max(1, math.ceil(packager.options.segment_target_ms / 1000))


def preload_hint(rendition: Rendition) -> tuple[int, int]:
    """(msn, part index) of the next part to be written: the one players should preload."""
    segment = rendition.current
    if segment is None:
        return rendition.next_msn, 0
    if segment.parts and not segment.parts[-1].complete:
        return segment.msn, segment.parts[-1].index
    return segment.msn, len(segment.parts)


def media_playlist(packager: StreamPackager, rendition: Rendition, suffix: str) -> MediaPlaylist:
    target = target_duration(packager)
    part_target = (packager.options.part_target_ms + SLACK_MS) / 1000
    zero = packager.wall_clock_at_zero
    segments = [_segment(segment, suffix, zero) for segment in rendition.segments]
    hint = None if rendition.ended else part_uri(*preload_hint(rendition), suffix)
    reports = []
    for name, sibling in packager.renditions.items():
        last = sibling.last_complete_part()
        if sibling is not rendition and last is not None:
            reports.append(RenditionReport(f"../{name}/index.m3u8{suffix}", *last))
    return MediaPlaylist(
        target_duration=target,
        segments=segments,
        msn_start=rendition.segments[0].msn if rendition.segments else rendition.next_msn,
        part_target=part_target,
        discontinuity_sequence=rendition.discontinuity_sequence,
        preload_hint_uri=hint,
        rendition_reports=reports,
        server_control=ServerControl(
            can_block_reload=True,
            part_hold_back=3 * part_target,
            can_skip_until=SKIP_TARGET_DURATIONS * target,
        ),
        ended=rendition.ended,
        map_uri=segments[0].map_uri if segments else init_uri(rendition.init_version, suffix),
        version=9,
    )


def _segment(segment: LiveSegment, suffix: str, zero: datetime) -> Segment:
    parts = [
        Part(part_uri(segment.msn, p.index, suffix), p.duration_ms / 1000, p.independent)
        for p in segment.parts
        if p.complete
    ]
    return Segment(
        msn=segment.msn,
        uri=segment_uri(segment.msn, suffix) if segment.complete else None,
        duration_s=segment.duration_ms / 1000,
        parts=parts,
        program_date_time=zero + timedelta(milliseconds=segment.first_dts),
        discontinuity=segment.discontinuity,
        gap=segment.gap,
        map_uri=init_uri(segment.init_version, suffix),
    )


def render_media(
    packager: StreamPackager, rendition: Rendition, skip: Skip, suffix: str
) -> Rendered:
    """The rendered playlist, cached until the rendition's playlist changes."""
    cache = rendition.views
    key = (rendition.playlist_version, skip, suffix)
    found: Rendered | None = cache.get(key)
    if found is None:
        text = render_media_playlist(media_playlist(packager, rendition, suffix), skip).encode()
        found = Rendered(text, gzip.compress(text, 5))
        if len(cache) > 16 or any(k[0] != key[0] for k in cache):  # type: ignore[index]
            cache.clear()
        cache[key] = found
    return found


def bandwidth(rendition: Rendition) -> tuple[int, int]:
    """(peak, average) bits per second, measured over the complete segments in the window."""
    complete = [s for s in rendition.segments if s.complete and s.duration_ms > 0]
    if not complete:
        part_bytes = sum(len(c) for s in rendition.segments for p in s.parts for c in p.chunks)
        part_ms = sum(p.duration_ms for s in rendition.segments for p in s.parts)
        rate = part_bytes * 8000 // part_ms if part_ms else 0
        return rate, rate
    peak = max(s.size * 8000 // s.duration_ms for s in complete)
    average = sum(s.size for s in complete) * 8000 // sum(s.duration_ms for s in complete)
    return peak, average


def render_master(packager: StreamPackager, suffix: str) -> bytes:
    video = packager.renditions.get(SOURCE)
    audio = packager.renditions.get(AUDIO)
    audio_peak, audio_average = bandwidth(audio) if audio else (0, 0)
    audio_renditions = []
    if audio is not None:
        audio_renditions.append(
            AudioRendition(
                uri=f"{AUDIO}/index.m3u8{suffix}",
                name="Audio",
                channels=audio.track.channels,
            )
        )
    variants = []
    if video is not None:
        # The source first (the top variant), then every rung that has a complete segment:
        # classic players drop a variant whose playlist lists no segment.
        rungs = [r for r in packager.rungs if any(s.complete and not s.gap for s in r.segments)]
        for rendition in (video, *rungs):
            peak, average = bandwidth(rendition)
            track = rendition.track
            codecs = [track.codec_string] + ([audio.track.codec_string] if audio else [])
            size = (track.width, track.height)
            variants.append(
                Variant(
                    uri=f"{rendition.name}/index.m3u8{suffix}",
                    bandwidth=max(1, peak + audio_peak),
                    average_bandwidth=max(1, average + audio_average),
                    codecs=codecs,
                    resolution=size if None not in size else None,  # type: ignore[arg-type]
                    frame_rate=track.frame_rate,
                    audio_group="audio" if audio else None,
                )
            )
    elif audio is not None:
        variants.append(
            Variant(
                uri=f"{AUDIO}/index.m3u8{suffix}",
                bandwidth=max(1, audio_peak),
                average_bandwidth=max(1, audio_average),
                codecs=[audio.track.codec_string],
            )
        )
    return render_multivariant(variants, audio_renditions).encode()
