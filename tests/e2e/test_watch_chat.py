"""Two users chat on the watch page in real headless Chromium, against a real `livecast serve`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e import test_watch_page
from tests.e2e.conftest import Server, publish_live

pytestmark = pytest.mark.e2e
browser = test_watch_page.browser  # the same headless Chromium fixture
XSS = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


def register(server: Server, username: str) -> None:
    user = {"username": username, "email": f"{username}@example.com", "password": "chat password"}
    server.http.post("/api/v1/auth/register", json=user).raise_for_status()


def open_as(browser: Any, server: Server, stream_id: str, username: str) -> Any:
    # The page needs no eval; bypassing its CSP only lets Playwright evaluate probes.
    page = browser.new_context(bypass_csp=True).new_page()
    response = page.goto(f"{server.base}/watch/{stream_id}")
    csp = response.headers["content-security-policy"]
    assert "connect-src 'self' ws: wss:" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    page.wait_for_selector("#login", state="visible", timeout=10_000)  # anonymous: read-only
    assert page.is_hidden("#post")
    page.fill("#username", username)
    page.fill("#password", "chat password")
    page.click("#login button[type=submit]")
    page.wait_for_selector("#post", state="visible", timeout=10_000)
    return page


def say(page: Any, text: str) -> None:
    page.fill("#text", text)
    page.click("#send")
    page.wait_for_function("document.getElementById('text').value === ''", timeout=10_000)


def wait_comment(page: Any, text: str) -> None:
    page.wait_for_function(
        "text => Array.from(document.querySelectorAll('#comments .text'))"
        ".some(node => node.textContent === text)",
        arg=text,
        timeout=10_000,
    )


def test_two_users_chat_react_and_are_counted(server: Server, browser: Any) -> None:
    stream = server.create_stream(title="chat e2e")
    publisher = publish_live(f"{server.rtmp}/{stream['stream_key']}", 60)
    try:
        server.wait_status(stream["id"], "live")
        register(server, "alice")
        register(server, "bob")
        alice = open_as(browser, server, stream["id"], "alice")
        bob = open_as(browser, server, stream["id"], "bob")

        say(alice, "hi bob")
        wait_comment(bob, "hi bob")
        say(bob, "hello alice")
        wait_comment(alice, "hello alice")
        assert bob.text_content("#comments li:last-child .author") == "bob"

        # Markup in a comment is text on the other page: no element, no script run.
        say(alice, XSS)
        wait_comment(bob, XSS)
        assert bob.locator("#comments img, #comments script").count() == 0
        assert bob.evaluate("window.pwned") is None

        # The streamer pins one comment and deletes another: both pages follow.
        api = f"/api/v1/streams/{stream['id']}"
        seqs = {c["text"]: c["seq"] for c in server.http.get(f"{api}/comments").json()["items"]}
        server.http.post(f"{api}/comments/{seqs['hello alice']}/pin", json={}).raise_for_status()
        server.http.delete(f"{api}/comments/{seqs['hi bob']}").raise_for_status()
        for page in (alice, bob):
            page.wait_for_selector("#pinned .text", state="visible", timeout=10_000)
            assert page.text_content("#pinned .text") == "hello alice"
            page.wait_for_function(
                "!Array.from(document.querySelectorAll('#comments .text'))"
                ".some(node => node.textContent === 'hi bob')",
                timeout=10_000,
            )

        # A reaction tapped on one page shows up, aggregated, on the other.
        alice.click("#reaction-fire")
        bob.wait_for_function(
            "document.querySelector('#reaction-fire .count').textContent === '1'",
            timeout=10_000,
        )

        # Two users, two pages: two viewers, pushed to both pages.
        for page in (alice, bob):
            page.wait_for_function(
                "document.getElementById('viewers').textContent === '2'", timeout=15_000
            )

        # The players' heartbeats reached the server; the second (10 s later, in wall time)
        # carries the resolution hls.js is playing.
        for page in (alice, bob):
            page.wait_for_function("window.livecast.heartbeats >= 2", timeout=30_000)
        viewers = server.http.get(f"/api/v1/streams/{stream['id']}/viewers").json()
        assert viewers["concurrent"] == 2
        sessions = viewers["sessions"]
        assert {s["user"]["username"] for s in sessions if s["user"]} == {"alice", "bob"}
        assert {s["device_type"] for s in sessions} == {"desktop"}
        assert {s["resolution"] for s in sessions} == {"640x360"}
    finally:
        publisher.terminate()
        publisher.wait(10)
