"""With several nodes, a heartbeat that reaches one node counts on every node's analytics."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from livecast.analytics.engine import Analytics
from livecast.analytics.players import PlayerBeat
from livecast.context import AppContext, build_context
from livecast.ingest.live import LiveStreams
from livecast.realtime.hub import Hub
from livecast.settings import Settings
from tests.realtime.conftest import FakeClock, drop_prefix, eventually, redis_unavailable, redis_url


@pytest.fixture
async def nodes(settings: Settings, engine: AsyncEngine) -> AsyncIterator[list[Analytics]]:
    reason = await redis_unavailable()
    if reason:
        pytest.skip(reason)
    prefix = f"lctest-{uuid.uuid4().hex[:12]}"
    shared = settings.model_copy(update={"bus_url": redis_url(), "bus_key_prefix": prefix})
    made: list[tuple[AppContext, LiveStreams, Hub, Analytics]] = []
    for _ in range(2):
        ctx = await build_context(shared, engine=engine)
        live, hub = LiveStreams(ctx), Hub(ctx, clock=FakeClock(), background=False)
        made.append((ctx, live, hub, Analytics(ctx, live, hub)))
    yield [worker for *_, worker in made]
    for _, live, hub, worker in made:  # every worker stops before any context closes:
        await worker.close()  # the contexts share one database engine
        await hub.close()
        await live.close()
    for ctx, *_ in made:
        await ctx.close()
    await drop_prefix(prefix)


async def test_a_heartbeat_on_one_node_reaches_the_others(nodes: list[Analytics]) -> None:
    here, there = nodes
    stream_id, owner = uuid.uuid4(), uuid.uuid4()
    beat = PlayerBeat(buffering_events=1, buffering_ms=400, latency_ms=1500)
    await here.heartbeat(stream_id, owner, "player-0001", beat)

    def heard(node: Analytics) -> bool:
        return node.players.window(stream_id, 0).heartbeats == 1

    await eventually(lambda: heard(there), what="the other node to hear the heartbeat")
    await eventually(lambda: heard(here), what="this node to count it once")
    window = there.players.window(stream_id, 0)
    assert (window.rebuffer_events, window.buffering_ms) == (1, 400)
