"""The durable room event log: per-stream sequence numbers, appends, replay and history.

Sequence numbers come from the stream's ``room_state.last_seq``. Every transaction that
appends first runs ``UPDATE room_state SET last_seq = last_seq … RETURNING last_seq``: on
PostgreSQL that locks the row until commit, on SQLite it takes the database's write lock. So
appends to one stream are serialised across all processes, seqs are handed out without gaps,
and transactions commit in seq order: a reader that sees seq N has every seq below N too.
A rolled-back transaction rolls its seqs back with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, false, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from livecast.storage.models import Base, RoomEvent, RoomState

WireEvent = dict[str, Any]

# Never dropped for a slow client: the room's state depends on them.
PRIORITY_TYPES = frozenset(
    {
        "system",
        "pin",
        "unpin",
        "deleted",
        "clear",
        "chat_settings",
        "timeout",
        "ban",
        "unban",
        "moderator_added",
        "moderator_removed",
    }
)
SYSTEM_SENDER = "system"
DUPLICATE_WINDOW = timedelta(minutes=10)


def wire_time(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def media_time_ms(started_at: datetime | None, moment: datetime) -> int | None:
    """Milliseconds since the stream started, or None before it has."""
    if started_at is None:
        return None
    return max(0, int((moment - started_at).total_seconds() * 1000))


def wire(
    seq: int, type_: str, media_ms: int | None, moment: datetime, body: dict[str, Any]
) -> WireEvent:
    """An event as clients receive it, live or replayed: the same keys in the same order."""
    return {"seq": seq, "type": type_, "media_time_ms": media_ms, "time": wire_time(moment), **body}


def row_to_wire(row: RoomEvent) -> WireEvent:
    return wire(row.seq, row.type, row.media_time_ms, row.created_at, row.body)


def insert_ignore(session: AsyncSession | Session, model: type[Base]) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` in the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    return sqlite.insert(model).on_conflict_do_nothing()


class LogTransaction:
    """Appends to one stream's log within the caller's transaction, which holds the lock.

    Call :meth:`finish` before committing; publish :attr:`events` after the commit. Its session
    is a synchronous one: inside :class:`~livecast.storage.db.Transactions` work, or an
    ``AsyncSession``'s, reached through :func:`open_log` and :func:`finish_log`.
    """

    def __init__(
        self,
        session: Session,
        stream_id: uuid.UUID,
        last_seq: int,
        started_at: datetime | None,
        now: datetime,
    ) -> None:
        self.session = session
        self.stream_id = stream_id
        self.last_seq = last_seq
        self.started_at = started_at
        self.now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        self.events: list[WireEvent] = []
        self._rows: list[dict[str, Any]] = []

    def append(
        self,
        type_: str,
        body: dict[str, Any],
        *,
        user_id: uuid.UUID | None = None,
        sender: str | None = None,
        cid: str | None = None,
    ) -> WireEvent:
        self.last_seq += 1
        media_ms = media_time_ms(self.started_at, self.now)
        event = wire(self.last_seq, type_, media_ms, self.now, body)
        self.events.append(event)
        self._rows.append(
            {
                "stream_id": self.stream_id,
                "seq": self.last_seq,
                "type": type_,
                "user_id": user_id,
                "sender": sender,
                "cid": cid,
                "body": body,
                "media_time_ms": media_ms,
                "created_at": self.now,
                "deleted": False,
            }
        )
        return event

    def append_once(self, key: str, type_: str, body: dict[str, Any]) -> WireEvent | None:
        """Append a system event unless one with ``key`` is in the log already.

        Every node hears the same domain events; this keeps their room events single.
        """
        found = self.session.scalar(
            select(RoomEvent.seq).where(
                RoomEvent.stream_id == self.stream_id,
                RoomEvent.sender == SYSTEM_SENDER,
                RoomEvent.cid == key,
            )
        )
        if found is not None or any(row["cid"] == key for row in self._rows):
            return None
        return self.append(type_, body, sender=SYSTEM_SENDER, cid=key)

    def finish(self) -> list[WireEvent]:
        if self._rows:
            self.session.execute(insert(RoomEvent), self._rows)
            self.session.execute(
                update(RoomState)
                .where(RoomState.stream_id == self.stream_id)
                .values(last_seq=self.last_seq)
            )
            self._rows = []
        return self.events


def start_log(
    session: Session, stream_id: uuid.UUID, started_at: datetime | None, now: datetime
) -> LogTransaction:
    """Lock the stream's log for this transaction; this must be its first write."""
    return LogTransaction(session, stream_id, lock(session, stream_id), started_at, now)


