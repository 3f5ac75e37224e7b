"""The watch page plays the live MPD in real headless Chromium through dash.js (?player=dash)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Server, publish_live
from tests.e2e.test_watch_page import browser  # noqa: F401 - fixture

pytestmark = pytest.mark.e2e
VIDEO_TIME = "document.getElementById('video').currentTime"


def test_dash_js_plays_the_live_mpd(server: Server, browser: Any) -> None:  # noqa: F811
    stream = server.create_stream()
    publisher = publish_live(f"{server.rtmp}/{stream['stream_key']}", 40)
    try:
        server.wait_status(stream["id"], "live")
        # The page needs no eval; bypassing its CSP only lets Playwright evaluate probes.
        page = browser.new_page(bypass_csp=True)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{server.base}/watch/{stream['id']}?player=dash")
        assert page.evaluate("typeof window.dashjs") == "object"
        assert page.evaluate("typeof window.Hls") == "undefined"
        page.wait_for_function(f"{VIDEO_TIME} > 2", timeout=40_000)
        # Playback advances: wait on the media clock itself, not on wall-clock sleeps.
        first = page.evaluate(VIDEO_TIME)
        page.wait_for_function(f"{VIDEO_TIME} > {first + 2}", timeout=10_000)
        assert page.evaluate("document.getElementById('video').videoWidth") == 640
        page.wait_for_function(
            "window.livecastPlayer && window.livecastPlayer.getCurrentLiveLatency() > 0",
            timeout=10_000,
        )
        latency = page.evaluate("window.livecastPlayer.getCurrentLiveLatency()")
        print(f"dash.js live latency: {latency:.2f} s")
        # A segment is listed once complete (2 s), behind the suggested presentation delay.
        assert 0 < latency < 10
        assert not [e for e in errors if "dash.js error" in e], errors
    finally:
        publisher.terminate()
        publisher.wait(10)
