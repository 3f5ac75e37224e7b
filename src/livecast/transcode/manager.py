"""Every stream's ladder on this node, admitted against the node's budget.

A stream's ladder is sized once its video track is known (rungs need the source's resolution
and frame rate). If the node's budget cannot take it, the stream stays passthrough only, its
``status`` says why, and it is admitted when another ladder stops and frees budget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Literal

from livecast.media.stream import Stream, StreamClosed, StreamConfig, StreamRegistry
from livecast.media.unit import Track
from livecast.transcode.admission import Budget
from livecast.transcode.encoders import EncoderUnavailable
from livecast.transcode.ladder import Rung, Source, ladder_cost, select_rungs
from livecast.transcode.supervisor import LadderSupervisor, SupervisorOptions

log = logging.getLogger(__name__)

JobState = Literal[
    "waiting_for_source", "over_budget", "transcoding", "restarting", "passthrough", "stopped"
]
DEFAULT_FRAME_RATE = Fraction(30)


class LadderObserver:
    """What the rest of the node hears of one stream's ladder; every method may be ignored."""

    def rendition_added(self, rung: str, media: Stream) -> None:
        """A rung's Stream was (re)created: package it."""

    def rendition_removed(self, rung: str) -> None:
        """A rung is no longer produced (the source shrank): stop offering it."""

    def state_changed(self, state: JobState, rungs: Sequence[str], reason: str | None) -> None:
        """The ladder changed state; ``reason`` says why in a sentence."""


