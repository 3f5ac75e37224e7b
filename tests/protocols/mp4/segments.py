"""A minimal test-side packager: cuts units into segments of parts on a fixed time grid.

Segments start on the grid at a keyframe (any audio frame will do); parts start on a finer
grid. Each part is one fMP4 fragment and a segment is its parts concatenated, as CMAF allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from livecast.media.unit import Track, Unit
from livecast.protocols.mp4 import Fragmenter


@dataclass
class PartFile:
    data: bytes
    start: int  # decode time of the first sample, in timescale ticks
    duration: int
    independent: bool


@dataclass
class SegmentFile:
    parts: list[PartFile]

    @property
    def start(self) -> int:
        return self.parts[0].start

    @property
    def duration(self) -> int:
        return sum(part.duration for part in self.parts)

    @property
    def data(self) -> bytes:
        return b"".join(part.data for part in self.parts)


@dataclass
class Rendition:
    track: Track
    timescale: int
    init: bytes
    segments: list[SegmentFile]


def group(units: Sequence[Unit], segment_ms: int, part_ms: int) -> list[list[list[Unit]]]:
    """Units as segments of parts."""
    segments: list[list[list[Unit]]] = []
    segment_index = part_index = -1
    for unit in units:
        grid = unit.dts // segment_ms
        if not segments or (grid > segment_index and unit.keyframe):
            segments.append([])
            segment_index, part_index = grid, -1
        slot = (unit.dts - segment_index * segment_ms) // part_ms
        if slot > part_index:
            segments[-1].append([])
            part_index = slot
        segments[-1][-1].append(unit)
    return segments


def package(
    track: Track, units: Sequence[Unit], segment_ms: int = 2000, part_ms: int = 500
) -> Rendition:
    fragmenter = Fragmenter(track)
    grouped = group(units, segment_ms, part_ms)
    flat = [part for segment in grouped for part in segment]
    follow = [part[0].dts for part in flat[1:]] + [None]
    next_dts = iter(follow)
    segments = []
    for segment in grouped:
        files = []
        for part in segment:
            data = fragmenter.fragment(part, next(next_dts))
            assert fragmenter.decode_time is not None
            assert fragmenter.end_time is not None
            duration = fragmenter.end_time - fragmenter.decode_time
            files.append(PartFile(data, fragmenter.decode_time, duration, part[0].keyframe))
        segments.append(SegmentFile(files))
    return Rendition(track, fragmenter.timescale, fragmenter.init_segment(), segments)
