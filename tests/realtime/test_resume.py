"""Reconnecting with ``since`` gets exactly the events missed: no gap, no duplicate."""

from __future__ import annotations

from typing import Any

from livecast.api.app import create_app
from livecast.realtime.hub import Hub
from tests.realtime.conftest import Person
from tests.realtime.helpers import append_comments, seqs
from tests.realtime.wsclient import WsClient


async def test_resume_after_ten_missed_events(
    person: Any, stream: Any, connect: Any, clock: Any
) -> None:
    alice: Person = await person("alice")
    bob: Person = await person("bob")
    room = await stream(alice, live=True)
    async with connect(room.id, bob) as b, connect(room.id, alice) as a:
        await a.recv()
        await b.recv()
        await a.send(type="comment", cid="before", text="before the drop")
        seen = await b.event(lambda e: e.get("cid") == "before")
        await b.disconnect()  # the network drops
        missed = []
        for n in range(10):
            clock.advance(2)  # stay within the rate limit
            await a.send(type="comment", cid=f"m{n}", text=f"missed {n}")
            missed.append((await a.ack(f"m{n}"))["seq"])
    assert missed == list(range(seen["seq"] + 1, seen["seq"] + 11))

    async with connect(room.id, bob, since=seen["seq"]) as b:
        welcome = await b.recv()
        resumed = await b.wait_for(lambda m: m["type"] == "resumed")
        assert resumed == {
            "v": 1,
            "type": "resumed",
            "since": seen["seq"],
            "last_seq": welcome["last_seq"],
        }
        # Up to last_seq from the log, after it from the room: together, exactly what was missed.
        events = await b.events_until(lambda events: missed[-1] in seqs(events))
        assert seqs(events) == missed
        assert [e["text"] for e in events] == [f"missed {n}" for n in range(10)]


async def test_resume_after_five_thousand_missed_events_on_a_restarted_node(
    ctx: Any, hub: Hub, person: Any, stream: Any, connect: Any, clock: Any
) -> None:
    alice: Person = await person("alice")
    room = await stream(alice, live=True)
    async with connect(room.id, alice) as a:
        await a.recv()
        first = await append_comments(ctx, hub, room, 3)
        await a.events_until(lambda events: first[-1] in seqs(events))
        last_seen = max(seqs(a.events()))
    await hub.close()  # the node goes away...
    missed = []
    for _ in range(5):
        missed += await append_comments(ctx, hub, room, 1000)  # ...while the room goes on

    restarted = Hub(ctx, clock=clock, background=False)
    try:
        app = create_app(ctx, realtime=restarted)
        path = f"/ws/streams/{room.id}"
        query = {"token": alice.token, "since": last_seen}
        async with (
            WsClient(app, path, query=query) as b,
            WsClient(app, path, query={"token": alice.token}) as c,
        ):
            welcome = await b.recv()
            await c.recv()
            for n in range(3):  # live traffic while the replay runs
                clock.advance(2)
                await c.send(type="comment", cid=f"live{n}", text=f"live {n}")
            end = missed[-1] + 3
            events = await b.events_until(lambda events: end in seqs(events), within=30)
            got = seqs(events)
            assert got == list(range(last_seen + 1, end + 1))  # exact: no gap, no duplicate
            assert welcome["last_seq"] >= missed[-1]
            assert len(missed) == 5000
    finally:
        await restarted.close()


async def test_deleted_comments_are_not_replayed(
    person: Any, stream: Any, connect: Any, clock: Any
) -> None:
    alice: Person = await person("alice")
    room = await stream(alice)
    async with connect(room.id, alice) as a:
        await a.recv()
        posted = []
        for n in range(3):
            clock.advance(2)
            await a.send(type="comment", cid=f"c{n}", text=f"comment {n}")
            posted.append((await a.ack(f"c{n}"))["seq"])
        await a.send(type="mod", action="delete", seq=posted[1], cid="del")
        assert (await a.ack("del"))["ok"] is True
        deleted = await a.event(lambda e: e["type"] == "deleted")
    async with connect(room.id, alice, since=0) as b:
        await b.wait_for(lambda m: m["type"] == "resumed")
        replayed = b.events()
        assert [e["seq"] for e in replayed if e["type"] == "comment"] == [posted[0], posted[2]]
        assert {"type": "deleted", "comment_seq": posted[1]}.items() <= replayed[-1].items()
        assert replayed[-1]["seq"] == deleted["seq"]
