"""Viewer tracking: sessions in the database, live counts, peaks and milestones.

Players send a heartbeat every 10 s and chat connections hold their session open; presence
(in memory, or in Redis to count across nodes) decides who is watching. Each session is a
``viewer_sessions`` row with its watch time, device, resolution, buffering and a coarse
country from a proxy header, never an IP. Counts go to the stream's ``viewer_count`` /
``peak_viewer_count`` and, as a ``ViewersCounted`` bus event, to every node's room as
``viewer_update``, at most once a second; 100, 1,000 and 10,000 concurrent viewers fire a
:class:`ViewerMilestone` and a system room event, once each per stream: the milestone reached
is stored in ``room_state`` and only the transaction that raises it announces it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livecast.errors import Conflict
from livecast.events.catalog import DomainEvent, ViewerMilestone, ViewersCounted
from livecast.realtime import eventlog
from livecast.realtime.clock import Clock
from livecast.realtime.eventlog import WireEvent
from livecast.realtime.presence import MemoryPresence, Presence, PresenceSession
from livecast.settings import Settings
from livecast.storage.models import RoomState, Stream, User, ViewerSession

log = logging.getLogger(__name__)

MILESTONES = (100, 1_000, 10_000)
FLUSH_SECONDS = 1.0
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True, slots=True)
class Beat:
    """What a player reports with a heartbeat; counts are since its previous heartbeat."""

    device_type: str | None = None
    resolution: str | None = None
    buffering_events: int = 0
    buffering_ms: int = 0
    quality_changes: int = 0


def country_from(headers: Mapping[str, str], names: str) -> str | None:
    """A two-letter country code from the first configured proxy header that has one."""
    for name in names.split(","):
        value = headers.get(name.strip(), "").strip().upper()
        if _COUNTRY.match(value):
            return value
    return None


def viewer_key(session_id: str, user: User | None) -> str:
    return f"u:{user.id}" if user is not None else f"s:{session_id}"


class TrackerHost(Protocol):
    settings: Settings
    clock: Clock
    sessions: async_sessionmaker[AsyncSession]

    async def publish(
        self, stream_id: uuid.UUID, user_id: uuid.UUID, events: list[WireEvent]
    ) -> None: ...

    async def announce(self, event: DomainEvent) -> None: ...


class ViewerTracker:
    def __init__(
        self, host: TrackerHost, *, presence: Presence | None = None, background: bool = True
    ) -> None:
        self.host = host
        self.timeout = host.settings.viewer_session_timeout_seconds
        self.presence: Presence = presence or MemoryPresence(self.timeout)
        self.background = background
        self._dirty: set[uuid.UUID] = set()
        self._milestone: dict[uuid.UUID, int] = {}
        self._peak: dict[uuid.UUID, int] = {}  # the highest count since the last flush
        self._counts: dict[uuid.UUID, int] = {}  # the last count seen, here or on the bus
        self._here: set[tuple[uuid.UUID, str]] = set()  # sessions this node has seen live
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    # -- sessions -------------------------------------------------------------------------

    async def beat(
        self,
        db: AsyncSession,
        stream: Stream,
        session_id: str,
        user: User | None,
        beat: Beat,
        country: str | None,
        *,
        hold: int = 0,
    ) -> int:
        """Record a sign of life of ``session_id`` in ``db`` (the caller commits).

        Returns the stream's concurrent viewers.
        """
        now = self.host.clock.now()
        row = await self._session_row(db, stream.id, session_id)
        owner = row.user_id if row is not None else None
        if owner is not None and user is not None and owner != user.id:
            raise Conflict("That session id belongs to another viewer; make a new one.")
        key = viewer_key(session_id, user)
        if row is None:
            row = await self._insert(db, stream.id, session_id, key, user, now)
        elif row.left_at is not None:
            row.left_at, row.last_seen_at = None, now
        else:
            elapsed = (now - row.last_seen_at).total_seconds()
            row.watch_seconds += int(min(max(elapsed, 0), self.timeout))
            row.last_seen_at = now
        if user is not None and row.user_id is None:
            row.user_id, row.viewer_key = user.id, key
        _apply_beat(row, beat, country)
        await db.flush()
        await self.presence.touch(stream.id, session_id, row.viewer_key, now.timestamp(), hold)
        self._here.add((stream.id, session_id))
        return await self.changed(stream.id)

    async def _session_row(
        self, db: AsyncSession, stream_id: uuid.UUID, session_id: str
    ) -> ViewerSession | None:
        return await db.scalar(
            select(ViewerSession).where(
                ViewerSession.stream_id == stream_id, ViewerSession.session_id == session_id
            )
        )

    async def _insert(
        self,
        db: AsyncSession,
        stream_id: uuid.UUID,
        session_id: str,
        key: str,
        user: User | None,
        now: datetime,
    ) -> ViewerSession:
        row = ViewerSession(
            stream_id=stream_id,
            session_id=session_id,
            viewer_key=key,
            user_id=user.id if user else None,
            joined_at=now,
            last_seen_at=now,
            watch_seconds=0,
            buffering_events=0,
            buffering_ms=0,
            quality_changes=0,
        )
        try:
            async with db.begin_nested():
                db.add(row)
        except IntegrityError:  # the same session's first two heartbeats raced
            found = await self._session_row(db, stream_id, session_id)
            assert found is not None
            return found
        return row

    async def leave(self, db: AsyncSession, stream_id: uuid.UUID, session_id: str) -> bool:
        """End a session now (the caller commits); False if it was not active."""
        row = await self._session_row(db, stream_id, session_id)
        await self.presence.leave(stream_id, session_id)
        self._here.discard((stream_id, session_id))
        await self.changed(stream_id)
        if row is None or row.left_at is not None:
            return False
        now = self.host.clock.now()
        elapsed = (now - row.last_seen_at).total_seconds()
        row.watch_seconds += int(min(max(elapsed, 0), self.timeout))
        row.left_at = row.last_seen_at = now
        await db.flush()
        return True

    def known(self, stream_id: uuid.UUID, session_id: str) -> bool:
        """Whether this node has seen the session live (it limits new sessions per IP)."""
        return (stream_id, session_id) in self._here

    async def release(self, stream_id: uuid.UUID, session_id: str) -> None:
        """A chat connection on the session closed; it lives on while heartbeats come."""
        await self.presence.release(stream_id, session_id, self._now())

    def _now(self) -> float:
        return self.host.clock.now().timestamp()

    # -- counts ---------------------------------------------------------------------------

    async def changed(self, stream_id: uuid.UUID) -> int:
        """Counts of ``stream_id`` may have moved: flush them (within a second); the count."""
        count = self._counts[stream_id] = await self.presence.count(stream_id)
        if count > self._peak.get(stream_id, 0):  # a peak between two flushes still counts
            self._peak[stream_id] = count
        self._dirty.add(stream_id)
        if self.background and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="viewer-tracker")
        return count

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.sweep()
                await self.flush()
            except Exception:
                log.exception("viewer tracking failed")

    async def sweep(self) -> list[PresenceSession]:
        """End sessions silent for the timeout; their ``left_at`` is their last heartbeat."""
        expired = await self.presence.expire(self._now())
        if not expired:
            return expired
        self._here.difference_update((s.stream_id, s.session_id) for s in expired)
        async with self.host.sessions() as db:
            for stream_id in {s.stream_id for s in expired}:
                ids = [s.session_id for s in expired if s.stream_id == stream_id]
                await db.execute(
                    update(ViewerSession)
                    .where(
                        ViewerSession.stream_id == stream_id,
                        ViewerSession.session_id.in_(ids),
                        ViewerSession.left_at.is_(None),
                    )
                    .values(left_at=ViewerSession.last_seen_at)
                )
                await self.changed(stream_id)
            await db.commit()
        return expired

    async def flush(self) -> None:
        """Write changed counts, fire milestones, and tell the rooms."""
        async with self._lock:
            dirty, self._dirty = self._dirty, set()
            for stream_id in dirty:
                await self._flush_one(stream_id)

    async def _flush_one(self, stream_id: uuid.UUID) -> None:
        count = self._counts[stream_id] = await self.presence.count(stream_id)
        highest = max(count, self._peak.pop(stream_id, 0))
        async with self.host.sessions() as db:
            stream = await db.get(Stream, stream_id)
            if stream is None:
                return
            events = await self._milestones(db, stream, highest)
            peak = case(
                (Stream.peak_viewer_count < highest, highest), else_=Stream.peak_viewer_count
            )
            await db.execute(
                update(Stream)
                .where(Stream.id == stream_id)
                .values(viewer_count=count, peak_viewer_count=peak)
                .execution_options(synchronize_session=False)
            )
            peak_now = await db.scalar(
                select(Stream.peak_viewer_count).where(Stream.id == stream_id)
            )
            await db.commit()
        if events:
            await self.host.publish(stream_id, stream.user_id, events)
            for event in events:
                await self.host.announce(
                    ViewerMilestone(
                        stream_id=stream_id, user_id=stream.user_id, viewers=event["viewers"]
                    )
                )
        await self.host.announce(
            ViewersCounted(
                stream_id=stream_id,
                user_id=stream.user_id,
                viewers=count,
                peak=int(peak_now or count),
            )
        )

    async def _milestones(self, db: AsyncSession, stream: Stream, count: int) -> list[WireEvent]:
        known = self._milestone.get(stream.id, 0)
        due = [m for m in MILESTONES if known < m <= count]
        if not due:
            return []
        tx = await eventlog.open_log(db, stream.id, stream.started_at, self.host.clock.now())
        for milestone in due:
            raised = await db.execute(
                update(RoomState)
                .where(RoomState.stream_id == stream.id, RoomState.milestone < milestone)
                .values(milestone=milestone)
            )
            if int(getattr(raised, "rowcount", 0) or 0):
                tx.append("system", {"event": "viewer_milestone", "viewers": milestone})
        self._milestone[stream.id] = due[-1]
        return await eventlog.finish_log(db, tx)

    async def end_stream(self, stream_id: uuid.UUID) -> None:
        """The stream ended: every session of it ends now."""
        await self.presence.drop_stream(stream_id)
        self._here = {here for here in self._here if here[0] != stream_id}
        async with self.host.sessions() as db:
            await db.execute(
                update(ViewerSession)
                .where(ViewerSession.stream_id == stream_id, ViewerSession.left_at.is_(None))
                .values(left_at=self.host.clock.now())
            )
            await db.commit()
        await self.changed(stream_id)
        await self.flush()

    async def unique_viewers(self, db: AsyncSession, stream_id: uuid.UUID) -> int:
        """Distinct viewers (users, or anonymous sessions) the stream has had: exact."""
        count = await db.scalar(
            select(func.count(func.distinct(ViewerSession.viewer_key))).where(
                ViewerSession.stream_id == stream_id
            )
        )
        return int(count or 0)

    def concurrent(self, stream_id: uuid.UUID) -> int:
        """The last count this node saw: its own, or another node's through the bus."""
        return self._counts.get(stream_id, 0)

    def counted(self, stream_id: uuid.UUID, viewers: int) -> None:
        """A count from any node (a :class:`ViewersCounted` event)."""
        self._counts[stream_id] = viewers

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


def _apply_beat(row: ViewerSession, beat: Beat, country: str | None) -> None:
    row.device_type = beat.device_type or row.device_type
    row.resolution = beat.resolution or row.resolution
    row.country = country or row.country
    row.buffering_events += beat.buffering_events
    row.buffering_ms += beat.buffering_ms
    row.quality_changes += beat.quality_changes
