"""One stream's ladder: a supervised ffmpeg fed from the source Stream, rungs back as Streams.

Each run of ffmpeg reads the source through its own bounded :class:`Reader` (so a slow or dead
encoder only ever drops its own input, never the publisher's) and writes one FLV per rung on an
inherited pipe. When ffmpeg exits, or produces nothing for ``stall_seconds`` while input flows,
it is killed and started again after a backoff; the rung Streams stay, and the first unit of each
rung after a restart is marked as a discontinuity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from livecast.errors import ProtocolError
from livecast.ingest.flv_units import FlvDepacketizer
from livecast.media.stream import Reader, Stream, StreamClosed, StreamConfig
from livecast.media.unit import Track, Unit
from livecast.transcode import process
from livecast.transcode.command import EncodeOptions, build_argv
from livecast.transcode.flv_pipe import (
    VIDEO_ONLY_HEADER,
    FlvReader,
    SourceTimeline,
    config_tag,
    video_tag,
)
from livecast.transcode.ladder import Rung

log = logging.getLogger(__name__)

State = Literal["starting", "running", "restarting", "stopped"]
FEED_QUEUE = 600  # source units buffered for ffmpeg; beyond it the feed skips to a keyframe
STDERR_LINES = 20


@dataclass(frozen=True, slots=True)
class SupervisorOptions:
    ffmpeg: str
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    stall_seconds: float = 10.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    stable_seconds: float = 30.0  # a run this long resets the backoff


class _RunEnded(Exception):
    def __init__(self, reason: str, immediate: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.immediate = immediate  # restart at once (config change), no backoff


class LadderSupervisor:
    def __init__(
        self,
        name: str,
        source: Stream,
        rungs: Sequence[Rung],
        outputs: Sequence[Stream],
        options: SupervisorOptions,
        clock: Callable[[], float] = time.monotonic,
        on_state: Callable[[State, str | None], None] | None = None,
    ) -> None:
        self.name = name
        self.source = source
        self.rungs = tuple(rungs)
        self.outputs = tuple(outputs)
        self.options = options
        self.clock = clock
        self.on_state = on_state
        self.state: State = "starting"
        self.restarts = 0
        self.last_exit: str | None = None
        self.pid: int | None = None
        self.exit_code: int | None = None  # of the last run
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_LINES)
        self.stderr_lines = 0
        self._last_input = self._last_output = clock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"ladder-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.state = "stopped"

    def status(self) -> dict[str, object]:
        return {
            "state": self.state,
            "pid": self.pid,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "rungs": [rung.name for rung in self.rungs],
            "encoder": self.options.encode.encoder,
        }

    # -- the restart loop -------------------------------------------------------------------

    async def _supervise(self) -> None:
        delay = self.options.backoff_initial
        while not self.source.closed:
            started, self.exit_code = self.clock(), None
            try:
                await self._run_once()
                reason, immediate = "ffmpeg exited", False
            except _RunEnded as ended:
                reason, immediate = ended.reason, ended.immediate
            except StreamClosed:
                break
            except OSError as exc:
                reason, immediate = f"could not run ffmpeg: {exc}", False
            if self.source.closed:
                break
            if self.exit_code is not None and "exited with code" not in reason:
                # Whichever side noticed first (a broken pipe, a stall), say how ffmpeg ended.
                reason = f"{reason}; ffmpeg exited with code {self.exit_code}"
            self.last_exit = reason
            self.restarts += 1
            self._set_state("restarting", self._summary(reason))
            if self.clock() - started >= self.options.stable_seconds:
                delay = self.options.backoff_initial
            wait = 0.0 if immediate else delay
            log.warning(
                "ladder ffmpeg stopped (%s); restarting in %.1fs",
                reason,
                wait,
                extra={"stream_id": self.name, "stderr": " | ".join(self.stderr_tail)},
            )
            await asyncio.sleep(wait)
            if not immediate:
                delay = min(delay * 2, self.options.backoff_max)
        self.state = "stopped"

    def _set_state(self, state: State, reason: str | None) -> None:
        self.state = state
        if self.on_state is not None:
            self.on_state(state, reason)

    def _summary(self, reason: str) -> str:
        """Why the encoder stopped, with the last lines it wrote (for events and logs)."""
        tail = " | ".join(line for line in list(self.stderr_tail)[-3:] if line)
        return f"{reason}; ffmpeg said: {tail[-400:]}" if tail else reason

    async def _run_once(self) -> None:
        pipes = [os.pipe() for _ in self.rungs]
        write_fds = [w for _, w in pipes]
        argv = build_argv(
            self.options.ffmpeg, self.rungs, [f"pipe:{fd}" for fd in write_fds], self.options.encode
        )
        try:
            child = await process.spawn(argv, write_fds)
        except BaseException:
            for r, w in pipes:
                os.close(r)
                os.close(w)
            raise
        for fd in write_fds:
            os.close(fd)
        self.pid = child.pid
        self._set_state("running", None)
        self._last_input = self._last_output = self.clock()
        reader = self.source.add_reader(f"transcoder {self.name}", FEED_QUEUE)
        tasks = [
            asyncio.create_task(self._feed(child, reader)),
            asyncio.create_task(self._watch_stall()),
            asyncio.create_task(child.wait()),
        ]
        helpers = [asyncio.create_task(self._stderr(child))]
        helpers += [
            asyncio.create_task(self._collect(read_fd, output))
            for (read_fd, _), output in zip(pipes, self.outputs, strict=True)
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises _RunEnded or StreamClosed
            raise _RunEnded(f"ffmpeg exited with code {child.returncode}")
        finally:
            reader.close()
            for task in tasks:
                task.cancel()
            code = self.exit_code = await process.terminate(child)
            await asyncio.gather(*tasks, return_exceptions=True)
            # Let the collectors read what ffmpeg wrote before it died, then stop them.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1):
                    await asyncio.gather(*helpers, return_exceptions=True)
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            self.pid = None
            await asyncio.sleep(0)  # the subprocess transport closes itself in a call_soon
            log.info("ladder ffmpeg exited with code %s", code, extra={"stream_id": self.name})

    # -- feeding ffmpeg -----------------------------------------------------------------------

    async def _feed(self, child: asyncio.subprocess.Process, reader: Reader) -> None:
        stdin = child.stdin
        assert stdin is not None
        track: Track | None = None
        started = False
        try:
            while True:
                chunks: list[bytes] = []
                for item in await reader.get_batch(64):
                    if isinstance(item, StreamConfig):
                        new = item.track("video")
                        if started and new != track:
                            raise _RunEnded("the source's video configuration changed", True)
                        track = new
                        continue
                    if item.kind != "video" or track is None:
                        continue
                    if not started:
                        if not item.keyframe:
                            continue
                        header = config_tag(track, item.dts)
                        if header is None:
                            raise _RunEnded(f"FLV cannot carry {track.codec}")
                        chunks += [VIDEO_ONLY_HEADER, header]
                        started = True
                    data = video_tag(item)
                    if data is not None:
                        chunks.append(data)
                if chunks:
                    self._last_input = self.clock()
                    stdin.write(b"".join(chunks))
                    await stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise _RunEnded("ffmpeg closed its input") from exc

    async def _watch_stall(self) -> None:
        limit = self.options.stall_seconds
        while True:
            await asyncio.sleep(min(1.0, limit / 4))
            now = self.clock()
            if now - self._last_output > limit and now - self._last_input < limit:
                raise _RunEnded(f"no output for {limit:g}s")

    # -- reading ffmpeg -----------------------------------------------------------------------

    async def _collect(self, fd: int, output: Stream) -> None:
        loop = asyncio.get_running_loop()
        stream_reader = asyncio.StreamReader(limit=1 << 20)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream_reader), os.fdopen(fd, "rb", buffering=0)
        )
        flv = FlvReader()
        depacketizer = FlvDepacketizer(SourceTimeline())
        try:
            while data := await stream_reader.read(1 << 16):
                self._last_output = self.clock()
                for item in flv.receive(data):
                    if item.kind == "video":
                        self._deliver(output, depacketizer.video(item.timestamp_ms, item.body))
        except ProtocolError as exc:
            log.warning("bad FLV from ffmpeg: %s", exc, extra={"stream_id": self.name})
        finally:
            transport.close()

    @staticmethod
    def _deliver(output: Stream, result: Unit | Track | None) -> None:
        if output.closed or result is None:
            return
        if isinstance(result, Unit):
            output.write(result)
        else:
            output.set_tracks([result])

    async def _stderr(self, child: asyncio.subprocess.Process) -> None:
        assert child.stderr is not None
        while line := await child.stderr.readline():
            self.stderr_lines += 1
            self.stderr_tail.append(line.decode(errors="replace").rstrip())
