"""Events are stored, filtered, and tailed over SSE."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import uvicorn

from livecast.api.app import create_app
from livecast.context import AppContext
from tests.helpers import assert_problem, user_headers


async def _stream(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.post("/api/v1/streams", json={"title": "Show"}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_lifecycle_events_are_stored_and_filtered(client: httpx.AsyncClient) -> None:
    alice = await user_headers(client, "alice")
    stream_id = await _stream(client, alice)
    for action in ("start", "end"):
        assert (
            await client.post(f"/api/v1/streams/{stream_id}/{action}", headers=alice)
        ).is_success
    url = f"/api/v1/streams/{stream_id}/events"
    page = (await client.get(url, headers=alice)).json()
    assert [e["type"] for e in page["items"]] == ["StreamCreated", "StreamStarted", "StreamEnded"]
    assert page["items"][0]["data"] == {"title": "Show"}
    assert {e["severity"] for e in page["items"]} == {"info"}
    only = (await client.get(url, params={"type": "StreamEnded"}, headers=alice)).json()
    assert [e["type"] for e in only["items"]] == ["StreamEnded"]
    later = page["items"][1]["occurred_at"]
    since = (await client.get(url, params={"from": later}, headers=alice)).json()
    assert [e["type"] for e in since["items"]] == ["StreamStarted", "StreamEnded"]
    none = await client.get(url, params={"severity": "error"}, headers=alice)
    assert none.json()["total"] == 0


async def test_events_are_for_the_owner(client: httpx.AsyncClient) -> None:
    alice = await user_headers(client, "alice")
    bob = await user_headers(client, "bob")
    stream_id = await _stream(client, alice)
    url = f"/api/v1/streams/{stream_id}/events"
    assert_problem(await client.get(url, headers=bob), 403)
    assert_problem(await client.get(url), 401)
    bad = {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    assert_problem(await client.get(url, params=bad, headers=alice), 400, "before")


async def test_sse_tails_new_events(ctx: AppContext) -> None:
    app = create_app(ctx)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(5):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            alice = await user_headers(http, "alice")
            stream_id = await _stream(http, alice)
            url = f"/api/v1/streams/{stream_id}/events/stream"
            async with http.stream("GET", url, headers=alice) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                lines = response.aiter_lines()
                assert await anext(lines) == "retry: 2000"
                started = await http.post(f"/api/v1/streams/{stream_id}/start", headers=alice)
                assert started.is_success
                frame = await asyncio.wait_for(_frame(lines), 5)
            assert frame["event"] == "StreamStarted"
            # Resuming from the StreamCreated id replays what came after it.
            first = int(frame["id"]) - 1
            resume = {**alice, "Last-Event-ID": str(first)}
            async with http.stream("GET", url, headers=resume) as response:
                frame = await asyncio.wait_for(_frame(response.aiter_lines()), 5)
            assert frame["event"] == "StreamStarted"
    finally:
        server.should_exit = True
        await serving
        await app.state.realtime.close()
        await app.state.live.close()


async def _frame(lines: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    async for line in lines:
        if not line:
            if "data" in fields:
                fields["data"] = json.loads(fields["data"])
                return fields
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(": ")
        fields[name] = value
    raise AssertionError("the stream ended")
