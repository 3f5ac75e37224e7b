"""The realtime side of one node: its open rooms, viewer tracking, and their bus wiring.

Fan-out goes through the event bus: a committed append is published as
:class:`RoomEventsAppended`, and every node's hub hands it to its room for that stream, if it
has one open. With the in-process bus (``memory://``) that is this process; a Redis bus carries
the same events to every node, and since seqs come from the database, rooms on all nodes
deliver the same events in the same order. Stream lifecycle events become system room events.
With ``redis://`` the hub also keeps presence and chat rate limits in Redis, so counts and
budgets are the same on every node.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

from livecast.context import AppContext
from livecast.events.catalog import (
    DomainEvent,
    RoomEventsAppended,
    StreamEnded,
    StreamStarted,
    ViewersCounted,
)
from livecast.realtime import eventlog
from livecast.realtime.clock import Clock, SystemClock
from livecast.realtime.connection import Connection
from livecast.realtime.eventlog import WireEvent, wire_time
from livecast.realtime.presence import MemoryPresence, Presence
from livecast.realtime.presence_redis import RedisPresence
from livecast.realtime.ratelimit import Limits, MemoryLimits, TokenBuckets
from livecast.realtime.ratelimit_redis import RedisLimits
from livecast.realtime.retention import run_retention
from livecast.realtime.room import Room
from livecast.realtime.viewers import ViewerTracker
from livecast.security.ratelimit import RateLimiter
from livecast.storage.models import Stream

log = logging.getLogger(__name__)


class Hub:
    def __init__(
        self, ctx: AppContext, *, clock: Clock | None = None, background: bool = True
    ) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.sessions = ctx.sessions
        self.transactions = ctx.transactions
        self.clock: Clock = clock or SystemClock()
        self.rooms: dict[uuid.UUID, Room] = {}
        self.viewers = ViewerTracker(self, presence=self._presence(), background=background)
        self.session_limiter = RateLimiter(self.settings.viewer_sessions_per_ip_per_minute, 60)
        self._unsubscribe = ctx.bus.subscribe(self._on_event)
        self._stopped = False
        self._retention: asyncio.Task[None] | None = None
        if background and self.settings.chat_retention_days > 0:
            keep = timedelta(days=self.settings.chat_retention_days)
            self._retention = asyncio.get_running_loop().create_task(
                run_retention(self.sessions, self.clock, keep), name="chat-retention"
            )

    # -- shared state: in this process, or in Redis for several nodes ---------------------

    def _presence(self) -> Presence:
        timeout = self.settings.viewer_session_timeout_seconds
        if self.ctx.redis is None:
            return MemoryPresence(timeout)
        return RedisPresence(self.ctx.redis, self.settings.bus_key_prefix, timeout)

    def chat_limits(self, stream_id: uuid.UUID) -> Limits:
        """The comment budgets of a stream's room, per sender."""
        burst, rate = self.settings.chat_burst, self.settings.chat_per_minute / 60
        if self.ctx.redis is None:
            return MemoryLimits(TokenBuckets(burst, rate))
        prefix = f"{self.settings.bus_key_prefix}:chat:{stream_id}"
        return RedisLimits(self.ctx.redis, prefix, burst, rate, self.clock)

    # -- rooms ----------------------------------------------------------------------------

    async def join(self, stream_id: uuid.UUID, conn: Connection) -> tuple[Room, int]:
        """Put ``conn`` in the stream's room, opening it; returns the room and the last seq
        the connection will not get from the room (it replays up to there from the log)."""
        while True:
            room = await self._room(stream_id)
            if not room.closed:
                return room, room.join(conn)

    async def _room(self, stream_id: uuid.UUID) -> Room:
        room = self.rooms.get(stream_id)
        if room is None:
            # Registered before it loads, so events published meanwhile are kept for it.
            room = Room(self, stream_id, self._closed)
            self.rooms[stream_id] = room
            try:
                await room.open()
            except BaseException:
                room.ready.set()
                await room.close()
                raise
        await room.ready.wait()
        return room

    def _closed(self, room: Room) -> None:
        if self.rooms.get(room.stream_id) is room:
            del self.rooms[room.stream_id]

    def room(self, stream_id: uuid.UUID) -> Room | None:
        return self.rooms.get(stream_id)

    # -- what rooms and the tracker need (RoomHost, TrackerHost) --------------------------

    async def publish(
        self, stream_id: uuid.UUID, user_id: uuid.UUID, events: list[WireEvent]
    ) -> None:
        await self.ctx.bus.publish(
            RoomEventsAppended(stream_id=stream_id, user_id=user_id, events=tuple(events))
        )

    async def announce(self, event: DomainEvent) -> None:
        await self.ctx.bus.publish(event)

    # -- the bus --------------------------------------------------------------------------

    async def _on_event(self, event: DomainEvent) -> None:
        if isinstance(event, RoomEventsAppended):
            room = self.rooms.get(event.stream_id)
            if room is not None:
                room.deliver(event.events)
        elif isinstance(event, ViewersCounted):
            self.viewers.counted(event.stream_id, event.viewers)
            room = self.rooms.get(event.stream_id)
            if room is not None:
                room.set_viewers(event.viewers, event.peak)
        elif isinstance(event, StreamStarted):
            await self._system(event.stream_id, "stream_started")
        elif isinstance(event, StreamEnded):
            await self._system(event.stream_id, "stream_ended")
            await self.viewers.end_stream(event.stream_id)

    async def _system(self, stream_id: uuid.UUID, name: str) -> None:
        async with self.sessions() as db:
            stream = await db.get(Stream, stream_id)
            if stream is None:
                return
            tx = await eventlog.open_log(db, stream.id, stream.started_at, self.clock.now())
            body: dict[str, object] = {"event": name}
            if name == "stream_started" and stream.started_at is not None:
                body["started_at"] = wire_time(stream.started_at)
            await db.run_sync(lambda _: tx.append_once(name, "system", body))
            events = await eventlog.finish_log(db, tx)
            await db.commit()
        if events:
            await self.publish(stream_id, stream.user_id, events)

    # -- stopping -------------------------------------------------------------------------

    async def close(self) -> None:
        """Disconnect every client (they resume elsewhere or later with ``since``)."""
        if self._stopped:
            return
        self._stopped = True
        self._unsubscribe()
        if self._retention is not None:
            self._retention.cancel()
            await asyncio.gather(self._retention, return_exceptions=True)
        rooms = list(self.rooms.values())
        await asyncio.gather(*(room.close(reason="server shutting down") for room in rooms))
        await self.viewers.close()
