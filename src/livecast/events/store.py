"""Every domain event this process publishes, written to the ``events`` table, then handed on.

The store subscribes to the bus for its *own* events only (``subscribe_own``), so with a Redis
bus each event is stored once, by the node that published it. After the row is committed it
wakes the SSE tails and tells its listeners (the webhook dispatcher) the row id.

Two events the realtime engine publishes are transport, not history, and are not stored:
``ViewersCounted`` (once a second per stream) and ``RoomEventsAppended``; the comments inside the
latter are stored as :class:`CommentPosted`, the form integrations want.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from livecast.events import codec
from livecast.events.bus import EventBus
from livecast.events.catalog import CommentPosted, DomainEvent, RoomEventsAppended
from livecast.storage.db import Transactions
from livecast.storage.models import StoredEvent

log = logging.getLogger(__name__)

NOT_STORED = frozenset({"ViewersCounted", "RoomEventsAppended", "PlayerReported"})
STORE_BATCH = 500  # events written per transaction
_ENVELOPE = ("type", "stream_id", "user_id", "occurred_at")

Listener = Callable[[Sequence[StoredEvent]], Awaitable[None]]


def payload(event: DomainEvent) -> dict[str, Any]:
    """The event's own fields as JSON values (the envelope fields are columns)."""
    data: dict[str, Any] = json.loads(codec.encode(event))
    for name in _ENVELOPE:
        data.pop(name, None)
    return data


def event_json(row: StoredEvent) -> dict[str, Any]:
    """The one JSON form of a stored event: the API, SSE and webhook bodies all use it."""
    return {
        "id": row.id,
        "type": row.type,
        "stream_id": str(row.stream_id),
        "user_id": str(row.user_id),
        "severity": row.severity,
        "occurred_at": row.occurred_at.isoformat(),
        "data": row.payload,
    }


def integration_events(event: DomainEvent) -> list[DomainEvent]:
    """What of ``event`` is stored: itself, the comments in a room batch, or nothing."""
    if isinstance(event, RoomEventsAppended):
        return [_comment(event, item) for item in event.events if item.get("type") == "comment"]
    if event.type in NOT_STORED:
        return []
    return [event]


def _comment(batch: RoomEventsAppended, item: dict[str, Any]) -> CommentPosted:
    user = item.get("user") or {}
    author_id = user.get("id")
    return CommentPosted(
        stream_id=batch.stream_id,
        user_id=uuid.UUID(author_id) if author_id else batch.user_id,
        seq=int(item["seq"]),
        text=str(item.get("text", "")),
        author=str(user.get("name") or user.get("username") or ""),
    )


@dataclass(frozen=True, slots=True)
class EventQuery:
    stream_id: uuid.UUID
    type: str | None = None
    severity: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    after_id: int | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found = [StoredEvent.stream_id == self.stream_id]
        if self.type is not None:
            found.append(StoredEvent.type == self.type)
        if self.severity is not None:
            found.append(StoredEvent.severity == self.severity)
        if self.start is not None:
            found.append(StoredEvent.occurred_at >= self.start)
        if self.end is not None:
            found.append(StoredEvent.occurred_at < self.end)
        if self.after_id is not None:
            found.append(StoredEvent.id > self.after_id)
        return found


class EventStore:
    """Stores the integration events this node publishes, and tells its listeners (webhooks).

    Recording never holds up the publisher: the bus handler only queues the event, and a
    background task writes what has queued in one transaction. A busy chat room publishes a
    batch of comments several times a second; its writer must not wait for their copies in
    the events table. Reads settle the queue first, so a node reads its own writes.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        transactions: Transactions,
        bus: EventBus,
    ) -> None:
        self.sessions = sessions
        self.transactions = transactions
        self._listeners: list[Listener] = []
        self._changed = asyncio.Event()
        self._pending: list[DomainEvent] = []
        self._queued = asyncio.Event()
        self._settled = asyncio.Event()
        self._settled.set()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe_own = bus.subscribe_own(self.record)
        # Other nodes' events are stored by them; hearing one still means "look again".
        self._unsubscribe_all = bus.subscribe(self._wake)

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def record(self, event: DomainEvent) -> None:
        """Queue ``event`` for storing (a bus handler: it returns at once)."""
        items = integration_events(event)
        if not items:
            return
        self._pending += items
        self._settled.clear()
        self._queued.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="event-store")

    async def settle(self) -> None:
        """Return once everything recorded so far is stored."""
        await self._settled.wait()

    async def _run(self) -> None:
        while True:
            await self._queued.wait()
            self._queued.clear()
            while self._pending:
                batch, self._pending = self._pending[:STORE_BATCH], self._pending[STORE_BATCH:]
                try:
                    await self._store(batch)
                except Exception:
                    log.exception("could not store events", extra={"events": len(batch)})
            self._settled.set()

    async def _store(self, events: list[DomainEvent]) -> None:
        """Write integration events (already converted by :meth:`record`)."""
        rows = [_row(item) for item in events]

        def store(session: Session) -> None:
            session.add_all(rows)
            session.commit()

        await self.transactions.run(store)
        self._notify()
        for listener in self._listeners:
            try:
                await listener(rows)
            except Exception:
                log.exception("event listener failed", extra={"events": len(rows)})

    async def _wake(self, event: DomainEvent) -> None:
        if integration_events(event):
            self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def changes(self) -> asyncio.Event:
        """Set once something may have been stored after this call; take it before reading."""
        return self._changed

    @staticmethod
    async def wait(changed: asyncio.Event, seconds: float) -> None:
        """Return when ``changed`` is set, or after ``seconds``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await changed.wait()

    async def find(
        self, query: EventQuery, limit: int, offset: int = 0
    ) -> tuple[list[StoredEvent], int]:
        await self.settle()
        conditions = query.conditions()
        async with self.sessions() as session:
            total = await session.scalar(
                select(func.count()).select_from(StoredEvent).where(*conditions)
            )
            rows = await session.scalars(
                select(StoredEvent)
                .where(*conditions)
                .order_by(StoredEvent.id)
                .limit(limit)
                .offset(offset)
            )
            return list(rows), int(total or 0)

    async def newest_id(self, query: EventQuery) -> int:
        await self.settle()
        async with self.sessions() as session:
            newest = await session.scalar(
                select(func.max(StoredEvent.id)).where(*query.conditions())
            )
        return int(newest or 0)

    async def close(self) -> None:
        """Stop listening, store what is queued, and stop."""
        self._unsubscribe_own()
        self._unsubscribe_all()
        if self._task is not None:
            await self.settle()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._notify()


def _row(event: DomainEvent) -> StoredEvent:
    return StoredEvent(
        type=event.type,
        stream_id=event.stream_id,
        user_id=event.user_id,
        severity=event.severity,
        occurred_at=event.occurred_at,
        payload=payload(event),
    )
