"""The event log: gapless seqs under concurrent writers, history paging, the migration."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.orm import Session

from livecast.realtime import eventlog
from livecast.storage import db
from livecast.storage.models import Base, RoomEvent
from tests.realtime.conftest import Person


async def _append_five(ctx: Any, stream_id: Any, clock: Any, n: int) -> list[int]:
    """Five comments in one transaction of an async session (the API's way); their seqs."""
    async with ctx.sessions() as session:
        tx = await eventlog.open_log(session, stream_id, None, clock.now())
        for k in range(5):
            tx.append("comment", {"cid": None, "user": {"id": None}, "text": f"{n}.{k}"})
        events = await eventlog.finish_log(session, tx)
        await session.commit()
    return [e["seq"] for e in events]


async def test_concurrent_writers_get_gapless_unique_seqs(
    ctx: Any, person: Any, stream: Any, clock: Any
) -> None:
    """Each writer is its own transaction on its own connection, as on separate nodes."""
    alice: Person = await person("alice")
    room = await stream(alice)

    results = await asyncio.gather(*(_append_five(ctx, room.id, clock, n) for n in range(12)))
    for got in results:
        assert got == list(range(got[0], got[0] + 5))  # each transaction's seqs are a block
    assert sorted(seq for got in results for seq in got) == list(range(1, 61))
    async with ctx.sessions() as session:
        stored = list(
            await session.scalars(select(RoomEvent.seq).where(RoomEvent.stream_id == room.id))
        )
    assert sorted(stored) == list(range(1, 61))


async def test_writer_thread_and_event_loop_writers_share_one_gapless_log(
    ctx: Any, person: Any, stream: Any, clock: Any
) -> None:
    """Rooms write through ``ctx.transactions`` (a thread of its own on SQLite), moderation
    through async sessions: both take the same append lock."""
    alice: Person = await person("alice")
    room = await stream(alice)
    expected = db.ThreadTransactions if ctx.engine.url.get_backend_name() == "sqlite" else None
    assert isinstance(ctx.transactions, expected or db.LoopTransactions)

    def batch(n: int, session: Session) -> list[int]:
        tx = eventlog.start_log(session, room.id, None, clock.now())
        for k in range(5):
            tx.append("comment", {"cid": None, "user": {"id": None}, "text": f"t{n}.{k}"})
        events = tx.finish()
        session.commit()
        return [e["seq"] for e in events]

    runs = [ctx.transactions.run(partial(batch, n)) for n in range(6)]
    on_loop = [_append_five(ctx, room.id, clock, n) for n in range(6)]
    results = await asyncio.gather(*runs, *on_loop)
    for got in results:
        assert got == list(range(got[0], got[0] + 5))
    assert sorted(seq for got in results for seq in got) == list(range(1, 61))


async def test_work_that_fails_in_a_transaction_writes_nothing(
    ctx: Any, person: Any, stream: Any, clock: Any
) -> None:
    alice: Person = await person("alice")
    room = await stream(alice)

    def failing(session: Session) -> None:
        tx = eventlog.start_log(session, room.id, None, clock.now())
        tx.append("comment", {"text": "never"})
        tx.finish()
        raise RuntimeError("the batch broke")

    with pytest.raises(RuntimeError, match="the batch broke"):
        await ctx.transactions.run(failing)
    async with ctx.sessions() as session:
        assert (
            await session.scalar(select(RoomEvent.seq).where(RoomEvent.stream_id == room.id))
            is None
        )
        tx = await eventlog.open_log(session, room.id, None, clock.now())
        assert tx.last_seq == 0


async def test_a_rolled_back_append_leaves_no_gap(
    ctx: Any, person: Any, stream: Any, clock: Any
) -> None:
    alice: Person = await person("alice")
    room = await stream(alice)
    async with ctx.sessions() as session:
        tx = await eventlog.open_log(session, room.id, None, clock.now())
        tx.append("comment", {"text": "never"})
        await eventlog.finish_log(session, tx)
        await session.rollback()
    async with ctx.sessions() as session:
        tx = await eventlog.open_log(session, room.id, None, clock.now())
        assert tx.append("comment", {"text": "first"})["seq"] == 1
        await eventlog.finish_log(session, tx)
        await session.commit()


async def test_history_pages_by_seq_and_media_time(
    ctx: Any, hub: Any, person: Any, stream: Any, clock: Any, client: httpx.AsyncClient
) -> None:
    alice: Person = await person("alice")
    room = await stream(alice, live=True)
    async with ctx.sessions() as session:
        for n in range(5):
            clock.advance(10)
            tx = await eventlog.open_log(session, room.id, room.started_at, clock.now())
            tx.append(
                "comment",
                {
                    "cid": f"c{n}",
                    "user": {"id": None, "name": "g", "display_name": "G"},
                    "text": f"t{n}",
                },
            )
            tx.append("reactions", {"counts": {"fire": 1}, "totals": {}})
            await eventlog.finish_log(session, tx)
            await session.commit()
    url = f"/api/v1/streams/{room.id}/comments"
    first = (await client.get(url, params={"limit": 2})).json()
    assert [c["text"] for c in first["items"]] == ["t0", "t1"]
    second = (await client.get(url, params={"limit": 2, "since": first["next_since"]})).json()
    assert [c["text"] for c in second["items"]] == ["t2", "t3"]
    last = (await client.get(url, params={"limit": 2, "since": second["next_since"]})).json()
    assert [c["text"] for c in last["items"]] == ["t4"]
    assert last["next_since"] is None

    times = [c["media_time_ms"] for c in first["items"] + second["items"] + last["items"]]
    assert times == sorted(times)
    assert times[1] - times[0] == 10_000
    replay = (await client.get(url, params={"from_media_time": times[3]})).json()
    assert [c["text"] for c in replay["items"]] == ["t3", "t4"]
    assert (
        await client.get(f"/api/v1/streams/{room.id}/comments", params={"since": -1})
    ).status_code == 422


async def test_the_migration_matches_the_models_and_goes_down_and_up(ctx: Any) -> None:
    async with ctx.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    assert diff == []
    async with ctx.engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(db._alembic_config(sync), "0001"))
    assert await db.current_revision(ctx.engine) == "0001"
    await db.upgrade(ctx.engine)
    assert await db.current_revision(ctx.engine) not in (None, "0001")