async def open_log(
    db: AsyncSession, stream_id: uuid.UUID, started_at: datetime | None, now: datetime
) -> LogTransaction:
    """:func:`start_log` in ``db``'s transaction."""
    return await db.run_sync(start_log, stream_id, started_at, now)


async def finish_log(db: AsyncSession, tx: LogTransaction) -> list[WireEvent]:
    """:meth:`LogTransaction.finish` for a log opened with :func:`open_log`."""
    return await db.run_sync(lambda _: tx.finish())


def lock(session: Session, stream_id: uuid.UUID) -> int:
    """Take the stream's append lock and return its last seq, creating its state row."""
    statement = (
        update(RoomState)
        .where(RoomState.stream_id == stream_id)
        .values(last_seq=RoomState.last_seq)
        .returning(RoomState.last_seq)
    )
    last = session.scalar(statement)
    if last is None:
        session.execute(insert_ignore(session, RoomState).values(**new_state(stream_id)))
        last = session.scalar(statement)
    return int(last or 0)


def new_state(stream_id: uuid.UUID) -> dict[str, Any]:
    counters = ("like_count", "share_count", "milestone", "last_seq")
    reactions = (f"reaction_{kind}" for kind in ("like", "love", "fire", "clap", "wow"))
    return {"stream_id": stream_id, **dict.fromkeys((*counters, *reactions), 0)}


async def read_events(
    session: AsyncSession, stream_id: uuid.UUID, after: int, through: int, limit: int
) -> list[WireEvent]:
    """Events with ``after < seq <= through`` in order, deleted comments left out."""
    rows = await session.scalars(
        select(RoomEvent)
        .where(
            RoomEvent.stream_id == stream_id,
            RoomEvent.seq > after,
            RoomEvent.seq <= through,
            RoomEvent.deleted == false(),
        )
        .order_by(RoomEvent.seq)
        .limit(limit)
    )
    return [row_to_wire(row) for row in rows]


async def read_range(
    session: AsyncSession, stream_id: uuid.UUID, after: int, through: int
) -> list[tuple[int, WireEvent | None]]:
    """Every seq in ``(after, through]`` with its event, or None where a comment was deleted.

    Rooms use it to fill a gap in what they were published, so they need every seq.
    """
    rows = await session.scalars(
        select(RoomEvent)
        .where(RoomEvent.stream_id == stream_id, RoomEvent.seq > after, RoomEvent.seq <= through)
        .order_by(RoomEvent.seq)
    )
    return [(row.seq, None if row.deleted else row_to_wire(row)) for row in rows]


async def read_comments(
    session: AsyncSession,
    stream_id: uuid.UUID,
    since: int,
    from_media_time: int | None,
    limit: int,
) -> list[WireEvent]:
    """A page of comments after ``since`` (optionally from a media time), deleted ones out."""
    conditions = [
        RoomEvent.stream_id == stream_id,
        RoomEvent.type == "comment",
        RoomEvent.seq > since,
        RoomEvent.deleted == false(),
    ]
    if from_media_time is not None:
        conditions.append(RoomEvent.media_time_ms >= from_media_time)
    rows = await session.scalars(
        select(RoomEvent).where(and_(*conditions)).order_by(RoomEvent.seq).limit(limit)
    )
    return [row_to_wire(row) for row in rows]


def find_cids(
    session: Session,
    stream_id: uuid.UUID,
    wanted: Iterable[tuple[str, str]],
    now: datetime,
) -> dict[tuple[str, str], int]:
    """The seqs of comments already logged under (sender, cid) in the last ten minutes."""
    wanted = set(wanted)
    if not wanted:
        return {}
    rows = session.execute(
        select(RoomEvent.sender, RoomEvent.cid, RoomEvent.seq).where(
            RoomEvent.stream_id == stream_id,
            RoomEvent.cid.in_({cid for _, cid in wanted}),
            RoomEvent.created_at >= now - DUPLICATE_WINDOW,
        )
    )
    found: dict[tuple[str, str], int] = {}
    for sender, cid, seq in rows:
        if sender is not None and cid is not None and (sender, cid) in wanted:
            found.setdefault((sender, cid), seq)
    return found


async def comment(session: AsyncSession, stream_id: uuid.UUID, seq: int) -> RoomEvent | None:
    """The comment with ``seq``, unless it was deleted."""
    row = await session.get(RoomEvent, (stream_id, seq))
    if row is None or row.type != "comment" or row.deleted:
        return None
    return row
