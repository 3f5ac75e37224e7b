"""Delivery: batched frames encoded once, reaction aggregation, order, and slow clients."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from typing import Any

import httpx
import pytest

from livecast.realtime.connection import Connection
from livecast.realtime.hub import Hub
from livecast.realtime.room import BROADCAST_SLICE, Room
from livecast.realtime.socket import sender_for
from livecast.settings import Settings
from tests.realtime.conftest import Person, eventually
from tests.realtime.helpers import append_comments, seqs

API = "/api/v1/streams"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"ws_send_queue_soft": 4, "ws_send_queue_hard": 40})


async def flushed(hub: Hub, stream_id: Any, seq: int) -> None:
    await eventually(lambda: hub.rooms[stream_id].flushed_seq >= seq, what=f"seq {seq} sent")


async def test_events_go_out_in_batches_encoded_once_per_tick(
    ctx: Any, hub: Hub, person: Any, stream: Any, connect: Any
) -> None:
    alice: Person = await person("alice")
    room = await stream(alice)
    async with connect(room.id) as a, connect(room.id) as b:
        await a.recv()
        await b.recv()
        posted = await append_comments(ctx, hub, room, 5)
        frame_a = await a.wait_for(lambda m: m["type"] == "batch")
        frame_b = await b.wait_for(lambda m: m["type"] == "batch")
        assert seqs(frame_a["events"]) == posted == seqs(frame_b["events"])
        assert a.raw[-1] is b.raw[-1]  # the very same string: encoded once for the room


async def test_events_published_out_of_order_are_delivered_in_order(
    ctx: Any, hub: Hub, person: Any, stream: Any, connect: Any
) -> None:
    from livecast.realtime import eventlog

    alice: Person = await person("alice")
    room = await stream(alice)
    async with connect(room.id) as a:
        await a.recv()
        published = []
        for text in ("first", "second"):
            async with ctx.sessions() as session:
                tx = await eventlog.open_log(session, room.id, None, hub.clock.now())
                tx.append("comment", {"cid": None, "user": {"id": None}, "text": text})
                published.append(await eventlog.finish_log(session, tx))
                await session.commit()
        await hub.publish(room.id, alice.id, published[1])  # the second overtakes the first
        events = await a.events_until(lambda events: len(events) >= 2)
        await hub.publish(room.id, alice.id, published[0])  # ...which arrives late: ignored
        await append_comments(ctx, hub, room, 1)
        events = await a.events_until(lambda events: len(events) >= 3)
        assert [e["text"] for e in events] == ["first", "second", "bulk 0"]


async def test_reactions_likes_and_shares_are_counted_not_echoed(
    person: Any, stream: Any, connect: Any, client: httpx.AsyncClient
) -> None:
    alice: Person = await person("alice")
    bob: Person = await person("bob", role="viewer")
    room = await stream(alice)
    async with (
        connect(room.id, alice) as a,
        connect(room.id, bob) as b,
        connect(room.id) as watcher,
    ):
        for ws in (a, b, watcher):
            await ws.recv()
        for _ in range(18):
            await a.send(type="reaction", kind="fire")
        for n in range(16):
            await b.send(type="reaction", kind="love" if n % 2 else "clap")
        for _ in range(2):
            await a.send(type="like")  # a user likes a stream once
            await b.send(type="share")
        await b.send(type="like", cid="like")
        assert (await b.ack("like"))["ok"] is True
        await a.send(type="reaction", kind="wow", cid="one-too-many")  # a's 21st tap at once
        refused = await a.ack("one-too-many")
        assert refused["reason"] == "rate_limited"
        assert refused["retry_after_ms"] > 0

        def counted(events: list[dict[str, Any]]) -> bool:
            totals = [e for e in events if e["type"] == "reactions"]
            counters = [e for e in events if e["type"] == "counters"]
            return (
                bool(totals and counters)
                and sum(totals[-1]["totals"].values()) == 34
                and (counters[-1] == {**counters[-1], "likes": 2, "shares": 2})
            )

        events = await watcher.events_until(counted)
        reactions = [e for e in events if e["type"] == "reactions"]
        assert len(reactions) < 10  # 34 taps, a handful of events
        assert sum((Counter(e["counts"]) for e in reactions), Counter()) == Counter(
            fire=18, love=8, clap=8
        )
    async with connect(room.id) as late:
        state = (await late.recv())["state"]
        assert state["reactions"] == {"like": 0, "love": 8, "fire": 18, "clap": 8, "wow": 0}
        assert (state["likes"], state["shares"]) == (2, 2)


async def test_a_slow_client_gets_samples_of_chat_but_every_priority_event(
    ctx: Any, hub: Hub, person: Any, stream: Any, connect: Any, client: httpx.AsyncClient
) -> None:
    alice: Person = await person("alice")
    carol: Person = await person("carol", role="viewer")
    room = await stream(alice)
    async with connect(room.id, capacity=1) as slow:
        await slow.recv()
        conn = next(iter(hub.rooms[room.id].connections))
        total = 0
        for tick in range(30):
            if tick == 10:
                first = (await append_comments(ctx, hub, room, 1))[0]
                total += 1
                pinned = await client.post(
                    f"{API}/{room.id}/comments/{first}/pin", headers=alice.headers, json={}
                )
                assert pinned.status_code == 200, pinned.text
            if tick == 20:
                banned = await client.put(
                    f"{API}/{room.id}/bans/{carol.id}", headers=alice.headers, json={}
                )
                assert banned.status_code == 200, banned.text
            last = (await append_comments(ctx, hub, room, 5))[-1]
            total += 5
            await flushed(hub, room.id, last)
        assert conn.backlog > 20  # the client is not reading
        events = await slow.events_until(lambda events: last in seqs(events))
    assert {"pin", "ban"} <= {e["type"] for e in events}
    sampled = [m for m in slow.messages if m.get("sampled")]
    comments = [e for e in events if e["type"] == "comment"]
    assert sampled
    assert len(comments) < total
    assert len(comments) + sum(m["skipped"] for m in sampled) == total


async def test_a_client_past_the_hard_bound_is_disconnected_and_resumes(
    ctx: Any, hub: Hub, person: Any, stream: Any, connect: Any
) -> None:
    alice: Person = await person("alice")
    room = await stream(alice)
    async with connect(room.id, capacity=1) as stuck, connect(room.id) as other:
        await stuck.recv()
        await other.recv()
        for _ in range(45):
            last = (await append_comments(ctx, hub, room, 2))[-1]
            await flushed(hub, room.id, last)
        code, reason = await stuck.closed()
        await stuck.drain()  # what reached the client before the close
        assert code == 4429
        since = int(re.fullmatch(r"too slow; reconnect with since=(\d+)", reason)[1])  # type: ignore[index]
        await other.events_until(lambda events: last in seqs(events))
    had = seqs(stuck.events())
    assert had
    assert max(had) <= since
    async with connect(room.id, since=since) as again:
        events = await again.events_until(lambda events: last in seqs(events))
    assert seqs(events) == list(range(since + 1, last + 1))


async def test_stream_start_and_end_are_system_events(
    person: Any, stream: Any, connect: Any, client: httpx.AsyncClient
) -> None:
    alice: Person = await person("alice")
    room = await stream(alice)
    url = f"{API}/{room.id}"
    async with connect(room.id, alice) as a:
        await a.recv()
        await a.send(type="comment", cid="early", text="waiting for the show")
        early = await a.event(lambda e: e["type"] == "comment")
        assert early["media_time_ms"] is None
        assert (await client.post(f"{url}/start", headers=alice.headers)).status_code == 200
        started = await a.event(lambda e: e["type"] == "system")
        assert started["event"] == "stream_started"
        assert started["started_at"].endswith("Z")
        await a.send(type="comment", cid="live", text="we are live")
        live = await a.event(lambda e: e["type"] == "comment")
        assert isinstance(live["media_time_ms"], int)
        assert live["media_time_ms"] >= 0
        assert (await client.post(f"{url}/end", headers=alice.headers)).status_code == 200
        ended = await a.event(lambda e: e["type"] == "system")
        assert ended["event"] == "stream_ended"


class Recorder:
    """A client's socket that keeps what it is sent."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def send(self, text: str) -> None:
        self.texts.append(text)

    def try_send(self, text: str) -> bool:
        self.texts.append(text)
        return True

    async def close(self, code: int, reason: str) -> None:
        return None

    def frames(self) -> list[list[int]]:
        return [[e["seq"] for e in json.loads(text)["events"]] for text in self.texts]


