"""Concurrent RTMP ingest: N ffmpeg publishers (`-re -c copy`, 2.5 Mbit/s 720p30) into livecast.

For each N the script reports the server's CPU (its own /proc ticks, so the publishers' CPU is
not counted), its memory, and how many streams the server ingests in real time (the frame rate
it measures for the stream is at least 95 % of the source's 30 fps). The baseline, measured in
the same run, is plain ffmpeg receiving one such stream as an RTMP server (`-listen 1 -c copy
-f null`): the CPU a single-purpose C receiver spends per stream.

    .venv/bin/python benchmarks/bench_ingest.py            # N = 25, 50, 100, 150, 200, 250
    STEPS=10,20 WINDOW=10 .venv/bin/python benchmarks/bench_ingest.py
    PACKAGING=0 .venv/bin/python benchmarks/bench_ingest.py   # ingest and fan-out only
    PROFILE=/tmp/ingest.txt ...                              # py-spy raw profile of the server

The publishers run on the same 2 cores: at ~0.5 % of a core each, 200 of them take about one
core, so the largest N is bounded by the machine as well as by the server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.harness import (
    FFMPEG,
    FPS,
    cpu_seconds,
    livecast_server,
    publish_file,
    rss_mb,
)
from livecast.testing import free_port

STEPS = [int(n) for n in os.environ.get("STEPS", "25,50,100,150,200,250").split(",")]
WINDOW = float(os.environ.get("WINDOW", "15"))
WARMUP = float(os.environ.get("WARMUP", "6"))


def baseline_ffmpeg_receiver() -> float:
    """CPU (% of one core) of ffmpeg receiving one stream as an RTMP server."""
    port = free_port()
    receiver = subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-listen", "1",
         "-i", f"rtmp://127.0.0.1:{port}/live/x", "-c", "copy", "-f", "null", "-"],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1)  # let it listen
    sender = publish_file(f"rtmp://127.0.0.1:{port}/live/x")
    time.sleep(WARMUP)
    start = cpu_seconds(receiver.pid)
    time.sleep(WINDOW)
    used = cpu_seconds(receiver.pid) - start
    for process in (sender, receiver):
        process.terminate()
        process.wait(10)
    return used / WINDOW * 100


def frame_rates(http: httpx.Client) -> dict[str, float]:
    text = http.get("/metrics").text
    pattern = r'livecast_ingest_frame_rate\{stream_id="([^"]+)"\} (\S+)'
    return {match[1]: float(match[2]) for match in re.finditer(pattern, text)}


def wait_publishers(http: httpx.Client, n: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(r"^livecast_ingest_publishers (\S+)", http.get("/metrics").text, re.M)
        if match and float(match[1]) >= n:
            return
        time.sleep(0.5)
    raise SystemExit(f"only {match[1] if match else 0} of {n} publishers connected")


def main() -> None:
    baseline = baseline_ffmpeg_receiver()
    print(f"baseline: ffmpeg -listen receiver, 1 stream: {baseline:.2f} % of a core")
    env = {
        "LIVECAST_RECONNECT_GRACE_SECONDS": "3600",
        "LIVECAST_HLS_ENABLED": os.environ.get("PACKAGING", "1"),
    }
    with livecast_server(env) as node:
        if os.environ.get("PROFILE"):
            profile = [
                "py-spy",
                "record",
                "-o",
                os.environ["PROFILE"],
                "-f",
                "raw",
                "-d",
                os.environ.get("PROFILE_SECONDS", "40"),
                "-p",
                str(node.process.pid),
            ]
            subprocess.Popen(profile, stdout=subprocess.DEVNULL)  # fmt: skip
        keys = [node.create_stream(f"bench {i}")["stream_key"] for i in range(max(STEPS))]
        idle_rss = rss_mb(node.process.pid)
        print(f"server idle RSS {idle_rss:.0f} MB")
        print("   N  server CPU (% core)  per stream  RSS MB  per stream MB  real-time  min fps")
        for n in STEPS:
            run_step(
                node.http, node.process.pid, [f"{node.rtmp}/{key}" for key in keys[:n]], idle_rss
            )


def run_step(http: httpx.Client, pid: int, urls: list[str], idle_rss: float) -> None:
    n = len(urls)
    publishers = [publish_file(url) for url in urls]
    try:
        wait_publishers(http, n)
        time.sleep(WARMUP)
        start = cpu_seconds(pid)
        time.sleep(WINDOW)
        used = (cpu_seconds(pid) - start) / WINDOW * 100
        live = [fps for fps in frame_rates(http).values() if fps > 0]
        realtime = sum(1 for fps in live if fps >= 0.95 * FPS)
        rss = rss_mb(pid)
        print(
            f"{n:4d}  {used:18.1f}  {used / n:9.3f}%  {rss:6.0f}  {(rss - idle_rss) / n:13.2f}"
            f"  {realtime:4d}/{n:<4d}  {min(live, default=0):7.1f}",
            flush=True,
        )
    finally:
        for process in publishers:
            process.terminate()
        for process in publishers:
            process.wait(30)
        time.sleep(2)  # let the server notice the disconnects before the next step


if __name__ == "__main__":
    main()
