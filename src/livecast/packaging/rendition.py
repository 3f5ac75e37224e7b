"""The LL-HLS segmenter of one rendition: units in, CMAF chunks, parts and segments out.

* **Chunks.** Each video unit becomes its own CMAF chunk (``moof`` + ``mdat``); audio units are
  grouped a few at a time. A part is a run of chunks, so a player that asked for the
  preload-hinted part receives each chunk as it is written.
* **Parts** close right after the unit that fills them: when one more unit would take the part
  past the part target. Waiting for the next unit would cost a frame of latency.
* **Segments** are cut where the caller says (:meth:`Rendition.add` with ``cut=True``): at video
  keyframes for video, at the same media time for audio, so segment N of every rendition covers
  the same time.
* **Memory.** A completed segment's chunks are joined once; its parts become slices of it.
  Segments older than ``memory_segments`` are written to ``spill_dir`` and dropped from memory;
  segments older than the DVR window are forgotten, so memory stays bounded whatever the window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from livecast.media.unit import Track, Unit
from livecast.protocols.h264 import AVCDecoderConfigurationRecord
from livecast.protocols.mp4.fragment import Fragmenter

log = logging.getLogger(__name__)

AUDIO_UNITS_PER_CHUNK = 4
# Millisecond timestamps round a 33.33 ms frame to 33 or 34 ms: a part may exceed its target by
# that rounding, and the advertised PART-TARGET includes it (see ``advertised_part_target``).
SLACK_MS = 1


@dataclass(eq=False, slots=True)
class LivePart:
    msn: int
    index: int
    independent: bool
    first_dts: int
    chunks: list[bytes] = field(default_factory=list)
    duration_ms: int = 0
    complete: bool = False
    offset: int = 0  # within the segment's bytes, once the segment is complete
    size: int = 0
    last_in_at: float = 0.0  # monotonic time its newest unit arrived


@dataclass(eq=False, slots=True)
class InitSegment:
    """One version of a rendition's init segment and the codec configuration it describes."""

    track: Track
    data: bytes
    # Decode time (track timescale) of the first segment that uses it: where a DASH Period
    # starts, even once that segment has left the window.
    start_ticks: int | None = None


@dataclass(eq=False, slots=True)
class LiveSegment:
    msn: int
    first_dts: int
    discontinuity: bool
    init_version: int
    parts: list[LivePart] = field(default_factory=list)
    duration_ms: int = 0
    complete: bool = False
    data: bytes | None = None
    path: Path | None = None  # where it was spilled
    size: int = 0
    start_ticks: int | None = None  # decode time of its first sample, in the track's timescale
    end_ticks: int | None = None
    gap: bool = False  # a transcoded rung has no media for it (EXT-X-GAP)


