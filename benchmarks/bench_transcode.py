"""The live ABR ladder: one 1080p30 source to the four-rung `veryfast` ladder, on this machine.

ffmpeg publishes a pre-encoded 1080p30 file (6 Mbit/s, 2 s GOP) with `-re -c copy` to a real
`livecast serve` with ``LIVECAST_TRANSCODE_ENABLED=true``; the stream's default quality (1080p)
and rung cap (4) give 1080p, 720p, 480p and 360p. Over a window of ``SECONDS_LIVE`` seconds:

- real-time factor: media time the 720p rung advanced (its new parts' durations) ÷ wall time
  (every rung comes out of the same ffmpeg, in lockstep);
- CPU, from /proc: the livecast process and its ffmpeg child, separately;
- added latency: two threads follow the source and 720p playlists with blocking reloads and note
  when each part (and each complete segment) first appears; the difference per part number.

Then the same ffmpeg command (built by ``livecast.transcode.command.build_argv``) runs alone,
reading the file with `-re`, writing FLV files, for the same window, and once more without
`-re` for its top speed. A passthrough-only run of livecast gives its CPU without a ladder, so
livecast's own overhead around ffmpeg is (livecast with ladder - livecast passthrough) plus
(ffmpeg under livecast - ffmpeg alone).

    .venv/bin/python benchmarks/bench_transcode.py           # SECONDS_LIVE=30 by default
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.harness import CACHE, FFMPEG, FPS, cpu_seconds, livecast_server
from livecast.transcode.command import EncodeOptions, build_argv
from livecast.transcode.ladder import Source, select_rungs

SECONDS = int(os.environ.get("SECONDS_LIVE", "30"))
WARMUP = 8  # seconds after going live before measuring: the ladder starts and settles
SOURCE_1080 = CACHE / "src_1080p30_6000k.flv"
SPEED_SECONDS = 10  # media seconds of the unpaced (top speed) standalone run
_PART = re.compile(r'#EXT-X-PART:DURATION=([\d.]+),URI="part-(\d+)-(\d+)\.m4s"')
_HINT = re.compile(r"PRELOAD-HINT:TYPE=PART,URI=\"part-(\d+)-(\d+)\.m4s\"")


def make_source_1080() -> Path:
    """20 s of 1080p30 H.264 at 6 Mbit/s (2 s GOP) and 128 kbit/s AAC, encoded once."""
    if not SOURCE_1080.exists():
        CACHE.mkdir(exist_ok=True)
        subprocess.run(
            [FFMPEG, "-hide_banner", "-loglevel", "error", "-y",
             "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate={FPS}",
             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "20",
             "-c:v", "libx264", "-preset", "veryfast", "-b:v", "6000k", "-maxrate", "6000k",
             "-bufsize", "6000k", "-g", str(2 * FPS), "-sc_threshold", "0", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(SOURCE_1080)],
            check=True,
        )  # fmt: skip
    return SOURCE_1080


def publish(url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-re", "-readrate_initial_burst", "0",
         "-stream_loop", "-1", "-i", str(make_source_1080()), "-c", "copy", "-f", "flv", url],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


@dataclass
class Seen:
    """When each part and each complete segment of one playlist was first listed."""

    parts: dict[tuple[int, int], tuple[float, float]] = field(default_factory=dict)  # -> t, dur
    segments: dict[int, float] = field(default_factory=dict)
    first: float = 0.0  # the first response: what it lists was there before we looked


def follow(url: str, stop: threading.Event, seen: Seen) -> None:
    """Blocking-reload ``url`` part by part, noting first sightings."""
    msn = part = None
    with httpx.Client(timeout=10) as http:
        while not stop.is_set():
            query = "" if msn is None else f"?_HLS_msn={msn}&_HLS_part={part}"
            try:
                response = http.get(url + query)
            except httpx.HTTPError:
                continue
            now = time.monotonic()
            if response.status_code != 200:
                time.sleep(0.05)
                continue
            seen.first = seen.first or now
            for match in _PART.finditer(response.text):
                key = (int(match[2]), int(match[3]))
                seen.parts.setdefault(key, (now, float(match[1])))
            for match in re.finditer(r"^seg-(\d+)\.m4s$", response.text, re.MULTILINE):
                seen.segments.setdefault(int(match[1]), now)
            hint = _HINT.search(response.text)
            if hint:
                msn, part = int(hint[1]), int(hint[2])


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class LiveRun:
    livecast_cpu: float  # cores, the Python process alone
    ffmpeg_cpu: float  # cores, its ffmpeg children
    rtf: float
    part_delays: list[float]
    segment_delays: list[float]
    restarts: int


def run_livecast(ladder: bool) -> LiveRun:
    env = {"LIVECAST_TRANSCODE_ENABLED": "true" if ladder else "false"}
    with livecast_server(env) as node:
        stream = node.create_stream("transcode")
        sid = stream["id"]
        publisher = publish(f"{node.rtmp}/{stream['stream_key']}")
        try:
            node.wait_status(sid, "live")
            time.sleep(WARMUP)
            stop = threading.Event()
            seen = {name: Seen() for name in ("source", "720p")}
            base = f"{node.base}/hls/{sid}"
            followers = [
                threading.Thread(target=follow, args=(f"{base}/{name}/index.m3u8", stop, s))
                for name, s in seen.items()
            ] if ladder else []  # fmt: skip
            for thread in followers:
                thread.start()
            time.sleep(1)  # the followers' first (old) listings are not part of the window
            kids = children(node.process.pid)
            start, wall0 = cpu_of([node.process.pid], kids), time.monotonic()
            time.sleep(SECONDS)
            end, wall1 = cpu_of([node.process.pid], kids), time.monotonic()
            stop.set()
            for thread in followers:
                thread.join()
            status = node.http.get("/api/v1/transcode/status").json()
        finally:
            publisher.terminate()
            publisher.wait(10)
    wall = wall1 - wall0
    restarts = 0
    if ladder:
        encoder = status["streams"][sid]["encoder"] or {}
        restarts = int(encoder.get("restarts", 0))
    rung = seen["720p"].parts
    media = sum(d for t, d in rung.values() if wall0 <= t <= wall1)
    source = seen["source"]
    fresh = [
        k for k in rung if k in source.parts and source.parts[k][0] > source.first
    ]  # listed while both were being followed  # fmt: skip
    parts = [rung[k][0] - source.parts[k][0] for k in fresh]
    segs = seen["720p"].segments
    seg_delays = [
        segs[n] - source.segments[n]
        for n in segs
        if n in source.segments and source.segments[n] > source.first
    ]
    return LiveRun(
        livecast_cpu=(end[0] - start[0]) / wall,
        ffmpeg_cpu=(end[1] - start[1]) / wall,
        rtf=media / wall if ladder else 0.0,
        part_delays=parts,
        segment_delays=seg_delays,
        restarts=restarts,
    )


def cpu_of(main: list[int], kids: list[int]) -> tuple[float, float]:
    def total(pids: list[int]) -> float:
        out = 0.0
        for pid in pids:
            with contextlib.suppress(OSError):
                out += cpu_seconds(pid)
        return out

    return total(main), total(kids)


def ladder_argv(out_dir: Path, paced: bool) -> list[str]:
    rungs = select_rungs(Source(1920, 1080, Fraction(FPS)), "1080p", 4)
    outputs = [str(out_dir / f"{rung.name}.flv") for rung in rungs]
    argv = build_argv(FFMPEG, rungs, outputs, EncodeOptions())
    at = argv.index("pipe:0")
    argv[at] = str(make_source_1080())
    reading = ["-re", "-readrate_initial_burst", "0"] if paced else []
    length = WARMUP + SECONDS + 2 if paced else SPEED_SECONDS
    # Input options go before "-f flv -i": loop the file, pace it, bound it.
    argv[at - 3 : at - 3] = [*reading, "-stream_loop", "-1", "-t", str(length)]
    return argv


def run_alone() -> tuple[float, float]:
    """CPU (cores) of the ladder's ffmpeg alone at real-time pace, and its top speed."""
    with tempfile.TemporaryDirectory(prefix="livecast-ladder-") as tmp:
        child = subprocess.Popen(ladder_argv(Path(tmp), paced=True), stdin=subprocess.DEVNULL)
        time.sleep(WARMUP + 1)
        start, wall0 = cpu_seconds(child.pid), time.monotonic()
        time.sleep(SECONDS)
        cpu = (cpu_seconds(child.pid) - start) / (time.monotonic() - wall0)
        child.wait(60)
    with tempfile.TemporaryDirectory(prefix="livecast-ladder-") as tmp:
        began = time.monotonic()
        subprocess.run(ladder_argv(Path(tmp), paced=False), stdin=subprocess.DEVNULL, check=True)
        speed = SPEED_SECONDS / (time.monotonic() - began)
    return cpu, speed