@dataclass(frozen=True, slots=True)
class TranscodeConfig:
    supervisor: SupervisorOptions
    budget: float
    max_rungs: int = 4
    # The encoder for a stream's codec (None: the node's); default: the supervisor's encoder.
    encoder_for: Callable[[str | None], str] | None = None

    def options_for(self, codec: str | None) -> SupervisorOptions:
        """The supervisor options of a ladder in ``codec``; may run ffmpeg to probe a GPU."""
        if codec is None or self.encoder_for is None:
            return self.supervisor
        encode = replace(self.supervisor.encode, encoder=self.encoder_for(codec))
        return replace(self.supervisor, encode=encode)


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
    """One stream's ladder: sized from the source, admitted, supervised, resized on change.

    The job watches the source's codec configuration for its whole life. When the source's
    size or rate changes (a publisher reconnects at another resolution), the rungs are chosen
    again; if they differ, the running ladder stops, its budget is freed and the new one is
    admitted as if it were new.
    """

    def __init__(
        self,
        owner: Transcoders,
        stream_id: str,
        source: Stream,
        quality: str,
        observer: LadderObserver,
        codec: str | None = None,
    ) -> None:
        self.owner = owner
        self.stream_id = stream_id
        self.source = source
        self.quality = quality
        self.codec = codec  # None: the node's
        self.observer = observer
        self.state: JobState = "waiting_for_source"
        self.reason: str | None = None
        self.source_size: Source | None = None
        self.rungs: list[Rung] = []
        self.supervisor: LadderSupervisor | None = None
        self._ladder: asyncio.Task[None] | None = None
        self._announced: list[str] = []  # the rungs of the last state change told
        self.task = asyncio.create_task(self._run(), name=f"transcode-{stream_id}")

    @property
    def cost(self) -> float:
        return ladder_cost(self.rungs)

    async def _run(self) -> None:
        seen: StreamConfig | None = None
        try:
            while True:
                seen = await self.source.config_change(seen)
                found = source_of(seen)
                if found is None or found == self.source_size:
                    continue
                rungs = select_rungs(found, self.quality, self.owner.config.max_rungs)
                self.source_size = found
                if self._ladder is not None and rungs == self.rungs:
                    continue  # same outputs: the encoder restarts itself on the new config
                await self._resize(rungs)
        except StreamClosed:
            pass
        finally:
            await self._stop_ladder()

    async def _resize(self, rungs: list[Rung]) -> None:
        kept = {rung.name for rung in rungs}
        await self._stop_ladder()
        for rung in self.rungs:
            if rung.name not in kept:
                self.owner.drop_rendition(self.stream_id, rung.name)
                self.observer.rendition_removed(rung.name)
        self.rungs = rungs
        self._ladder = asyncio.create_task(self._admit(), name=f"ladder-{self.stream_id}")

    async def _admit(self) -> None:
        size = self.source_size
        if not self.rungs:
            height = size.height if size is not None else 0
            self._set("passthrough", f"the source ({height}p) is below every rung")
            return
        while not self.owner.budget.acquire(self.stream_id, self.cost):
            self._set(
                "over_budget",
                f"the node's transcoding budget is used ({self.owner.budget.load:.0f} of "
                f"{self.owner.budget.capacity:.0f} units; this ladder needs {self.cost:.0f}); "
                "passthrough only until budget frees",
            )
            await self.owner.wait_for_budget()
        try:
            options = await asyncio.to_thread(self.owner.config.options_for, self.codec)
        except EncoderUnavailable as exc:
            self.owner.release(self.stream_id)
            self._set("passthrough", f"this node cannot encode {self.codec}: {exc}")
            return
        self._set("transcoding", None)
        outputs = [self.owner.rendition_stream(self.stream_id, rung.name) for rung in self.rungs]
        for rung, output in zip(self.rungs, outputs, strict=True):
            self.observer.rendition_added(rung.name, output)
        self.supervisor = LadderSupervisor(
            self.stream_id,
            self.source,
            self.rungs,
            outputs,
            options,
            on_state=self._encoder_state,
        )
        self.supervisor.start()

    def _encoder_state(self, state: str, reason: str | None) -> None:
        if state == "restarting":
            self._set("restarting", reason)
        elif state == "running" and self.state == "restarting":
            self._set("transcoding", "the encoder is running again")

    async def _stop_ladder(self) -> None:
        """Stop the admission wait or the encoder, and give its budget back."""
        ladder, self._ladder = self._ladder, None
        if ladder is not None:
            ladder.cancel()
            await asyncio.gather(ladder, return_exceptions=True)
        supervisor, self.supervisor = self.supervisor, None
        if supervisor is not None:
            await supervisor.stop()
        self.owner.release(self.stream_id)

    def _set(self, state: JobState, reason: str | None) -> None:
        rungs = [rung.name for rung in self.rungs]
        if (state, reason, rungs) == (self.state, self.reason, self._announced):
            return
        self._announced = rungs
        log.info(
            "transcoding %s%s",
            state.replace("_", " "),
            f": {reason}" if reason else "",
            extra={"stream_id": self.stream_id},
        )
        self.state, self.reason = state, reason
        self.observer.state_changed(state, rungs, reason)

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self._stop_ladder()  # the task may not have started, so its finally never ran
        self._set("stopped", None)

    def status(self) -> dict[str, object]:
        return {
            "state": self.state,
            "reason": self.reason,
            "quality": self.quality,
            "codec": self.codec,
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
    """The node's ladders, and the budget they share."""

    def __init__(self, config: TranscodeConfig, registry: StreamRegistry) -> None:
        self.config = config
        self.registry = registry
        self.budget = Budget(config.budget)
        self._jobs: dict[str, LadderJob] = {}
        self._freed = asyncio.Event()

    def __iter__(self) -> Iterator[LadderJob]:
        return iter(list(self._jobs.values()))

    def get(self, stream_id: str) -> LadderJob | None:
        return self._jobs.get(stream_id)

    def start(
        self,
        stream_id: str,
        source: Stream,
        quality: str,
        observer: LadderObserver | None = None,
        codec: str | None = None,
    ) -> LadderJob:
        """Start (or keep) the ladder of ``source``; ``codec`` None is the node's."""
        job = self._jobs.get(stream_id)
        if job is None or job.source is not source:
            job = LadderJob(self, stream_id, source, quality, observer or LadderObserver(), codec)
            self._jobs[stream_id] = job
        return job

    def rendition_stream(self, stream_id: str, rung: str) -> Stream:
        """A fresh Stream for a rung's output (replacing the previous ladder's one)."""
        self.drop_rendition(stream_id, rung)
        return self.registry.create(rendition_id(stream_id, rung))

    def drop_rendition(self, stream_id: str, rung: str) -> None:
        self.registry.remove(rendition_id(stream_id, rung))

    def release(self, stream_id: str) -> None:
        """Give a ladder's budget back and wake the ladders waiting for it."""
        if self.budget.release(stream_id):
            self._freed.set()
            self._freed = asyncio.Event()

    async def stop(self, stream_id: str) -> None:
        """Stop the ladder: ffmpeg ends, the rung Streams close, the budget frees."""
        job = self._jobs.pop(stream_id, None)
        if job is None:
            return
        await job.stop()
        for rung in job.rungs:
            self.drop_rendition(stream_id, rung.name)

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
