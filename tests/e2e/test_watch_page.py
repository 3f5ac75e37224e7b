"""The watch page plays a live stream in real headless Chromium, through hls.js."""

from __future__ import annotations

import shutil
import time

import pytest

from tests.e2e.conftest import Server, publish_live

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture
def browser() -> object:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (make test installs it when run as root)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_watch_page_plays_live_at_low_latency(server: Server, browser: object) -> None:
    stream = server.create_stream(title='<img src=x onerror="alert(1)"> Launch')
    publisher = publish_live(f"{server.rtmp}/{stream['stream_key']}", 30)
    try:
        server.wait_status(stream["id"], "live")
        # The page needs no eval; bypassing its CSP only lets Playwright evaluate probes.
        page = browser.new_page(bypass_csp=True)  # type: ignore[attr-defined]
        page.goto(f"{server.base}/watch/{stream['id']}")
        # User text is shown as text: the title's markup is inert.
        assert page.inner_text("#title") == '<img src=x onerror="alert(1)"> Launch'
        assert page.locator("img").count() == 0
        page.wait_for_function("document.getElementById('video').currentTime > 2", timeout=30_000)
        first = page.evaluate("document.getElementById('video').currentTime")
        time.sleep(2)  # wall time for playback to advance
        second = page.evaluate("document.getElementById('video').currentTime")
        assert second > first + 1.0
        # The page aims 2.7 parts behind the edge (parts are 333 ms), and nudges the playback
        # rate to get there after a late start; it must get under the 1.5 s ceiling.
        page.wait_for_function(
            "Math.abs(window.livecastPlayer.targetLatency - 0.9) < 0.02", timeout=30_000
        )
        page.wait_for_function("window.livecastPlayer.latency < 1.5", timeout=30_000)
        latency = page.evaluate("window.livecastPlayer.latency")
        print(f"hls.js live latency: {latency:.2f} s")
        assert latency > 0
        assert page.text_content("#status") == "live"
    finally:
        publisher.terminate()
        publisher.wait(10)
