"""A small test-side M3U8 reader and the RFC 8216bis rules the rendered playlists must obey."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"\r\n]*"|[^",\s]*)(?:,|$)')
# Tags that may appear at most once in a Media Playlist (RFC 8216bis, 4.4.3).
_ONCE = (
    "#EXT-X-VERSION", "#EXT-X-TARGETDURATION", "#EXT-X-MEDIA-SEQUENCE",
    "#EXT-X-DISCONTINUITY-SEQUENCE", "#EXT-X-SERVER-CONTROL", "#EXT-X-PART-INF", "#EXT-X-SKIP",
    "#EXT-X-ENDLIST", "#EXT-X-PRELOAD-HINT",
)  # fmt: skip


def attributes(text: str) -> dict[str, str]:
    """An attribute list; quoted values keep their quotes so tests can check them."""
    found = {m.group(1): m.group(2) for m in _ATTRIBUTE.finditer(text)}
    rebuilt = ",".join(f"{k}={v}" for k, v in found.items())
    assert rebuilt == text, f"not a clean attribute list: {text!r}"
    return found


def unquote(value: str) -> str:
    assert value[:1] == value[-1:] == '"', value
    return value[1:-1]


@dataclass
class ParsedPart:
    duration: float
    uri: str
    independent: bool
    attributes: dict[str, str]


@dataclass
class ParsedSegment:
    msn: int
    duration: float | None  # None for the in-progress segment
    uri: str | None
    parts: list[ParsedPart] = field(default_factory=list)
    program_date_time: str | None = None
    discontinuity: bool = False
    gap: bool = False


@dataclass
class ParsedPlaylist:
    lines: list[str]
    version: int = 1
    target_duration: int = 0
    media_sequence: int = 0
    discontinuity_sequence: int = 0
    part_target: float | None = None
    server_control: dict[str, str] = field(default_factory=dict)
    skipped: int = 0
    skip_attributes: dict[str, str] = field(default_factory=dict)
    map_uri: str | None = None
    segments: list[ParsedSegment] = field(default_factory=list)
    preload_hint: dict[str, str] | None = None
    rendition_reports: list[dict[str, str]] = field(default_factory=list)
    ended: bool = False

    @property
    def parts(self) -> list[ParsedPart]:
        return [part for segment in self.segments for part in segment.parts]


def parse_media(text: str) -> ParsedPlaylist:
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    assert text.endswith("\n")
    for tag in _ONCE:
        assert sum(line.split(":")[0] == tag for line in lines) <= 1, tag
    p = ParsedPlaylist(lines)
    pending = ParsedSegment(0, None, None)
    for line in lines[1:]:
        tag, _, value = line.partition(":")
        if tag == "#EXT-X-VERSION":
            p.version = int(value)
        elif tag == "#EXT-X-TARGETDURATION":
            p.target_duration = int(value)
        elif tag == "#EXT-X-MEDIA-SEQUENCE":
            p.media_sequence = int(value)
        elif tag == "#EXT-X-DISCONTINUITY-SEQUENCE":
            p.discontinuity_sequence = int(value)
        elif tag == "#EXT-X-PART-INF":
            p.part_target = float(attributes(value)["PART-TARGET"])
        elif tag == "#EXT-X-SERVER-CONTROL":
            p.server_control = attributes(value)
        elif tag == "#EXT-X-MAP":
            p.map_uri = unquote(attributes(value)["URI"])
        elif tag == "#EXT-X-SKIP":
            p.skip_attributes = attributes(value)
            p.skipped = int(p.skip_attributes["SKIPPED-SEGMENTS"])
        elif tag == "#EXT-X-DISCONTINUITY":
            pending.discontinuity = True
        elif tag == "#EXT-X-PROGRAM-DATE-TIME":
            pending.program_date_time = value
        elif tag == "#EXT-X-GAP":
            pending.gap = True
        elif tag == "#EXT-X-PART":
            a = attributes(value)
            part = ParsedPart(
                float(a["DURATION"]), unquote(a["URI"]), a.get("INDEPENDENT") == "YES", a
            )
            pending.parts.append(part)
        elif tag == "#EXTINF":
            assert value.endswith(",")
            pending.duration = float(value[:-1])
        elif tag == "#EXT-X-PRELOAD-HINT":
            p.preload_hint = attributes(value)
        elif tag == "#EXT-X-RENDITION-REPORT":
            p.rendition_reports.append(attributes(value))
        elif tag == "#EXT-X-ENDLIST":
            p.ended = True
        elif line and not line.startswith("#"):
            assert pending.duration is not None, f"URI without EXTINF: {line}"
            pending.uri = line
            pending.msn = p.media_sequence + p.skipped + len(p.segments)
            p.segments.append(pending)
            pending = ParsedSegment(0, None, None)
        else:
            assert line == "", f"unexpected line {line!r}"
    if pending.parts or pending.discontinuity:  # the in-progress segment
        pending.msn = p.media_sequence + p.skipped + len(p.segments)
        p.segments.append(pending)
    return p


def check_rules(p: ParsedPlaylist) -> None:
    """Assert the RFC 8216bis / Apple LL-HLS rules a rendered Media Playlist must satisfy."""
    assert p.target_duration >= 1
    for segment in p.segments:
        if segment.duration is not None:
            assert round(segment.duration) <= p.target_duration  # 4.4.3.1
    if p.map_uri is not None:
        assert p.version >= 6
    if p.part_target is not None or p.skipped:
        assert p.version >= 9
    if "RECENTLY-REMOVED-DATERANGES" in p.skip_attributes:
        assert p.version >= 10
    if p.part_target is not None:
        hold_back = float(p.server_control["PART-HOLD-BACK"])
        assert hold_back >= 2 * p.part_target  # 4.4.3.8
        for segment in p.segments:
            for index, part in enumerate(segment.parts):
                assert part.duration <= p.part_target + 0.0005  # 4.4.4.9, formatting slack
                final = index == len(segment.parts) - 1 and segment.uri is not None
                if not (final or part.independent):
                    assert part.duration >= 0.85 * p.part_target  # Apple: non-final parts
        if p.preload_hint is not None:
            assert p.preload_hint["TYPE"] == "PART"
    elif p.parts:
        raise AssertionError("EXT-X-PART without EXT-X-PART-INF")
    if "CAN-SKIP-UNTIL" in p.server_control:
        assert float(p.server_control["CAN-SKIP-UNTIL"]) >= 6 * p.target_duration  # 4.4.3.8
    if p.skipped:
        assert "CAN-SKIP-UNTIL" in p.server_control
    if p.ended:
        assert p.preload_hint is None
    in_progress = [s for s in p.segments if s.uri is None]
    assert in_progress in ([], p.segments[-1:])


@dataclass
class ParsedVariant:
    attributes: dict[str, str]
    uri: str


def parse_multivariant(text: str) -> tuple[list[str], list[dict[str, str]], list[ParsedVariant]]:
    """(lines, EXT-X-MEDIA attribute lists, variants)."""
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    media, variants = [], []
    pending: dict[str, str] | None = None
    for line in lines[1:]:
        tag, _, value = line.partition(":")
        if tag == "#EXT-X-MEDIA":
            media.append(attributes(value))
        elif tag == "#EXT-X-STREAM-INF":
            pending = attributes(value)
        elif line and not line.startswith("#"):
            assert pending is not None
            variants.append(ParsedVariant(pending, line))
            pending = None
    return lines, media, variants