def main() -> None:
    make_source_1080()
    print(f"{os.cpu_count()} cores; window {SECONDS} s after {WARMUP} s of warm-up")
    ladder = run_livecast(ladder=True)
    passthrough = run_livecast(ladder=False)
    alone_cpu, alone_speed = run_alone()
    ms = [d * 1000 for d in ladder.part_delays]
    seg_ms = [d * 1000 for d in ladder.segment_delays]
    print(f"ladder: real-time factor {ladder.rtf:.3f} (720p media s per wall s), restarts "
          f"{ladder.restarts}")  # fmt: skip
    print(f"ffmpeg alone: top speed {alone_speed:.2f}x real time (unpaced, {SPEED_SECONDS} s)")
    print(f"CPU (cores): livecast {ladder.livecast_cpu:.3f} + its ffmpeg {ladder.ffmpeg_cpu:.3f}"
          f" = {ladder.livecast_cpu + ladder.ffmpeg_cpu:.3f}; passthrough-only livecast "
          f"{passthrough.livecast_cpu:.3f}; ffmpeg alone (-re) {alone_cpu:.3f}")  # fmt: skip
    around = ladder.livecast_cpu - passthrough.livecast_cpu
    extra = ladder.ffmpeg_cpu - alone_cpu
    print(f"livecast overhead around ffmpeg: {100 * around:.1f} % of a core in the Python "
          f"process, {100 * extra:+.1f} % in ffmpeg vs alone; total "
          f"{100 * (around + extra):.1f} % of a core ({100 * (around + extra) / alone_cpu:.1f} % "
          "of ffmpeg's own CPU)")  # fmt: skip
    if ms:
        print(f"added latency per part (source part listed -> 720p part listed, {len(ms)} "
              f"parts): p50 {percentile(ms, 0.5):.0f} ms, p95 {percentile(ms, 0.95):.0f} ms, "
              f"max {max(ms):.0f} ms")  # fmt: skip
    if seg_ms:
        print(f"added latency per segment ({len(seg_ms)}): p50 {percentile(seg_ms, 0.5):.0f} ms, "
              f"max {max(seg_ms):.0f} ms; segment target 2000 ms")  # fmt: skip


if __name__ == "__main__":
    main()
