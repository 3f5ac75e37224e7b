"""The Redis stream ``<prefix>:events`` as another service reads it: with a consumer group."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from livecast.events import codec, redis_bus
from livecast.events.catalog import StreamCreated, StreamEnded, StreamStarted, StreamUpdated
from tests.realtime.conftest import drop_prefix, redis_unavailable, redis_url


@pytest.fixture
async def bus() -> AsyncIterator[redis_bus.RedisBus]:
    reason = await redis_unavailable()
    if reason:
        pytest.skip(reason)
    prefix = f"lctest-{uuid.uuid4().hex[:12]}"
    publisher = redis_bus.RedisBus(redis_bus.connect(redis_url()), prefix)
    await publisher.start()
    yield publisher
    await publisher.close()
    await publisher.redis.aclose()
    await drop_prefix(prefix)


async def read_group(client: Redis, stream: str, group: str, consumer: str) -> list[str]:
    """Everything the group has not yet read, acknowledged as it is read."""
    bodies: list[str] = []
    while True:
        reply = await client.xreadgroup(group, consumer, {stream: ">"}, count=7)
        entries = redis_bus._entries(reply)
        if not entries:
            return bodies
        for entry_id, fields in entries:
            bodies.append(fields["event"])
            await client.xack(stream, group, entry_id)


async def test_a_consumer_group_reads_every_event_in_order(bus: redis_bus.RedisBus) -> None:
    consumer = redis_bus.connect(redis_url())
    try:
        # A service joins before the events are published, from the start of the stream.
        await consumer.xgroup_create(bus.stream, "analytics", id="0", mkstream=True)
        owner = uuid.uuid4()
        published = []
        for n in range(25):
            stream_id = uuid.uuid4()
            for event in (
                StreamCreated(stream_id=stream_id, user_id=owner, title=f"show {n}"),
                StreamStarted(stream_id=stream_id, user_id=owner),
                StreamUpdated(stream_id=stream_id, user_id=owner, fields=("title",)),
                StreamEnded(stream_id=stream_id, user_id=owner),
            ):
                await bus.publish(event)
                published.append(event)
        bodies = await read_group(consumer, bus.stream, "analytics", "worker-1")
        assert [codec.decode(body) for body in bodies] == published
        first = json.loads(bodies[0])
        assert first == {
            "type": "StreamCreated",
            "stream_id": str(published[0].stream_id),
            "user_id": str(owner),
            "occurred_at": published[0].occurred_at.isoformat(),
            "title": "show 0",
        }
        # Acknowledged: nothing is pending, and a second read finds nothing new.
        pending = await consumer.xpending(bus.stream, "analytics")
        assert pending["pending"] == 0
        assert await read_group(consumer, bus.stream, "analytics", "worker-1") == []
        # A later event reaches the group too.
        late = StreamStarted(stream_id=uuid.uuid4(), user_id=owner)
        await bus.publish(late)
        assert [
            codec.decode(b) for b in await read_group(consumer, bus.stream, "analytics", "w")
        ] == [late]
    finally:
        await consumer.aclose()
