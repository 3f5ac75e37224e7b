"""Chat over the room WebSocket: two clients, acks, validation, anonymous access, XSS."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.realtime.conftest import Person, eventually


async def test_two_clients_chat(person: Any, stream: Any, connect: Any) -> None:
    alice: Person = await person("alice")
    bob: Person = await person("bob", role="viewer")
    live = await stream(alice, live=True)
    async with connect(live.id, alice) as a, connect(live.id, bob) as b:
        welcome = await a.recv()
        assert welcome["type"] == "welcome"
        assert welcome["v"] == 1
        assert welcome["role"] == "streamer"
        assert welcome["can_chat"] is True
        assert (await b.recv())["role"] == "viewer"

        await a.send(type="comment", cid="a-1", text="  hello\x00 bob  ")
        ack = await a.ack("a-1")
        assert ack["ok"] is True
        assert ack["seq"] > 0
        assert ack["remaining"] == 4
        assert ack["retry_after_ms"] == 0
        seen = await b.event(lambda e: e["type"] == "comment")
        assert seen["seq"] == ack["seq"]
        assert seen["text"] == "hello bob"
        assert seen["user"] == {"id": str(alice.id), "name": "alice", "display_name": "Alice"}
        assert seen["cid"] == "a-1"
        assert isinstance(seen["media_time_ms"], int)
        assert seen["time"].endswith("Z")

        await b.send(type="comment", cid="b-1", text="hi alice")
        reply = await a.event(lambda e: e["type"] == "comment" and e["text"] == "hi alice")
        assert reply["seq"] == ack["seq"] + 1


async def test_acks_show_the_rate_limit_and_refusals_say_why(
    person: Any, stream: Any, connect: Any, clock: Any
) -> None:
    alice: Person = await person("alice")
    bob: Person = await person("bob", role="viewer")
    room = await stream(alice)
    async with connect(room.id, bob) as b:
        await b.recv()
        remaining = []
        for n in range(5):
            await b.send(type="comment", cid=f"c{n}", text=f"message {n}")
            ack = await b.ack(f"c{n}")
            assert ack["ok"] is True
            remaining.append(ack["remaining"])
        assert remaining == [4, 3, 2, 1, 0]
        await b.send(type="comment", cid="c5", text="one too many")
        refused = await b.ack("c5")
        assert refused["ok"] is False
        assert refused["reason"] == "rate_limited"
        assert refused["remaining"] == 0
        assert 1000 <= refused["retry_after_ms"] <= 2000  # 30 a minute: one every 2 s
        clock.advance(refused["retry_after_ms"] / 1000)
        await b.send(type="comment", cid="c6", text="patience pays")
        assert (await b.ack("c6"))["ok"] is True

        await b.send(type="comment", cid="long", text="x" * 501)
        too_long = await b.ack("long")
        assert (too_long["ok"], too_long["reason"]) == (False, "too_long")
        assert "500" in too_long["detail"]
        await b.send(type="comment", cid="blank", text=" \x07 \n ")
        assert (await b.ack("blank"))["reason"] == "empty"


async def test_a_duplicate_cid_gets_the_original_seq_and_is_not_rebroadcast(
    person: Any, stream: Any, connect: Any, hub: Any
) -> None:
    alice: Person = await person("alice")
    room = await stream(alice)
    async with connect(room.id, alice) as a, connect(room.id) as watcher:
        await a.recv()
        await watcher.recv()
        await a.send(type="comment", cid="same", text="once")
        first = await a.ack("same")
        await a.send(type="comment", cid="same", text="once")
        again = await a.ack("same")
        assert again["ok"]
        assert again["duplicate"]
        assert again["seq"] == first["seq"]
        await a.send(type="comment", cid="next", text="then this")
        after = await watcher.event(lambda e: e.get("cid") == "next")
        assert [e["cid"] for e in watcher.events("comment")] == ["same", "next"]
        assert after["seq"] == first["seq"] + 1
    # The room closed with its cache; a new one asks the log.
    await _until_closed(hub, room.id)
    async with connect(room.id, alice) as a:
        await a.recv()
        await a.send(type="comment", cid="same", text="once")
        later = await a.ack("same")
        assert later["duplicate"]
        assert later["seq"] == first["seq"]


async def _until_closed(hub: Any, stream_id: Any) -> None:
    await eventually(lambda: stream_id not in hub.rooms, what="the room to close")


async def test_anonymous_viewers_read_and_chat_only_when_allowed(
    person: Any, stream: Any, connect: Any, client: httpx.AsyncClient
) -> None:
    alice: Person = await person("alice")
    room = await stream(alice)
    async with (
        connect(room.id, session_id="guest-session-1") as guest,
        connect(room.id, alice) as a,
    ):
        welcome = await guest.recv()
        assert welcome["user"] is None
        assert welcome["role"] == "anonymous"
        assert welcome["can_chat"] is False
        await a.recv()
        await guest.send(type="comment", cid="g1", text="hello?")
        assert (await guest.ack("g1"))["reason"] == "login_required"
        await guest.send(type="reaction", kind="fire", cid="r1")
        assert (await guest.ack("r1"))["reason"] == "login_required"

        await a.send(type="comment", cid="a1", text="anyone there?")
        assert (await guest.event(lambda e: e["type"] == "comment"))["text"] == "anyone there?"

        response = await client.patch(
            f"/api/v1/streams/{room.id}/chat/settings",
            headers=alice.headers,
            json={"anonymous_chat": True},
        )
        assert response.status_code == 200, response.text
        await guest.event(lambda e: e["type"] == "chat_settings")
        await guest.send(type="comment", cid="g2", text="hello!")
        assert (await guest.ack("g2"))["ok"] is True
        said = await a.event(lambda e: e.get("cid") == "g2")
        assert said["user"]["id"] is None
        assert said["user"]["name"].startswith("guest-")


async def test_private_streams_take_the_token_in_the_first_message(
    person: Any, stream: Any, connect: Any, hub: Any
) -> None:
    alice: Person = await person("alice")
    bob: Person = await person("bob")
    hidden = await stream(alice, visibility="private")
    async with connect(hidden.id) as ws:
        await ws.send(type="auth", token=alice.token)
        welcome = await ws.recv()
        assert welcome["type"] == "welcome"
        assert welcome["user"]["name"] == "alice"
    async with connect(hidden.id) as ws:  # someone who may not see it: as if it did not exist
        await ws.send(type="auth", token=bob.token)
        assert await ws.closed() == (4404, "no such stream")
    async with connect(hidden.id, token="not-a-token") as ws:
        code, reason = await ws.closed()
        assert code == 4401
        assert "invalid" in reason
    async with connect(hidden.id) as ws:
        await ws.send(type="comment", text="let me in")
        assert (await ws.closed())[0] == 4401
    async with connect("not-a-uuid", alice) as ws:
        assert (await ws.closed())[0] == 4404
    async with connect(hidden.id, alice, since="-1") as ws:
        assert (await ws.closed())[0] == 4400
    hub.settings.ws_auth_timeout_seconds = 0.05
    async with connect(hidden.id) as ws:
        assert await ws.closed() == (4408, "authenticate first")


async def test_an_anonymous_connection_can_log_in(person: Any, stream: Any, connect: Any) -> None:
    alice: Person = await person("alice")
    bob: Person = await person("bob", role="viewer")
    room = await stream(alice)
    async with connect(room.id) as ws:
        await ws.recv()
        await ws.send(type="auth", token=bob.token, cid="login")
        ok = await ws.wait_for(lambda m: m["type"] == "auth_ok")
        assert ok["user"]["name"] == "bob"
        assert ok["role"] == "viewer"
        await ws.send(type="comment", cid="c1", text="now I can talk")
        assert (await ws.ack("c1"))["ok"] is True
        await ws.send(type="auth", token=alice.token, cid="switch")
        refused = await ws.wait_for(lambda m: m["type"] == "error")
        assert refused["code"] == "auth_failed"
        assert refused["cid"] == "switch"


async def test_bad_messages_get_errors_not_crashes(person: Any, stream: Any, connect: Any) -> None:
    alice: Person = await person("alice")
    room = await stream(alice)
    async with connect(room.id, alice) as ws:
        await ws.recv()
        await ws.send_raw("not json")
        assert (await ws.recv())["code"] == "bad_json"
        await ws.send_raw('{"v": 2, "type": "comment", "text": "future"}')
        assert (await ws.recv())["code"] == "unsupported_version"
        await ws.send(type="reaction", kind="shrug", cid="r")
        error = await ws.recv()
        assert error["code"] == "bad_message"
        assert error["cid"] == "r"
        assert "kind" in error["detail"]
        await ws.send(type="ping", cid="p")
        assert await ws.recv() == {"v": 1, "type": "pong", "cid": "p"}
        await ws.send_raw("x" * 9000)
        assert (await ws.closed())[0] == 1009


XSS = '<img src=x onerror="alert(1)"><script>alert(document.cookie)</script>'


async def test_markup_is_stored_and_returned_as_inert_text(
    person: Any, stream: Any, connect: Any, client: httpx.AsyncClient
) -> None:
    alice: Person = await person("alice")
    room = await stream(alice)
    async with connect(room.id, alice) as ws:
        await ws.recv()
        await ws.send(type="comment", cid="x", text=XSS)
        await ws.ack("x")
        live = await ws.event(lambda e: e["type"] == "comment")
    assert live["text"] == XSS  # data, unchanged: whoever renders it escapes it
    raw = next(text for text in ws.raw if "onerror" in text)
    assert '"text":"<img src=x onerror=\\"alert(1)\\"><script>' in raw  # a JSON string value
    response = await client.get(f"/api/v1/streams/{room.id}/comments")
    assert response.headers["content-type"] == "application/json"
    assert response.json()["items"][0]["text"] == XSS


@pytest.mark.parametrize("ws", ["livecast", "asgi"])
async def test_two_clients_chat_over_real_sockets(
    person: Any, stream: Any, app: Any, ws: str
) -> None:
    """The same through uvicorn and the websockets client: real frames on real sockets,
    through livecast's own WebSocket protocol (as `livecast serve` runs) and through ASGI.

    Alice gives her token in the URL (as a browser would), Bob in his first message.
    """
    import asyncio
    import json

    import uvicorn
    from websockets.asyncio.client import connect as ws_connect

    from livecast.realtime.wsserver import RoomWebSocketProtocol

    alice: Person = await person("alice")
    bob: Person = await person("bob", role="viewer")
    room = await stream(alice, visibility="followers", live=True)
    await follow(app, bob, alice)
    protocol: Any = RoomWebSocketProtocol if ws == "livecast" else "auto"
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, lifespan="off", ws=protocol
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started, what="uvicorn to start")
        port = server.servers[0].sockets[0].getsockname()[1]
        base = f"ws://127.0.0.1:{port}/ws/streams/{room.id}"
        async with ws_connect(f"{base}?token={alice.token}") as a, ws_connect(base) as b:
            await b.send(json.dumps({"v": 1, "type": "auth", "token": bob.token}))
            assert json.loads(await a.recv())["user"]["name"] == "alice"
            assert json.loads(await b.recv())["user"]["name"] == "bob"
            await a.send(json.dumps({"v": 1, "type": "comment", "cid": "1", "text": "hi bob"}))
            while True:
                message = json.loads(await asyncio.wait_for(b.recv(), 5))
                comments = [e for e in message.get("events", ()) if e["type"] == "comment"]
                if comments:
                    assert comments[0]["text"] == "hi bob"
                    break
    finally:
        server.should_exit = True
        await serving


async def follow(app: Any, follower: Person, followee: Person) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        url = f"/api/v1/users/{followee.id}/follow"
        assert (await http.post(url, headers=follower.headers)).status_code == 204
