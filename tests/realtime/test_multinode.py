"""Two nodes sharing a database and Redis, in one process: one room, seen the same from both.

Each node has its own context (its own bus reader, presence and limits clients) and its own
hub, as two `livecast serve` processes would; the subprocess version is in test_two_processes.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from livecast.api.app import create_app
from livecast.context import AppContext, build_context
from livecast.events import codec
from livecast.events.catalog import (
    RoomEventsAppended,
    StreamStarted,
    StreamUpdated,
    ViewersCounted,
)
from livecast.realtime import eventlog
from livecast.realtime.hub import Hub
from livecast.settings import Settings
from tests.realtime.conftest import FakeClock, Person
from tests.realtime.helpers import seqs
from tests.realtime.wsclient import WsClient


@dataclass
class Node:
    ctx: AppContext
    hub: Hub
    app: FastAPI

    def connect(self, stream_id: Any, person: Person | None = None, **query: Any) -> WsClient:
        if person is not None:
            query.setdefault("token", person.token)
        return WsClient(self.app, f"/ws/streams/{stream_id}", query=query)


@pytest.fixture
async def node_b(settings: Settings, engine: AsyncEngine, clock: FakeClock) -> AsyncIterator[Node]:
    """A second node next to the ``ctx``/``hub`` one (only with a shared bus)."""
    if settings.bus_url.startswith("memory://"):
        pytest.skip("needs a shared bus: runs in the redis variant")
    ctx = await build_context(settings, engine=engine, migrate=False)
    hub = Hub(ctx, clock=clock, background=False)
    yield Node(ctx, hub, create_app(ctx, realtime=hub))
    await hub.close()
    await ctx.close()


@pytest.fixture
def node_a(ctx: AppContext, hub: Hub, app: FastAPI) -> Node:
    return Node(ctx, hub, app)


def test_every_domain_event_survives_the_wire() -> None:
    ids = {"stream_id": uuid.uuid4(), "user_id": uuid.uuid4()}
    sent = [
        StreamStarted(**ids),
        RoomEventsAppended(**ids, events=({"seq": 1, "type": "comment", "text": "hi"},)),
        ViewersCounted(**ids, viewers=3, peak=5),
        StreamUpdated(**ids, fields=("title", "tags")),
    ]
    assert [codec.decode(codec.encode(event)) for event in sent] == sent
    assert codec.decode('{"type": "FromTheFuture", "stream_id": "x"}') is None


def comments(client: WsClient) -> list[tuple[int, str]]:
    return [(e["seq"], e["text"]) for e in client.events("comment")]


async def test_both_nodes_deliver_the_same_events_in_the_same_order(
    node_a: Node, node_b: Node, person: Callable[..., Any], stream: Callable[..., Any]
) -> None:
    alice: Person = await person("alice")
    bob: Person = await person("bob")
    room = await stream(alice, live=True)
    async with node_a.connect(room.id, alice) as a, node_b.connect(room.id, bob) as b:
        await a.recv()
        await b.recv()
        for n in range(4):
            await a.send(type="comment", cid=f"a{n}", text=f"from a {n}")
            await b.send(type="comment", cid=f"b{n}", text=f"from b {n}")
        for client in (a, b):
            await client.events_until(lambda _, c=client: len(comments(c)) == 8)  # type: ignore[misc]
        assert comments(a) == comments(b)
        assert [seq for seq, _ in comments(a)] == sorted(seq for seq, _ in comments(a))
        acks = {m["cid"]: m["seq"] for m in a.messages + b.messages if m["type"] == "ack"}
        assert sorted(acks.values()) == [seq for seq, _ in comments(a)]


async def test_a_node_fills_a_lost_publish_from_the_log(
    node_a: Node, node_b: Node, person: Callable[..., Any], stream: Callable[..., Any]
) -> None:
    alice: Person = await person("alice")
    room = await stream(alice)
    async with node_b.connect(room.id) as b:
        await b.recv()
        published = []
        for text in ("lost on the way", "arrived"):
            async with node_a.ctx.sessions() as session:
                tx = await eventlog.open_log(session, room.id, None, node_a.hub.clock.now())
                tx.append("comment", {"cid": None, "user": {"id": None}, "text": text})
                published.append(await eventlog.finish_log(session, tx))
                await session.commit()
        await node_a.hub.publish(room.id, alice.id, published[1])  # the first never went out
        events = await b.events_until(lambda events: len(events) >= 2)
        assert [e["text"] for e in events] == ["lost on the way", "arrived"]
        assert seqs(events) == [published[0][0]["seq"], published[1][0]["seq"]]


async def test_counts_rate_limits_and_bans_hold_across_nodes(
    node_a: Node,
    node_b: Node,
    person: Callable[..., Any],
    stream: Callable[..., Any],
    client: Any,
) -> None:
    alice: Person = await person("alice")
    bob: Person = await person("bob", role="viewer")
    room = await stream(alice, live=True)
    async with (
        node_a.connect(room.id, bob, session_id="bob-tab-a") as on_a,
        node_b.connect(room.id, bob, session_id="bob-tab-b") as on_b,
        node_b.connect(room.id, session_id="guest-on-b") as guest,
    ):
        for ws in (on_a, on_b, guest):
            await ws.recv()
        await node_a.hub.viewers.flush()  # the background loop does this every second
        await node_b.hub.viewers.flush()
        for ws in (on_a, guest):  # bob twice, the guest once: two viewers, on either node
            await ws.event(lambda e: e["type"] == "viewer_update" and e["viewers"] == 2)
        assert node_a.hub.viewers.concurrent(room.id) == node_b.hub.viewers.concurrent(room.id)

        remaining = []
        for n, ws in enumerate((on_a, on_b, on_a, on_b, on_a)):  # burst 5, shared
            await ws.send(type="comment", cid=f"c{n}", text=f"message {n}")
            remaining.append((await ws.ack(f"c{n}"))["remaining"])
        assert remaining == [4, 3, 2, 1, 0]
        await on_b.send(type="comment", cid="c5", text="one too many")
        assert (await on_b.ack("c5"))["reason"] == "rate_limited"

        banned = await client.put(
            f"/api/v1/streams/{room.id}/bans/{bob.id}", json={}, headers=alice.headers
        )
        assert banned.status_code < 300, banned.text
        await on_b.event(lambda e: e["type"] == "ban")  # node B heard it through the bus
        node_b.hub.clock.advance(10)  # the rate limit is not what refuses now
        await on_b.send(type="comment", cid="c6", text="still here?")
        assert (await on_b.ack("c6"))["reason"] == "banned"
