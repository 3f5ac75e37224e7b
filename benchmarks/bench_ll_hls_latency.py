"""LL-HLS latency: publish-to-available per part, and glass-to-glass in Chromium with hls.js.

ffmpeg publishes a pre-encoded constant-frame-rate file with `-re` (`-c copy`). A client follows
the video playlist with blocking reloads (`_HLS_msn`/`_HLS_part`) and notes when each part
appears. The part's last frame was published at PROGRAM-DATE-TIME of its segment plus the
part's end offset minus one frame (the server stamps PDT from the wall clock of arrival), so
the difference is the time from the last frame reaching the server to the part being listed.
Then headless Chromium plays the watch page and hls.js's own `latency` is sampled every second.

    .venv/bin/python benchmarks/bench_ll_hls_latency.py           # SECONDS=30 by default
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.harness import livecast_server, publish_file

SECONDS = int(os.environ.get("SECONDS_LIVE", "30"))
FRAME_S = 1 / 30


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def follow_parts(base: str, stop: threading.Event, samples: list[float]) -> None:
    """Blocking-reload the playlist part by part; record each new part's latency."""
    seen: set[str] = set()
    msn = part = None
    with httpx.Client(base_url=base, timeout=10) as http:
        while not stop.is_set():
            query = "" if msn is None else f"?_HLS_msn={msn}&_HLS_part={part}"
            try:
                response = http.get(f"source/index.m3u8{query}")
            except httpx.HTTPError:
                continue
            now = time.time()
            if response.status_code != 200:
                time.sleep(0.05)
                continue
            pdt: datetime | None = None
            offset = 0.0
            for line in response.text.splitlines():
                if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
                    pdt = datetime.fromisoformat(line.split(":", 1)[1].replace("Z", "+00:00"))
                    offset = 0.0
                elif line.startswith("#EXT-X-PART:") and pdt is not None:
                    duration = float(re.search(r"DURATION=([\d.]+)", line)[1])  # type: ignore[index]
                    uri = re.search(r'URI="([^"]+)"', line)[1]  # type: ignore[index]
                    offset += duration
                    if uri not in seen:
                        seen.add(uri)
                        if msn is not None:  # parts listed in the first response are old
                            published = pdt.timestamp() + offset - FRAME_S
                            samples.append(now - published)
                elif line.startswith("#EXT-X-PRELOAD-HINT:"):
                    hint = re.search(r"part-(\d+)-(\d+)", line)
                    if hint:
                        msn, part = int(hint[1]), int(hint[2])


def glass_to_glass(watch_url: str, seconds: int) -> list[float]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return []
    samples: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        page = browser.new_page(bypass_csp=True)
        page.goto(watch_url)
        page.wait_for_function("document.getElementById('video').currentTime > 1", timeout=30_000)
        time.sleep(5)  # let the player settle at its target before sampling
        for _ in range(seconds):
            time.sleep(1)
            samples.append(float(page.evaluate("window.livecastPlayer.latency")))
        target = page.evaluate("window.livecastPlayer.targetLatency")
        rate = page.evaluate("document.getElementById('video').playbackRate")
        print(f"player target latency {target:.2f} s, playback rate at the end {rate}")
        browser.close()
    return samples


def main() -> None:
    with livecast_server() as node:
        stream = node.create_stream("latency")
        publisher = publish_file(f"{node.rtmp}/{stream['stream_key']}", paced_from_start=True)
        try:
            node.wait_status(stream["id"], "live")
            time.sleep(3)
            stop = threading.Event()
            samples: list[float] = []
            base = f"{node.base}/hls/{stream['id']}/"
            follower = threading.Thread(target=follow_parts, args=(base, stop, samples))
            follower.start()
            g2g = glass_to_glass(f"{node.base}/watch/{stream['id']}", SECONDS)
            if not g2g:
                time.sleep(SECONDS)
            stop.set()
            follower.join()
        finally:
            publisher.terminate()
    ms = [s * 1000 for s in samples]
    print(f"parts observed: {len(ms)}; part target 333 ms")
    p50, p95, p99 = statistics.median(ms), percentile(ms, 0.95), percentile(ms, 0.99)
    print(
        f"publish-to-available per part: p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
        f"p99 {p99:.0f} ms, max {max(ms):.0f} ms"
    )
    if g2g:
        p50s, p95s = statistics.median(g2g), percentile(g2g, 0.95)
        print(
            f"glass-to-glass (hls.js latency, {len(g2g)} samples): p50 {p50s:.2f} s, "
            f"p95 {p95s:.2f} s, max {max(g2g):.2f} s"
        )


if __name__ == "__main__":
    main()