async def test_events_delivered_during_a_broadcast_join_it_for_the_clients_still_to_come(
    hub: Hub, person: Any, stream: Any
) -> None:
    """A broadcast to 1,200 clients goes in three slices; events that arrive after the first
    slice reach the other 700 clients in this broadcast, the first 500 in the next, and every
    client gets every event once, in order."""
    alice: Person = await person("alice")
    row = await stream(alice)
    room = Room(hub, row.id, lambda _: None)  # not opened: no tick of its own to race
    room._opening = False
    sockets = [Recorder() for _ in range(1_200)]
    senders = []
    for recorder in sockets:
        conn = Connection(
            recorder, sender_for(None, "s" * 8), "s" * 8, soft_limit=16, hard_limit=64
        )
        room.join(conn)
        senders.append(asyncio.create_task(conn.send_loop()))
    await asyncio.sleep(0)  # the send loops start: frames are written at once from now on

    def comment(seq: int) -> dict[str, Any]:
        return {"seq": seq, "type": "comment", "text": f"c{seq}"}

    room.deliver([comment(1), comment(2), comment(3)])
    broadcast = asyncio.create_task(room.broadcast())
    # Runs when the broadcast first lets the loop go, after its first slice of 500.
    asyncio.get_running_loop().call_soon(room.deliver, [comment(4), comment(5)])
    await broadcast
    await room.broadcast()
    firsts = Counter(tuple(recorder.frames()[0]) for recorder in sockets)
    assert firsts == {(1, 2, 3): BROADCAST_SLICE, (1, 2, 3, 4, 5): 1_200 - BROADCAST_SLICE}
    for recorder in sockets:
        assert [seq for frame in recorder.frames() for seq in frame] == [1, 2, 3, 4, 5]
    assert room._tail == []  # all handed out: nothing kept
    assert room.flushed_seq == 5
    for task in senders:
        task.cancel()
    await asyncio.gather(*senders, return_exceptions=True)
