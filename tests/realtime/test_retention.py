"""Chat retention: a stream's room log goes a while after it ended, never while it is live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from livecast.context import AppContext
from livecast.realtime.retention import purge_ended
from livecast.storage.models import RoomEvent
from livecast.storage.models import Stream as StreamRecord
from tests.realtime.conftest import Person


async def _chat(connect: Any, stream_id: Any, person: Person, texts: list[str]) -> None:
    async with connect(stream_id, person) as ws:
        await ws.recv()
        for n, text in enumerate(texts):
            await ws.send(type="comment", cid=f"c{n}", text=text)
            assert (await ws.ack(f"c{n}"))["ok"] is True


async def _rows(ctx: AppContext, stream_id: Any) -> int:
    async with ctx.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(RoomEvent).where(RoomEvent.stream_id == stream_id)
        )
    return int(count or 0)


async def test_only_streams_ended_before_the_cutoff_lose_their_chat(
    ctx: AppContext, person: Any, stream: Any, connect: Any, client: httpx.AsyncClient
) -> None:
    alice: Person = await person("alice")
    old = await stream(alice, live=True)
    recent = await stream(alice, live=True)
    live = await stream(alice, live=True)
    for room in (old, recent, live):
        await _chat(connect, room.id, alice, ["hello", "again"])
    async with ctx.unit_of_work() as uow:
        for room, days_ago in ((old, 40), (recent, 2)):
            record = await uow.session.get(StreamRecord, room.id)
            assert record is not None
            await uow.streams.end(record)
            assert record.ended_at is not None
            record.ended_at -= timedelta(days=days_ago)
        await uow.commit()
    deleted = await purge_ended(ctx.sessions, datetime.now(UTC) - timedelta(days=30))

    assert deleted >= 2  # both comments of the old stream, and its system events
    assert await _rows(ctx, old.id) == 0
    assert await _rows(ctx, recent.id) > 0
    assert await _rows(ctx, live.id) > 0
    for room, expected in ((old, []), (recent, ["hello", "again"]), (live, ["hello", "again"])):
        page = (await client.get(f"/api/v1/streams/{room.id}/comments")).json()
        assert [c["text"] for c in page["items"]] == expected
    assert await purge_ended(ctx.sessions, datetime.now(UTC) - timedelta(days=30)) == 0
    assert await purge_ended(ctx.sessions, datetime.now(UTC) - timedelta(days=1)) > 0
    assert await _rows(ctx, recent.id) == 0
    assert await _rows(ctx, live.id) > 0  # a live stream is never purged
