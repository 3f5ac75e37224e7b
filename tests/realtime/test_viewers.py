"""Viewer tracking: heartbeats, tabs, the 30 s expiry, the streamer's list, milestones."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from livecast.events.catalog import ViewerMilestone
from livecast.realtime.hub import Hub
from livecast.storage.models import RoomEvent, Stream, ViewerSession
from tests.helpers import assert_problem
from tests.realtime.conftest import Person, beat

API = "/api/v1/streams"


async def rows(ctx: Any, stream_id: Any) -> dict[str, ViewerSession]:
    async with ctx.sessions() as session:
        found = await session.scalars(
            select(ViewerSession).where(ViewerSession.stream_id == stream_id)
        )
        return {row.session_id: row for row in found}


async def test_one_viewer_counts_once_across_tabs_and_silence_ends_a_session(
    ctx: Any,
    hub: Hub,
    person: Any,
    stream: Any,
    connect: Any,
    client: httpx.AsyncClient,
    clock: Any,
) -> None:
    alice: Person = await person("alice")
    bob: Person = await person("bob", role="viewer")
    room = await stream(alice, live=True)
    async with connect(room.id) as watcher:
        await watcher.recv()
        for tab in ("bob-tab-1", "bob-tab-2"):
            assert (await beat(client, room.id, tab, bob)).status_code == 200
        for guest in ("guest-0001", "guest-0002"):
            response = await beat(client, room.id, guest)
        # bob's two tabs are one viewer; the watcher's chat connection is one too.
        assert response.json()["viewers"] == 4
        await hub.viewers.flush()
        update = await watcher.event(lambda e: e["type"] == "viewer_update")
        assert (update["viewers"], update["peak"]) == (4, 4)
        fetched = (await client.get(f"{API}/{room.id}")).json()
        assert (fetched["viewer_count"], fetched["peak_viewer_count"]) == (4, 4)

        clock.advance(20)
        await beat(client, room.id, "bob-tab-1", bob)
        await beat(client, room.id, "guest-0001")
        clock.advance(11)  # bob-tab-2 and guest-0002 have been silent for 31 s
        expired = await hub.viewers.sweep()
        assert sorted(s.session_id for s in expired) == ["bob-tab-2", "guest-0002"]
        await hub.viewers.flush()
        assert (await watcher.event(lambda e: e["type"] == "viewer_update"))["viewers"] == 3
        clock.advance(18)
        assert await hub.viewers.sweep() == []  # 29 s: still watching
        clock.advance(2)
        assert {s.session_id for s in await hub.viewers.sweep()} == {"bob-tab-1", "guest-0001"}
        await hub.viewers.flush()
        update = await watcher.event(lambda e: e["type"] == "viewer_update")
        assert (update["viewers"], update["peak"]) == (1, 4)

    sessions = await rows(ctx, room.id)
    tab1, tab2 = sessions["bob-tab-1"], sessions["bob-tab-2"]
    assert tab1.watch_seconds == 20
    assert tab1.left_at == tab1.last_seen_at
    assert tab2.watch_seconds == 0
    assert tab2.left_at == tab2.joined_at
    assert tab1.user_id == bob.id
    assert tab1.viewer_key == tab2.viewer_key == f"u:{bob.id}"


async def test_the_streamer_sees_sessions_with_device_and_country_but_no_ip(
    ctx: Any, hub: Hub, person: Any, stream: Any, client: httpx.AsyncClient
) -> None:
    alice: Person = await person("alice")
    bob: Person = await person("bob", role="viewer")
    room = await stream(alice, live=True)
    spy = {"CF-IPCountry": "de", "X-Forwarded-For": "203.0.113.9"}
    first = await beat(
        client,
        room.id,
        "player-000001",
        bob,
        headers=spy,
        device_type="mobile",
        resolution="1280x720",
        buffering_events=2,
        buffering_ms=700,
        quality_changes=1,
    )
    assert first.status_code == 200, first.text
    await beat(client, room.id, "player-000001", bob, buffering_events=1, resolution="720p")
    await beat(client, room.id, "player-000002", headers={"X-Country": "Germany"})

    listing = await client.get(f"{API}/{room.id}/viewers", headers=alice.headers)
    assert listing.status_code == 200, listing.text
    body = listing.json()
    assert (body["concurrent"], body["unique"], body["total"]) == (2, 2, 2)
    mobile = next(s for s in body["sessions"] if s["session_id"] == "player-000001")
    assert mobile["user"]["username"] == "bob"
    assert mobile["country"] == "DE"
    assert (mobile["device_type"], mobile["resolution"]) == ("mobile", "720p")
    assert (mobile["buffering_events"], mobile["buffering_ms"], mobile["quality_changes"]) == (
        3,
        700,
        1,
    )
    other = next(s for s in body["sessions"] if s["session_id"] == "player-000002")
    assert other["country"] is None
    assert other["user"] is None
    assert "203.0.113.9" not in listing.text
    assert not any("ip" in column.name.split("_") for column in ViewerSession.__table__.columns)

    assert_problem(await client.get(f"{API}/{room.id}/viewers", headers=bob.headers), 403)
    assert_problem(await client.get(f"{API}/{room.id}/viewers"), 401)


async def test_join_leave_and_refusals(
    ctx: Any, hub: Hub, person: Any, stream: Any, client: httpx.AsyncClient
) -> None:
    alice: Person = await person("alice")
    bob: Person = await person("bob", role="viewer")
    room = await stream(alice, live=True)
    joined = await client.post(f"{API}/{room.id}/join", json={"device_type": "tv"})
    assert joined.status_code == 200, joined.text
    session_id = joined.json()["session_id"]
    assert joined.json()["viewers"] == 1
    assert joined.json()["heartbeat_interval_seconds"] == 10
    left = await client.post(f"{API}/{room.id}/leave", json={"session_id": session_id})
    assert left.status_code == 204
    assert (await rows(ctx, room.id))[session_id].left_at is not None
    assert hub.viewers.concurrent(room.id) == 0
    again = await client.post(f"{API}/{room.id}/leave", json={"session_id": session_id})
    assert again.status_code == 204

    await beat(client, room.id, "owned-by-bob", bob)
    assert_problem(await beat(client, room.id, "owned-by-bob", alice), 409, "another viewer")
    assert_problem(await beat(client, room.id, "short"), 422, "session_id")

    hidden = await stream(alice, visibility="private")
    assert_problem(await beat(client, hidden.id, "a-guest-001"), 404)
    await client.post(f"{API}/{room.id}/end", headers=alice.headers)
    assert_problem(await beat(client, room.id, "late-viewer"), 409, "ended")
    assert all(row.left_at is not None for row in (await rows(ctx, room.id)).values())
    async with ctx.sessions() as session:
        ended = await session.get(Stream, room.id)
        assert ended is not None
        assert ended.viewer_count == 0
        assert ended.peak_viewer_count == 1


async def test_chat_connections_hold_their_session(
    ctx: Any,
    hub: Hub,
    person: Any,
    stream: Any,
    connect: Any,
    client: httpx.AsyncClient,
    clock: Any,
) -> None:
    alice: Person = await person("alice")
    room = await stream(alice, live=True)
    async with connect(room.id, session_id="page-00000001", headers={"CF-IPCountry": "FR"}) as ws:
        await ws.recv()
        await beat(client, room.id, "page-00000001")  # the player on the same page
        assert hub.viewers.concurrent(room.id) == 1
        clock.advance(60)
        assert await hub.viewers.sweep() == []  # the open chat connection keeps it alive
    assert hub.viewers.concurrent(room.id) == 1  # the player may still be playing
    clock.advance(31)
    assert [s.session_id for s in await hub.viewers.sweep()] == ["page-00000001"]
    assert (await rows(ctx, room.id))["page-00000001"].country == "FR"

    async with connect(room.id) as ws:  # no session id: the connection is the session
        await ws.recv()
        assert hub.viewers.concurrent(room.id) == 1
    assert hub.viewers.concurrent(room.id) == 0


async def test_milestones_fire_once_each(
    ctx: Any, hub: Hub, person: Any, stream: Any, connect: Any, clock: Any, bus_events: list[Any]
) -> None:
    alice: Person = await person("alice")
    room = await stream(alice, live=True)
    tracker = hub.viewers

    async def watchers(count: int, prefix: str = "v") -> None:
        for n in range(count):
            now = clock.now().timestamp()
            await tracker.presence.touch(room.id, f"{prefix}{n}", f"s:{prefix}{n}", now)
        await tracker.changed(room.id)
        await tracker.flush()

    def fired() -> list[int]:
        return [e.viewers for e in bus_events if isinstance(e, ViewerMilestone)]

    async with connect(room.id) as ws:
        await ws.recv()
        await watchers(98)  # and the connection's own session: 99
        assert fired() == []
        await watchers(99)
        assert fired() == [100]
        await watchers(10_000)
        assert fired() == [100, 1000, 10_000]
        await watchers(10_000)
        clock.advance(31)
        await tracker.sweep()
        await tracker.flush()
        await watchers(150, prefix="again")  # down and up again: no second time
        system = await ws.events_until(
            lambda events: len([e for e in events if e["type"] == "system"]) >= 3
        )
    assert [e["viewers"] for e in system if e.get("event") == "viewer_milestone"] == [
        100,
        1000,
        10_000,
    ]

    restarted = Hub(ctx, clock=clock, background=False)  # a new node knows nothing in memory
    try:
        for n in range(150):
            now = clock.now().timestamp()
            await restarted.viewers.presence.touch(room.id, f"r{n}", f"s:r{n}", now)
        await restarted.viewers.changed(room.id)
        await restarted.viewers.flush()
    finally:
        await restarted.close()
    assert fired() == [100, 1000, 10_000]
    async with ctx.sessions() as session:
        logged = await session.scalars(
            select(RoomEvent).where(RoomEvent.stream_id == room.id, RoomEvent.type == "system")
        )
        milestones = [e.body["viewers"] for e in logged if e.body["event"] == "viewer_milestone"]
    assert milestones == [100, 1000, 10_000]
