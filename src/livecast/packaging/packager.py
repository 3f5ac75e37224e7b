"""One live stream's packager: reads its media Stream and keeps its renditions' segments aligned.

Video keyframes decide segment boundaries: a new segment starts at the first keyframe at least
``segment_target_ms`` after the current one began (the encoder's GOP sets the real length), or at
once after a publisher reconnect. Audio starts its segment N at the first audio unit at or after
video's boundary, so every rendition's segment N covers the same media time. An audio-only
stream cuts by its own clock.

Transcoded rungs (:meth:`StreamPackager.add_rendition`) are extra video renditions fed from
their own Streams. Their encoder forced a keyframe at every source keyframe, on the source's
timeline, so a rung cuts segment N at its keyframe whose pts is the pts of the keyframe that
began the source's segment N. Segments a rung missed (its encoder was restarting) are listed
as gaps, so segment numbers stay the same across every rendition.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from livecast.media.stream import Reader, Stream, StreamClosed, StreamConfig
from livecast.media.unit import Track, Unit
from livecast.packaging.rendition import Rendition

log = logging.getLogger(__name__)

SOURCE = "source"
AUDIO = "audio"


@dataclass(frozen=True, slots=True)
class PackagingOptions:
    part_target_ms: int = 333
    segment_target_ms: int = 2000
    memory_segments: int = 12
    reader_queue: int = 100_000  # the packager must never be the reader that drops
    part_observer: Callable[[float], None] | None = None  # each part's publish latency, s


class StreamPackager:
    """The renditions of one stream, fed from its media Stream until the stream closes."""

    def __init__(
        self,
        stream_id: uuid.UUID,
        options: PackagingOptions,
        window_seconds: float,
        spill_dir: Path | None,
        public: bool,
    ) -> None:
        self.stream_id = stream_id
        self.options = options
        self.window_seconds = max(window_seconds, 3 * options.segment_target_ms / 1000)
        self.spill_dir = spill_dir
        self.public = public
        self.renditions: dict[str, Rendition] = {}
        self.ended_at: datetime | None = None
        self.started_at = datetime.now(UTC)
        # Wall-clock seconds of media time zero: the least-delayed arrival seen (arrival - dts).
        # The first units can arrive late (reading pauses while a publish is authorized), but
        # a live publisher never runs ahead of real time, so the minimum converges on its pace.
        self._zero: float | None = None
        self._video_starts: deque[tuple[int, int]] = deque(maxlen=8)  # (msn, first dts)
        self._pending_cut = False
        self._cuts: dict[int, int] = {}  # source segment starts: keyframe pts -> msn
        self._cut_order: deque[int] = deque()
        self.task: asyncio.Task[None] | None = None
        self._rung_tasks: dict[str, asyncio.Task[None]] = {}
        self._resyncing: set[str] = set()
        self._removed: list[Rendition] = []  # closed with the packager (spills may be pending)
        # Set once every rendition has a complete segment: classic HLS players (ffmpeg's
        # demuxer among them) ignore parts and drop a rendition whose playlist has no segment.
        self.ready = asyncio.Event()

    def start(self, media: Stream) -> None:
        reader = media.add_reader("packager", self.options.reader_queue)
        self.task = asyncio.create_task(self._run(reader), name=f"packager-{self.stream_id}")

    async def _run(self, reader: Reader) -> None:
        try:
            while True:
                for item in await reader.get_batch(256):
                    if isinstance(item, StreamConfig):
                        self._configure(item)
                    else:
                        self._add(item)
        except StreamClosed:
            pass
        except Exception:
            log.exception("packager failed", extra={"stream_id": str(self.stream_id)})
        finally:
            self.finish()

    def finish(self) -> None:
        if self.ended_at is None:
            self.ended_at = datetime.now(UTC)
            for rendition in self.renditions.values():
                rendition.finish()

    async def close(self) -> None:
        tasks = [*self._rung_tasks.values(), *([self.task] if self.task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for rendition in [*self.renditions.values(), *self._removed]:
            await rendition.close()

    # -- routing --------------------------------------------------------------------------

    def _configure(self, config: StreamConfig) -> None:
        for track in config.tracks:
            self._set_rendition(SOURCE if track.kind == "video" else AUDIO, track)

    def _set_rendition(self, name: str, track: Track) -> None:
        """Give rendition ``name`` this codec configuration, creating it on first sight."""
        existing = self.renditions.get(name)
        if existing is not None:
            audio = self.renditions.get(AUDIO)
            if existing.set_track(track) and name == SOURCE and audio is not None:
                # Audio's segment N starts where video's does: keep their discontinuity
                # sequences equal, as players align renditions by them.
                audio.mark_discontinuity()
            return
        self.renditions[name] = Rendition(
            name,
            track,
            part_target_ms=self.options.part_target_ms,
            window_seconds=self.window_seconds,
            memory_segments=self.options.memory_segments,
            spill_dir=self.spill_dir,
            first_msn=self._aligned_msn(),
        )
        self.renditions[name].part_observer = self.options.part_observer

    @property
    def wall_clock_at_zero(self) -> datetime:
        """The wall-clock time of media time zero: PROGRAM-DATE-TIME and DASH's anchor."""
        return datetime.fromtimestamp(self._zero if self._zero is not None else time.time(), UTC)

    def _aligned_msn(self) -> int:
        return max((r.next_msn for r in self.renditions.values()), default=0)

    def _add(self, unit: Unit) -> None:
        zero = time.time() - unit.dts / 1000
        if self._zero is None or zero < self._zero:
            self._zero = zero
        if unit.kind == "video":
            video = self.renditions.get(SOURCE)
            if video is None:
                return
            cut = self._video_cut(video, unit)
            video.add(unit, cut=cut)
            if cut and video.current is not None:
                self._video_starts.append((video.current.msn, unit.dts))
                self._note_cut(unit.pts, video.current.msn)
        else:
            audio = self.renditions.get(AUDIO)
            if audio is None:
                return
            audio.add(unit, cut=self._audio_cut(audio, unit))
        if not self.ready.is_set() and all(
            any(s.complete for s in r.segments)
            for name, r in self.renditions.items()
            if name in (SOURCE, AUDIO)
        ):
            self.ready.set()

    # -- transcoded rungs ------------------------------------------------------------------

    @property
    def rungs(self) -> list[Rendition]:
        """The transcoded video renditions, highest first."""
        rungs = [r for name, r in self.renditions.items() if name not in (SOURCE, AUDIO)]
        return sorted(rungs, key=lambda r: -(r.track.height or 0))

    def add_rendition(self, name: str, media: Stream) -> None:
        """Package ``media`` (a transcoded rung) as the video rendition ``name``."""
        old = self._rung_tasks.pop(name, None)
        if old is not None:  # a new ladder: its output joins at the next aligned keyframe
            old.cancel()
            self._resyncing.add(name)
        reader = media.add_reader(f"packager {name}", self.options.reader_queue)
        self._rung_tasks[name] = asyncio.create_task(
            self._run_rung(name, reader), name=f"packager-{self.stream_id}-{name}"
        )

    def remove_rendition(self, name: str) -> None:
        """Stop offering rung ``name``: the playlists drop it and its URLs answer 404."""
        task = self._rung_tasks.pop(name, None)
        if task is not None:
            task.cancel()
        self._resyncing.discard(name)
        rendition = self.renditions.pop(name, None)
        if rendition is not None:
            rendition.finish()  # requests held on it are answered now
            self._removed.append(rendition)

    async def _run_rung(self, name: str, reader: Reader) -> None:
        try:
            while True:
                for item in await reader.get_batch(256):
                    if isinstance(item, StreamConfig):
                        self._configure_rung(name, item)
                    elif item.kind == "video" and name in self.renditions:
                        self._add_rung_unit(self.renditions[name], item)
        except StreamClosed:
            pass
        except Exception:
            log.exception("rung packager failed", extra={"stream_id": str(self.stream_id)})

    def _configure_rung(self, name: str, config: StreamConfig) -> None:
        track = config.track("video")
        if track is not None:
            self._set_rendition(name, track)

    def _note_cut(self, pts: int, msn: int) -> None:
        self._cuts[pts] = msn
        self._cut_order.append(pts)
        while len(self._cut_order) > _CUTS_KEPT:
            self._cuts.pop(self._cut_order.popleft(), None)

    def _add_rung_unit(self, rung: Rendition, unit: Unit) -> None:
        if self.ended_at is not None:
            return
        if unit.discontinuity:  # a new encoder run: wait for its first aligned keyframe
            self._resyncing.add(rung.name)
        msn = self._cuts.get(unit.pts) if unit.keyframe else None
        last = rung.segments[-1].msn if rung.segments else None
        if msn is None or (last is not None and msn <= last):
            if rung.current is not None and rung.name not in self._resyncing:
                rung.add(unit, cut=False)
            return  # before its first aligned keyframe, a rung has nothing to show
        if rung.name in self._resyncing:
            self._resyncing.discard(rung.name)
            unit = replace(unit, discontinuity=True)
        source = self.renditions.get(SOURCE)
        if rung.segments and source is not None:
            for missing in range(rung.next_msn, msn):
                segment = source.segment(missing)
                if segment is not None:
                    rung.add_gap(missing, segment.first_dts, segment.duration_ms)
        rung.next_msn = msn
        rung.add(unit, cut=True)

    def _video_cut(self, video: Rendition, unit: Unit) -> bool:
        if unit.discontinuity:
            self._pending_cut = True
        if not unit.keyframe:
            return False
        segment = video.current
        if segment is None or self._pending_cut:
            self._pending_cut = False
            return True
        return unit.dts - segment.first_dts >= self.options.segment_target_ms - _JITTER_MS

    def _audio_cut(self, audio: Rendition, unit: Unit) -> bool:
        if SOURCE not in self.renditions:  # audio only: its own clock
            segment = audio.current
            return segment is None or unit.dts - segment.first_dts >= self.options.segment_target_ms
        segment = audio.current
        if segment is None:
            return True
        # Start audio's next segment where video's segment with a higher number starts.
        covering = [msn for msn, start in self._video_starts if start <= unit.dts]
        return bool(covering) and max(covering) > segment.msn


_JITTER_MS = 50  # a keyframe this much before the target still ends the segment
_CUTS_KEPT = 256  # source segment starts remembered for rungs that lag behind
