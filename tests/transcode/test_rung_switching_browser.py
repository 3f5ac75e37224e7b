"""hls.js in real headless Chromium switches rungs when devtools throttles the network.

A 720p source (so no 1080p rung) with at most three rungs: source, 720p, 480p and 360p. Unthrottled
on localhost, hls.js climbs above 360p; throttled through CDP to ~1.2 Mbit/s, which only the
360p rung (800 kbit/s video + 128 kbit/s audio) fits, its ABR must switch down.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Server
from tests.e2e.test_watch_page import browser  # noqa: F401 - fixture
from tests.transcode.live_server import encode_source, ladder_server, publish_copy

pytestmark = pytest.mark.e2e
HEIGHT = "livecastPlayer.levels[livecastPlayer.currentLevel].height"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with ladder_server(tmp_path, LIVECAST_TRANSCODE_MAX_RUNGS="3") as running:
        yield running


def test_hls_js_switches_down_a_rung_when_bandwidth_drops(
    server: Server,
    browser: object,  # noqa: F811 - the imported fixture
    tmp_path: Path,
) -> None:
    source = encode_source(tmp_path / "hd.flv", "1280x720", 10, 3000)
    stream = server.create_stream()
    publisher = publish_copy(source, f"{server.rtmp}/{stream['stream_key']}")
    try:
        server.wait_status(stream["id"], "live")
        # The rungs are listed once each has a complete segment; hls.js reads the manifest once.
        deadline = time.monotonic() + 60
        master = f"/hls/{stream['id']}/master.m3u8"
        while server.http.get(master).text.count("#EXT-X-STREAM-INF") < 4:
            assert time.monotonic() < deadline, server.http.get(master).text
            time.sleep(0.5)
        page = browser.new_page(bypass_csp=True)  # type: ignore[attr-defined]
        page.goto(f"{server.base}/watch/{stream['id']}")
        page.wait_for_function(
            "window.livecastPlayer && livecastPlayer.levels.length === 4", timeout=30_000
        )
        heights = page.evaluate("livecastPlayer.levels.map(l => l.height)")
        assert heights == [360, 480, 720, 720]  # hls.js orders levels by bandwidth
        page.wait_for_function("document.getElementById('video').currentTime > 2", timeout=30_000)
        page.wait_for_function(f"{HEIGHT} > 360", timeout=30_000)
        before = page.evaluate("livecastPlayer.currentLevel")
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": 20,
                "downloadThroughput": 150_000,  # bytes/s: 1.2 Mbit/s
                "uploadThroughput": 1_000_000,
            },
        )
        page.wait_for_function(f"{HEIGHT} === 360", timeout=60_000)
        after = page.evaluate("livecastPlayer.currentLevel")
        assert after != before
        assert after == 0
        playing = page.evaluate("document.getElementById('video').currentTime")
        time.sleep(2)
        assert page.evaluate("document.getElementById('video').currentTime") > playing
    finally:
        publisher.terminate()
        publisher.wait(10)
