"""Real ffmpeg for ingest tests: encode a source clip, publish or play it, read packets back."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import imageio_ffmpeg

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
_QUIET = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning")


@dataclass(frozen=True)
class Packet:
    """One demuxed packet, timestamps in milliseconds."""

    kind: str
    pts: int
    dts: int
    keyframe: bool
    payload: bytes = field(repr=False)


@dataclass(frozen=True)
class Clip:
    path: Path
    packets: list[Packet]


def encode_clip(path: Path, *, seconds: float, video: str = "testsrc", tone_hz: int = 440) -> Clip:
    """Encode H.264 (with B-frames every GOP of 25 frames) and AAC into an FLV file."""
    subprocess.run(
        [
            FFMPEG,
            *_QUIET,
            "-f", "lavfi", "-i", f"{video}=size=320x240:rate=25:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency={tone_hz}:sample_rate=44100:duration={seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-bf", "2",
            "-g", "25", "-c:a", "aac", "-b:a", "64k", "-f", "flv", str(path),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Clip(path, read_packets(path))


def remux(source: Path, target: Path, *options: str) -> list[Packet]:
    """Copy ``source`` into the FLV file ``target`` with output ``options``; its packets."""
    args = [FFMPEG, *_QUIET, "-i", str(source), "-c", "copy", *options, "-f", "flv", str(target)]
    subprocess.run(args, check=True, capture_output=True)
    return read_packets(target)


def read_packets(path: Path) -> list[Packet]:
    """The media packets of a file in file order, as PyAV demuxes them."""
    packets = []
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.size == 0 or packet.dts is None or packet.pts is None:
                continue  # the demuxer's end-of-stream flush packets
            assert packet.time_base == Fraction(1, 1000)
            packets.append(
                Packet(
                    packet.stream.type,
                    packet.pts,
                    packet.dts,
                    packet.is_keyframe,
                    bytes(packet),
                )
            )
    return packets


def publish_args(source: Path, url: str, *options: str, loop: bool = False) -> list[str]:
    """Publish ``source`` in real time, unchanged (``-c copy``), to an RTMP URL."""
    looping = ("-stream_loop", "-1") if loop else ()
    return [*looping, "-re", "-i", str(source), "-c", "copy", *options, "-f", "flv", url]


def play_args(url: str, target: Path) -> list[str]:
    """Pull an RTMP stream into an FLV file, unchanged."""
    return ["-i", url, "-c", "copy", "-f", "flv", str(target)]


class Ffmpeg:
    """A running ffmpeg; its stderr is collected for assertion messages."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._stderr = bytearray()
        assert process.stderr is not None
        self._collecting = asyncio.create_task(self._collect(process.stderr))

    async def _collect(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(4096):
            self._stderr += chunk

    @property
    def log(self) -> str:
        return self._stderr.decode(errors="replace")

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    async def wait(self) -> int:
        """Wait for ffmpeg to exit by itself (bound it with :func:`asyncio.timeout`)."""
        code = await self.process.wait()
        await self._collecting
        await _transport_closed()
        return code

    async def stop(self) -> None:
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()
        await self._collecting
        await _transport_closed()


async def _transport_closed() -> None:
    """Let the loop run the subprocess transport's close, which it schedules with call_soon
    once the process and its pipes are done; a test that ends first leaks the transport."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


@asynccontextmanager
async def ffmpeg(*args: str) -> AsyncIterator[Ffmpeg]:
    """Run ffmpeg with ``args``; it is killed on leaving the block if it still runs, and a
    failure inside the block carries ffmpeg's log."""
    process = await asyncio.create_subprocess_exec(
        FFMPEG,
        *_QUIET,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    running = Ffmpeg(process)
    try:
        yield running
    except BaseException as exc:
        await running.stop()
        exc.add_note(f"ffmpeg {' '.join(args)}:\n{running.log}")
        raise
    finally:
        await running.stop()


async def run_ffmpeg(*args: str) -> tuple[int, str]:
    """Run ffmpeg to the end (which must come within 15 s): its exit code and log."""
    async with ffmpeg(*args) as process, asyncio.timeout(15):
        return await process.wait(), process.log