class Rendition:
    """One rendition's live parts and segments, and the events that announce them."""

    def __init__(
        self,
        name: str,
        track: Track,
        *,
        part_target_ms: int,
        window_seconds: float,
        memory_segments: int = 12,
        spill_dir: Path | None = None,
        first_msn: int = 0,
    ) -> None:
        self.name = name
        self.track = track
        self.part_target_ms = part_target_ms
        self.window_ms = int(window_seconds * 1000)
        self.memory_segments = memory_segments
        self.spill_dir = spill_dir
        self.fragmenter = Fragmenter(track)
        self.init_version = 0
        # Init segments by version, kept while a listed segment names one (and the newest).
        self.inits: dict[int, InitSegment] = {0: InitSegment(track, self.fragmenter.init_segment())}
        self.segments: deque[LiveSegment] = deque()
        self.next_msn = first_msn
        self.discontinuity_sequence = 0
        self.ended = False
        self.bytes_out = 0
        self.version = 0  # bumps whenever a chunk, part or segment appears
        self.playlist_version = 0  # bumps when the playlist text would change
        self._changed = asyncio.Event()
        # Called (synchronously) when the playlist changes: a part, a segment or the end.
        self.playlist_listeners: set[Callable[[Rendition], None]] = set()
        self.views: dict[Hashable, Any] = {}  # rendered playlists, cached by their renderers
        self._pending_audio: list[Unit] = []
        self._discontinuity = False  # a reconnect happened; the next segment is marked
        self._in_band = b""  # parameter sets for the first keyframe after a new configuration
        self._frame_ms = 0.0  # smoothed video frame duration
        self._last_dts: int | None = None
        self._spilling: set[asyncio.Task[None]] = set()
        # Told each completed part's publish latency (its last unit in -> part out), seconds.
        self.part_observer: Callable[[float], None] | None = None

    # -- input ----------------------------------------------------------------------------

    @property
    def current(self) -> LiveSegment | None:
        return self.segments[-1] if self.segments and not self.segments[-1].complete else None

    @property
    def current_part(self) -> LivePart | None:
        segment = self.current
        if segment is None or not segment.parts or segment.parts[-1].complete:
            return None
        return segment.parts[-1]

    def set_track(self, track: Track) -> bool:
        """New codec configuration: a new init segment from the next segment on.

        That segment is a discontinuity (the encoding parameters changed). Returns whether the
        configuration changed.
        """
        if track == self.track:
            return False
        self.close_segment()
        self.track = track
        self.fragmenter = Fragmenter(track, first_sequence_number=self.fragmenter.sequence_number)
        self.init_version += 1
        self.inits[self.init_version] = InitSegment(track, self.fragmenter.init_segment())
        self.mark_discontinuity()
        if track.codec == "h264" and self.segments:
            # Also in-band: players that read one init segment only then still switch.
            self._in_band = AVCDecoderConfigurationRecord.parse(
                track.config
            ).in_band_parameter_sets()
        return True

    def mark_discontinuity(self) -> None:
        """Mark the next segment with EXT-X-DISCONTINUITY."""
        self._discontinuity = True

    def add(self, unit: Unit, *, cut: bool) -> None:
        """Append ``unit``; ``cut`` starts a new segment with it."""
        arrived = time.monotonic()
        self._discontinuity |= unit.discontinuity
        if self._last_dts is not None and unit.dts > self._last_dts:
            delta = unit.dts - self._last_dts
            self._frame_ms = delta if not self._frame_ms else 0.9 * self._frame_ms + 0.1 * delta
        self._last_dts = unit.dts
        if cut or self.current is None:
            self.close_segment()
            self._open_segment(unit)
        elif self.current_part is None:
            self._open_part(unit)
        part = self.current_part
        assert part is not None
        part.last_in_at = arrived
        if unit.kind == "video":
            if self._in_band and unit.keyframe:
                unit = replace(unit, payload=self._in_band + unit.payload)
                self._in_band = b""
            self._append(part, self.fragmenter.fragment([unit]), unit)
        else:
            self._pending_audio.append(unit)
            if len(self._pending_audio) >= AUDIO_UNITS_PER_CHUNK:
                self._flush_audio(part)
        frame = self._unit_duration(unit)
        part.duration_ms = round(unit.dts + frame - part.first_dts)
        if unit.dts + 2 * frame - part.first_dts > self.part_target_ms + SLACK_MS:
            self._close_part()  # one more unit would not fit
        self._notify(playlist=False)

    def close_segment(self) -> None:
        segment = self.current
        if segment is None:
            return
        self._close_part()
        segment.parts = [part for part in segment.parts if part.chunks]
        data = b"".join(chunk for part in segment.parts for chunk in part.chunks)
        offset = 0
        for part in segment.parts:
            part.offset, part.size = offset, sum(len(c) for c in part.chunks)
            part.chunks = []
            offset += part.size
        segment.data, segment.size = data, len(data)
        segment.duration_ms = sum(part.duration_ms for part in segment.parts)
        segment.end_ticks = self.fragmenter.end_time
        segment.complete = True
        self._evict()
        self._notify(playlist=True)

    def add_gap(self, msn: int, first_dts: int, duration_ms: int) -> None:
        """List segment ``msn`` with no media (a rung's encoder was restarting)."""
        self.close_segment()
        segment = LiveSegment(msn, first_dts, False, self.init_version, gap=True)
        segment.duration_ms, segment.complete = duration_ms, True
        self.segments.append(segment)
        self.next_msn = msn + 1
        self._discontinuity = True
        self._evict()
        self._notify(playlist=True)

    def finish(self) -> None:
        """The stream ended: close what is open and mark the playlist ended."""
        self.close_segment()
        self.ended = True
        self._notify(playlist=True)

    def _open_segment(self, unit: Unit) -> None:
        # EXT-X-DISCONTINUITY-SEQUENCE counts discontinuities once they leave the window.
        discontinuity = self._discontinuity and bool(self.segments)
        self._discontinuity = False
        segment = LiveSegment(self.next_msn, unit.dts, discontinuity, self.init_version)
        self.next_msn += 1
        self.segments.append(segment)
        self._open_part(unit)

    def _open_part(self, unit: Unit) -> None:
        segment = self.current
        assert segment is not None
        independent = unit.keyframe or unit.kind == "audio"
        part = LivePart(segment.msn, len(segment.parts), independent, unit.dts)
        segment.parts.append(part)

    def _close_part(self) -> None:
        part = self.current_part
        if part is None:
            return
        self._flush_audio(part)
        part.complete = True
        if self.part_observer is not None:
            self.part_observer(time.monotonic() - part.last_in_at)
        self._notify(playlist=True)

    def _flush_audio(self, part: LivePart) -> None:
        if self._pending_audio:
            units, self._pending_audio = self._pending_audio, []
            self._append(part, self.fragmenter.fragment(units), units[-1])

    def _append(self, part: LivePart, chunk: bytes, unit: Unit) -> None:
        segment = self.current
        if segment is not None and segment.start_ticks is None:
            segment.start_ticks = self.fragmenter.decode_time
            init = self.inits.get(segment.init_version)
            if init is not None and init.start_ticks is None:
                init.start_ticks = segment.start_ticks
            if len(self.segments) > 1 and not segment.discontinuity:
                # The previous segment's last duration was an estimate; now it is known.
                self.segments[-2].end_ticks = segment.start_ticks
        part.chunks.append(chunk)
        self.bytes_out += len(chunk)

    def _unit_duration(self, unit: Unit) -> float:
        if unit.kind == "audio" and self.track.sample_rate:
            return (self.track.samples_per_frame or 1024) * 1000 / self.track.sample_rate
        return self._frame_ms or 33.3

    # -- window ---------------------------------------------------------------------------

    def _evict(self) -> None:
        complete = [s for s in self.segments if s.complete]
        live_edge = complete[-1].first_dts + complete[-1].duration_ms if complete else 0
        while len(self.segments) > 1:
            oldest = self.segments[0]
            if oldest.first_dts + oldest.duration_ms >= live_edge - self.window_ms:
                break
            self.segments.popleft()
            if self.segments[0].discontinuity:
                self.discontinuity_sequence += 1
            if oldest.path is not None:
                oldest.path.unlink(missing_ok=True)
        self._drop_unused_inits()
        in_memory = [s for s in complete if s.data is not None]
        for segment in in_memory[: max(0, len(in_memory) - self.memory_segments)]:
            self._spill(segment)

    def _drop_unused_inits(self) -> None:
        oldest = min((s.init_version for s in self.segments), default=self.init_version)
        for version in [v for v in self.inits if v < oldest]:
            del self.inits[version]

    def _spill(self, segment: LiveSegment) -> None:
        if self.spill_dir is None or segment.data is None:
            return  # without a spill dir the whole window stays in memory
        path = self.spill_dir / self.name / f"seg-{segment.msn}.m4s"
        data = segment.data

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        async def spill() -> None:
            try:
                await asyncio.to_thread(write)
            except OSError:
                log.exception("could not spill a segment; keeping it in memory")
                return
            segment.path = path
            segment.data = None

        task = asyncio.get_running_loop().create_task(spill())
        self._spilling.add(task)
        task.add_done_callback(self._spilling.discard)

    # -- lookups --------------------------------------------------------------------------

    def segment(self, msn: int) -> LiveSegment | None:
        if not self.segments:
            return None
        index = msn - self.segments[0].msn
        return self.segments[index] if 0 <= index < len(self.segments) else None

    def last_complete_part(self) -> tuple[int, int] | None:
        """(msn, part index) of the newest complete part."""
        for segment in reversed(self.segments):
            for part in reversed(segment.parts):
                if part.complete:
                    return segment.msn, part.index
        return None

    def has_part(self, msn: int, index: int | None) -> bool:
        """Whether part ``index`` of segment ``msn`` (or the whole segment) is complete."""
        segment = self.segment(msn)
        if segment is None:
            return bool(self.segments) and msn < self.segments[0].msn
        if index is None:
            return segment.complete
        return (len(segment.parts) > index and segment.parts[index].complete) or (
            segment.complete and index >= len(segment.parts)
        )

    async def segment_bytes(self, segment: LiveSegment) -> bytes:
        if segment.data is not None:
            return segment.data
        assert segment.path is not None
        return await asyncio.to_thread(segment.path.read_bytes)

    # -- change notification --------------------------------------------------------------

    def _notify(self, *, playlist: bool) -> None:
        self.version += 1
        if playlist:
            self.playlist_version += 1
            for listener in tuple(self.playlist_listeners):
                listener(self)
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def wait_change(self) -> None:
        """Return at the next change (a chunk, part, segment or the end)."""
        await self._changed.wait()

    async def close(self) -> None:
        await asyncio.gather(*self._spilling, return_exceptions=True)
