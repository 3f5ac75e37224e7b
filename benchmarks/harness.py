"""What every benchmark needs: a source file, a real `livecast serve`, a user, publishers.

with livecast_server({"LIVECAST_HLS_ENABLED": "0"}) as node:
    stream = node.create_stream("bench")
    publisher = publish_file(f"{node.rtmp}/{stream['stream_key']}")
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import imageio_ffmpeg

from livecast.testing import ServeProcess, serve

FFMPEG = os.environ.get("LIVECAST_FFMPEG") or imageio_ffmpeg.get_ffmpeg_exe()
FPS = 30
CACHE = Path(__file__).parent / ".cache"
SOURCE = CACHE / "src_720p30_2500k.flv"
TICKS = os.sysconf("SC_CLK_TCK")
PASSWORD = "benchmark password"


def make_source() -> Path:
    """20 s of 720p30 H.264 at 2.4 Mbit/s (2 s GOP) and 128 kbit/s AAC, encoded once."""
    if not SOURCE.exists():
        CACHE.mkdir(exist_ok=True)
        subprocess.run(
            [FFMPEG, "-hide_banner", "-loglevel", "error", "-y",
             "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate={FPS}",
             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "20",
             "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2400k", "-maxrate", "2400k",
             "-bufsize", "2400k", "-g", "60", "-sc_threshold", "0",
             "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(SOURCE)],
            check=True,
        )  # fmt: skip
    return SOURCE


def publish_file(url: str, *, paced_from_start: bool = False) -> subprocess.Popen[bytes]:
    """ffmpeg looping the source to ``url`` in real time with `-c copy` (little CPU of its own).

    ``paced_from_start`` turns off ffmpeg's initial half-second burst, for latency figures.
    """
    burst = ["-readrate_initial_burst", "0"] if paced_from_start else []
    return subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-re", *burst, "-stream_loop", "-1",
         "-i", str(make_source()), "-c", "copy", "-f", "flv", url],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # a terminated publisher complains; that is expected
    )  # fmt: skip


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


Node = ServeProcess


@contextmanager
def livecast_server(extra_env: dict[str, str] | None = None) -> Iterator[Node]:
    """A `livecast serve` process on free ports and a fresh data dir, stopped on exit.

    Transcoding is off unless ``extra_env`` turns it on: most benchmarks measure the rest.
    """
    with tempfile.TemporaryDirectory(prefix="livecast-bench-") as tmp:
        env = {"LIVECAST_TRANSCODE_ENABLED": "false", **(extra_env or {})}
        with serve(Path(tmp), env, username="bench", stderr=None) as node:
            yield node


def profile(pid: int, seconds: float, rate: int = 100) -> subprocess.Popen[bytes] | None:
    """With ``LIVECAST_BENCH_PROFILE=<file>``, py-spy samples ``pid`` for ``seconds`` into that
    file (raw folded stacks). None without the variable. `pip install py-spy` first."""
    target = os.environ.get("LIVECAST_BENCH_PROFILE")
    if not target:
        return None
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [str(py_spy), "record", "-p", str(pid), "-d", str(max(1, int(seconds))), "-f", "raw"]
    extra = os.environ.get("LIVECAST_BENCH_PROFILE_ARGS", "").split()  # e.g. --idle --gil
    command += ["-r", str(rate), "-o", target, *extra]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def pin(pid: int, cpu: int | None) -> bool:
    """Keep every thread of ``pid`` on ``cpu`` (None: on any CPU again), so that a server and
    its load generator do not take turns on one core. False when this machine has one CPU."""
    count = os.cpu_count() or 1
    if count < 2 or (cpu is not None and cpu >= count):
        return False
    cpus = set(range(count)) if cpu is None else {cpu}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            os.sched_setaffinity(int(task.name), cpus)
    return True
