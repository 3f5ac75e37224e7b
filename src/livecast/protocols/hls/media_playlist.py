"""LL-HLS Media Playlists (RFC 8216bis; Apple, "Enabling Low-Latency HTTP Live Streaming").

The packager describes a rendition's current state with the plain dataclasses below and calls
:func:`render_media_playlist` for every request; rendering is a pure function of that state.
A :class:`Segment` whose ``uri`` is None is the one still being written: only its parts are
listed. EXT-X-PART tags are kept for the in-progress segment and for every segment that ends
less than three Target Durations before the end of the Playlist, where clients use them
(RFC 8216bis, 4.4.4.9); older segments are listed by EXTINF alone.

Delta updates (``skip="yes"``, from ``_HLS_skip=YES``) replace the segments that end at least
CAN-SKIP-UNTIL seconds before the end with one EXT-X-SKIP tag; a segment straddling the Skip
Boundary stays. ``skip="v2"`` asks to skip EXT-X-DATERANGE tags too; livecast writes none, so
the answer is the same delta plus an empty RECENTLY-REMOVED-DATERANGES.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

from livecast.protocols.hls.attributes import date_time, decimal, quoted

Skip = Literal["none", "yes", "v2"]

# Partial segments count as "near the end" within this many Target Durations.
PART_WINDOW_TARGET_DURATIONS = 3
# Protocol versions that the features used require (RFC 8216bis, 8).
_VERSION_MAP = 6
_VERSION_LOW_LATENCY = 9
_VERSION_SKIP_DATERANGES = 10


@dataclass(frozen=True, slots=True)
class ByteRange:
    length: int
    offset: int | None = None

    def __str__(self) -> str:
        return str(self.length) if self.offset is None else f"{self.length}@{self.offset}"


@dataclass(frozen=True, slots=True)
class Part:
    """A Partial Segment: ``independent`` when it starts with a keyframe."""

    uri: str
    duration_s: float
    independent: bool = False
    byterange: ByteRange | None = None
    gap: bool = False


@dataclass(frozen=True, slots=True)
class Segment:
    """A Media Segment; ``uri`` None marks the in-progress one (parts only, always last).

    ``map_uri`` names its Media Initialization Section; None means the same as the segment
    before it (or the playlist's ``map_uri`` for the first).
    """

    msn: int
    uri: str | None
    duration_s: float
    parts: Sequence[Part] = ()
    program_date_time: datetime | None = None
    discontinuity: bool = False
    gap: bool = False
    map_uri: str | None = None

    @property
    def complete(self) -> bool:
        return self.uri is not None

    @property
    def listed_duration(self) -> float:
        """The duration a client can account for: the parts so far while in progress."""
        return self.duration_s if self.uri is not None else sum(p.duration_s for p in self.parts)


class RenditionReport(NamedTuple):
    uri: str
    last_msn: int
    last_part: int | None = None


@dataclass(frozen=True, slots=True)
class ServerControl:
    """EXT-X-SERVER-CONTROL; ``part_hold_back`` None means three Part Target Durations."""

    can_block_reload: bool = True
    part_hold_back: float | None = None
    can_skip_until: float | None = None
    hold_back: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaPlaylist:
    """One rendition's playlist state.

    ``target_duration`` must not change while the stream is live (RFC 8216bis);
    if a segment is longer, the rendered EXT-X-TARGETDURATION rises to cover it rather than
    produce an invalid playlist. "Cover" is the RFC's rule, the EXTINF rounded to the nearest
    integer, not its ceiling: audio segments end on AAC frame boundaries a few milliseconds past
    the target, and a ceiling would add a whole Target Duration to every client's hold-back.
    ``segments[i].msn`` must equal ``msn_start + i``. ``map_uri`` is the EXT-X-MAP of the first
    segment; a segment whose ``map_uri`` differs from the one before it gets its own EXT-X-MAP.
    """

    target_duration: int
    segments: Sequence[Segment]
    msn_start: int = 0
    part_target: float | None = None
    discontinuity_sequence: int = 0
    preload_hint_uri: str | None = None
    rendition_reports: Sequence[RenditionReport] = ()
    server_control: ServerControl | None = None
    ended: bool = False
    map_uri: str | None = None
    version: int = 3


def render_media_playlist(p: MediaPlaylist, skip: Skip = "none") -> str:
    """The playlist text; ``skip`` is the client's ``_HLS_skip`` directive.

    Raises ValueError when the state is inconsistent (MSNs, in-progress segment position,
    quoted values).
    """
    _check(p)
    skipped = _skipped_count(p) if skip != "none" else 0
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{_version(p, skip if skipped else 'none')}"]
    lines.append(f"#EXT-X-TARGETDURATION:{_target_duration(p)}")
    if p.server_control is not None:
        lines.append(_server_control(p.server_control, p.part_target))
    if p.part_target is not None:
        lines.append(f"#EXT-X-PART-INF:PART-TARGET={decimal(p.part_target)}")
    lines.append(f"#EXT-X-MEDIA-SEQUENCE:{p.msn_start}")
    lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{p.discontinuity_sequence}")
    if p.map_uri is not None:
        lines.append(f"#EXT-X-MAP:URI={quoted(p.map_uri)}")
    if skipped:
        daterange = ',RECENTLY-REMOVED-DATERANGES=""' if skip == "v2" else ""
        lines.append(f"#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}{daterange}")
    parts_from = _first_segment_with_parts(p)
    # An EXT-X-MAP applies until the next one. After EXT-X-SKIP the client keeps the skipped
    # segments' maps but reads the listed ones' from here, so the first listed segment names
    # its map whenever it differs from the one in the header.
    current_map = p.map_uri
    for index in range(skipped, len(p.segments)):
        segment = p.segments[index]
        new_map = segment.map_uri if segment.map_uri not in (None, current_map) else None
        current_map = new_map or current_map
        _segment_lines(lines, segment, index >= parts_from, new_map)
    if p.preload_hint_uri is not None and not p.ended:
        lines.append(f"#EXT-X-PRELOAD-HINT:TYPE=PART,URI={quoted(p.preload_hint_uri)}")
    for report in p.rendition_reports:
        lines.append(_rendition_report(report))
    if p.ended:
        lines.append("#EXT-X-ENDLIST")
    lines.append("")
    return "\n".join(lines)


def _check(p: MediaPlaylist) -> None:
    control = p.server_control
    if control is not None:
        # RFC 8216bis 4.4.3.8: PART-HOLD-BACK >= 2 x PART-TARGET, CAN-SKIP-UNTIL >= 6 x TD
        hold_back = control.part_hold_back
        if hold_back is not None and p.part_target is not None and hold_back < 2 * p.part_target:
            raise ValueError("PART-HOLD-BACK must be at least twice PART-TARGET")
        skip_until = control.can_skip_until
        if skip_until is not None and skip_until < 6 * p.target_duration:
            raise ValueError("CAN-SKIP-UNTIL must be at least six Target Durations")
    for offset, segment in enumerate(p.segments):
        if segment.msn != p.msn_start + offset:
            raise ValueError(f"segment {offset} has MSN {segment.msn}, not {p.msn_start + offset}")
        if segment.uri is None and offset != len(p.segments) - 1:
            raise ValueError("only the last segment can be in progress")


def _version(p: MediaPlaylist, skip: Skip) -> int:
    version = p.version
    if p.map_uri is not None:
        version = max(version, _VERSION_MAP)
    low_latency = p.part_target is not None or (
        p.server_control is not None and p.server_control.can_skip_until is not None
    )
    if low_latency or skip != "none":
        version = max(version, _VERSION_LOW_LATENCY)
    if skip == "v2":
        version = max(version, _VERSION_SKIP_DATERANGES)
    return version


def _target_duration(p: MediaPlaylist) -> int:
    # EXTINF rounded to the nearest integer must not exceed it (RFC 8216bis, 4.4.3.1).
    longest = max((s.duration_s for s in p.segments if s.uri is not None), default=0.0)
    return max(p.target_duration, math.floor(longest + 0.5))


def _server_control(control: ServerControl, part_target: float | None) -> str:
    attributes = []
    if control.can_block_reload:
        attributes.append("CAN-BLOCK-RELOAD=YES")
    if control.can_skip_until is not None:
        attributes.append(f"CAN-SKIP-UNTIL={decimal(control.can_skip_until)}")
    if control.hold_back is not None:
        attributes.append(f"HOLD-BACK={decimal(control.hold_back)}")
    hold_back = control.part_hold_back
    if hold_back is None and part_target is not None:
        hold_back = 3 * part_target
    if hold_back is not None:
        attributes.append(f"PART-HOLD-BACK={decimal(hold_back)}")
    return "#EXT-X-SERVER-CONTROL:" + ",".join(attributes)


def _ends(p: MediaPlaylist) -> tuple[list[float], float]:
    """Each segment's end time from the start of the playlist, and the playlist's end."""
    ends, clock = [], 0.0
    for segment in p.segments:
        clock += segment.listed_duration
        ends.append(clock)
    return ends, clock


def _skipped_count(p: MediaPlaylist) -> int:
    control = p.server_control
    if control is None or control.can_skip_until is None:
        return 0  # the server does not offer delta updates: answer in full
    ends, end = _ends(p)
    boundary = end - control.can_skip_until
    return sum(1 for segment_end in ends if segment_end <= boundary)


def _first_segment_with_parts(p: MediaPlaylist) -> int:
    if p.part_target is None:
        return len(p.segments)
    ends, end = _ends(p)
    window = PART_WINDOW_TARGET_DURATIONS * p.target_duration
    for index, segment_end in enumerate(ends):
        if end - segment_end < window:
            return index
    return len(p.segments)


def _segment_lines(
    lines: list[str], segment: Segment, with_parts: bool, map_uri: str | None
) -> None:
    if segment.discontinuity:
        lines.append("#EXT-X-DISCONTINUITY")
    if map_uri is not None:
        lines.append(f"#EXT-X-MAP:URI={quoted(map_uri)}")
    if segment.program_date_time is not None:
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{date_time(segment.program_date_time)}")
    if with_parts or segment.uri is None:
        lines.extend(_part(part) for part in segment.parts)
    if segment.uri is not None:
        if segment.gap:
            lines.append("#EXT-X-GAP")
        lines.append(f"#EXTINF:{decimal(segment.duration_s)},")
        lines.append(segment.uri)


def _part(part: Part) -> str:
    line = f"#EXT-X-PART:DURATION={decimal(part.duration_s)},URI={quoted(part.uri)}"
    if part.independent:
        line += ",INDEPENDENT=YES"
    if part.byterange is not None:
        line += f',BYTERANGE="{part.byterange}"'
    if part.gap:
        line += ",GAP=YES"
    return line


def _rendition_report(report: RenditionReport) -> str:
    line = f"#EXT-X-RENDITION-REPORT:URI={quoted(report.uri)},LAST-MSN={report.last_msn}"
    if report.last_part is not None:
        line += f",LAST-PART={report.last_part}"
    return line
