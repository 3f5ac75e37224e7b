"""Every stream's ladder on this node, admitted against the node's budget.

A stream's ladder is sized once its video track is known (rungs need the source's resolution
and frame rate). If the node's budget cannot take it, the stream stays passthrough only, its
``status`` says why, and it is admitted when another ladder stops and frees budget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from livecast.media.stream import Stream, StreamClosed, StreamConfig, StreamRegistry
from livecast.media.unit import Track
from livecast.transcode.admission import Budget
from livecast.transcode.ladder import Rung, Source, ladder_cost, select_rungs
from livecast.transcode.supervisor import LadderSupervisor, SupervisorOptions

log = logging.getLogger(__name__)

JobState = Literal["waiting_for_source", "over_budget", "transcoding", "passthrough", "stopped"]
RenditionCallback = Callable[[str, str, Stream], None]  # (stream id, rung name, rung stream)
DEFAULT_FRAME_RATE = Fraction(30)


@dataclass(frozen=True, slots=True)
class TranscodeConfig:
    supervisor: SupervisorOptions
    budget: float
    max_rungs: int = 4


def rendition_id(stream_id: str, rung: str) -> str:
    """The registry id of a rung's Stream."""
    return f"{stream_id}/{rung}"


def source_of(config: StreamConfig) -> Source | None:
    """The source's size and rate, from its video track or else its ``onMetaData``."""
    track: Track | None = config.track("video")
    if track is None:
        return None
    meta = config.metadata
    width = track.width or _number(meta.get("width"))
    height = track.height or _number(meta.get("height"))
    if not width or not height:
        return None
    rate = track.frame_rate or (
        Fraction(str(meta["framerate"])) if _number(meta.get("framerate")) else DEFAULT_FRAME_RATE
    )
    return Source(int(width), int(height), rate)


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and value > 0 else 0.0


class LadderJob:
    """One stream's way to a running ladder: wait for its track, for budget, then supervise."""

    def __init__(self, owner: Transcoders, stream_id: str, source: Stream, quality: str) -> None:
        self.owner = owner
        self.stream_id = stream_id
        self.source = source
        self.quality = quality
        self.state: JobState = "waiting_for_source"
        self.reason: str | None = None
        self.rungs: list[Rung] = []
        self.supervisor: LadderSupervisor | None = None
        self.task = asyncio.create_task(self._run(), name=f"transcode-{stream_id}")

    @property
    def cost(self) -> float:
        return ladder_cost(self.rungs)

    async def _run(self) -> None:
        source = await self._source()
        if source is None:
            return
        self.rungs = select_rungs(source, self.quality, self.owner.config.max_rungs)
        if not self.rungs:
            self._set("passthrough", f"the source ({source.height}p) is below every rung")
            return
        while not self.owner.budget.acquire(self.stream_id, self.cost):
            self._set(
                "over_budget",
                f"the node's transcoding budget is used ({self.owner.budget.load:.0f} of "
                f"{self.owner.budget.capacity:.0f} units; this ladder needs {self.cost:.0f}); "
                "passthrough only until budget frees",
            )
            await self.owner.wait_for_budget()
            if self.source.closed:
                return
        self._set("transcoding", None)
        outputs = [self.owner.rendition_stream(self.stream_id, rung.name) for rung in self.rungs]
        self.supervisor = LadderSupervisor(
            self.stream_id, self.source, self.rungs, outputs, self.owner.config.supervisor
        )
        self.supervisor.start()

    async def _source(self) -> Source | None:
        reader = self.source.add_reader("transcode probe", 1)
        try:
            while True:
                item = await reader.get()
                if isinstance(item, StreamConfig):
                    found = source_of(item)
                    if found is not None:
                        return found
        except StreamClosed:
            return None
        finally:
            reader.close()

    def _set(self, state: JobState, reason: str | None) -> None:
        if state != self.state or reason != self.reason:
            log.info(
                "transcoding %s%s",
                state.replace("_", " "),
                f": {reason}" if reason else "",
                extra={"stream_id": self.stream_id},
            )
        self.state, self.reason = state, reason

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        if self.supervisor is not None:
            await self.supervisor.stop()
        self.state = "stopped"

    def status(self) -> dict[str, object]:
        return {
            "state": self.state,
            "reason": self.reason,
            "quality": self.quality,
            "cost": round(self.cost, 1),
            "rungs": [
                {
                    "name": rung.name,
                    "width": rung.width,
                    "height": rung.height,
                    "bitrate_kbps": rung.bitrate_kbps,
                }
                for rung in self.rungs
            ],
            "encoder": self.supervisor.status() if self.supervisor is not None else None,
        }


class Transcoders:
    """The node's ladders; ``on_rendition`` hears of each rung Stream as it is created."""

    def __init__(
        self,
        config: TranscodeConfig,
        registry: StreamRegistry,
        on_rendition: RenditionCallback | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.on_rendition = on_rendition
        self.budget = Budget(config.budget)
        self._jobs: dict[str, LadderJob] = {}
        self._freed = asyncio.Event()

    def __iter__(self) -> Iterator[LadderJob]:
        return iter(list(self._jobs.values()))

    def get(self, stream_id: str) -> LadderJob | None:
        return self._jobs.get(stream_id)

    def start(self, stream_id: str, source: Stream, quality: str) -> LadderJob:
        """Start (or keep) the ladder of ``source``."""
        job = self._jobs.get(stream_id)
        if job is None or job.source is not source:
            job = LadderJob(self, stream_id, source, quality)
            self._jobs[stream_id] = job
        return job

    def rendition_stream(self, stream_id: str, rung: str) -> Stream:
        key = rendition_id(stream_id, rung)
        self.registry.remove(key)
        stream = self.registry.create(key)
        if self.on_rendition is not None:
            self.on_rendition(stream_id, rung, stream)
        return stream

    async def stop(self, stream_id: str) -> None:
        """Stop the ladder: ffmpeg ends, the rung Streams close, the budget frees."""
        job = self._jobs.pop(stream_id, None)
        if job is None:
            return
        await job.stop()
        for rung in job.rungs:
            self.registry.remove(rendition_id(stream_id, rung.name))
        self.budget.release(stream_id)
        self._freed.set()
        self._freed = asyncio.Event()

    async def wait_for_budget(self) -> None:
        await self._freed.wait()

    async def close(self) -> None:
        await asyncio.gather(*(self.stop(sid) for sid in list(self._jobs)))

    def status(self) -> dict[str, object]:
        return {
            "budget": self.budget.capacity,
            "load": round(self.budget.load, 1),
            "ladders": self.budget.holders,
            "streams": {sid: job.status() for sid, job in self._jobs.items()},
        }
