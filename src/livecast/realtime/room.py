"""A stream's room on this node: its connections, its state, and its tick.

Events reach the room only after they are committed to the log, through the bus (so a room
on another node gets the same events). The room delivers them strictly in ``seq`` order: an
event that arrives ahead of one it has not seen waits while the missing ones are read from the
log. Each tick (every 50 ms by default, and never sooner than 25 ms after the last broadcast)
it encodes what was delivered as one batch frame and hands that frame to every connection.
Reactions, likes and shares are summed in memory and go to the log every 250 ms as one event
each.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livecast.events.catalog import DomainEvent
from livecast.realtime import eventlog, protocol
from livecast.realtime.clock import Clock
from livecast.realtime.connection import Connection, TickFrame
from livecast.realtime.eventlog import DUPLICATE_WINDOW, WireEvent
from livecast.realtime.moderation import active_bans, load_modes, moderator_ids
from livecast.realtime.policy import ChatModes, ChatPolicy, Refusal, Sender
from livecast.realtime.protocol import CommentMessage
from livecast.realtime.ratelimit import Limits, TokenBuckets, Verdict
from livecast.realtime.spam import SpamDetector
from livecast.realtime.trace import DeliveryTrace
from livecast.realtime.writer import (
    UNAVAILABLE,
    CommentRequest,
    Outcome,
    Posted,
    RoomWriter,
    engagement,
    expire_pin,
)
from livecast.settings import Settings
from livecast.storage.db import Transactions
from livecast.storage.models import RoomEvent, RoomState, Stream

log = logging.getLogger(__name__)

_CID_CACHE = 20_000


BROADCAST_SLICE = 500  # connections served before the event loop is let go


class RoomHost(Protocol):
    settings: Settings
    clock: Clock
    sessions: async_sessionmaker[AsyncSession]
    transactions: Transactions

    def chat_limits(self, stream_id: uuid.UUID) -> Limits: ...

    async def publish(
        self, stream_id: uuid.UUID, user_id: uuid.UUID, events: list[WireEvent]
    ) -> None: ...

    async def announce(self, event: DomainEvent) -> None: ...


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


class Room:
    def __init__(self, host: RoomHost, stream_id: uuid.UUID, on_closed: Callable[[Room], None]):
        settings = host.settings
        self.host = host
        self.stream_id = stream_id
        self.channel_id = stream_id  # set by open()
        self.started_at: datetime | None = None
        self.connections: set[Connection] = set()
        self.closed = False
        self.ready = asyncio.Event()  # set once open() has loaded the room
        self.moderators: set[uuid.UUID] = set()
        self.viewers = self.peak = 0
        self.likes = self.shares = 0
        self.reaction_totals: dict[str, int] = dict.fromkeys(protocol.REACTIONS, 0)
        self.pinned: WireEvent | None = None
        self.policy = ChatPolicy(
            ChatModes(),
            max_chars=settings.chat_max_comment_chars,
            limits=host.chat_limits(stream_id),
            spam=SpamDetector(),
        )
        rate = settings.reactions_per_second
        self.engage_limits = TokenBuckets(max(1, int(rate * 2)), rate)
        self.delivered_seq = 0  # every event up to here is in the tail or was handed out
        self.flushed_seq = 0  # every event up to here was handed to the connections
        self.writer = RoomWriter(self, host.transactions, host.clock, host.publish, host.announce)
        self._on_closed = on_closed
        self._opening = True
        self._ahead: dict[int, WireEvent] = {}
        # Events delivered and not yet handed to every connection. They are numbered by
        # position (ephemeral ones have no seq): _tail[0] is at _tail_at, and each connection
        # knows the position up to which it has been handed events.
        self._tail: list[WireEvent] = []
        self._tail_at = 0
        self._handed_end = 0  # for the trace: events before this position reached a client
        self._filling = False
        self._reactions: Counter[str] = Counter()
        self._likes: set[uuid.UUID] = set()
        self._shares = 0
        self._unpinning: int | None = None
        self._cids: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._tick: asyncio.Task[None] | None = None
        self._reloading: asyncio.Task[None] | None = None
        self.trace = DeliveryTrace.from_env()  # None unless a benchmark asks

    @property
    def modes(self) -> ChatModes:
        return self.policy.modes

    # -- opening and closing --------------------------------------------------------------

    async def open(self) -> None:
        """Load the room's state from the database and start its tick."""
        now = self.host.clock.now()
        async with self.host.sessions() as session:
            stream = await session.get(Stream, self.stream_id)
            if stream is None:
                raise LookupError(self.stream_id)
            state = await session.get(RoomState, self.stream_id)
            self.channel_id, self.started_at = stream.user_id, stream.started_at
            self.viewers, self.peak = stream.viewer_count, stream.peak_viewer_count
            self.policy.set_modes(await load_modes(session, self.stream_id))
            self.moderators = await moderator_ids(session, self.channel_id)
            self.policy.restrictions = await session.run_sync(active_bans, self.channel_id, now)
            if state is not None:
                self._load_state(state)
                self.pinned = await self._pinned(session, state, now)
        self.flushed_seq = self.delivered_seq
        self._opening = False
        self._accept_ahead()
        self._tick = asyncio.create_task(self._run(), name=f"room-{self.stream_id}")
        self.ready.set()

    def _load_state(self, state: RoomState) -> None:
        self.delivered_seq = state.last_seq
        self.likes, self.shares = state.like_count, state.share_count
        self.reaction_totals = {k: getattr(state, f"reaction_{k}") for k in protocol.REACTIONS}

    async def _pinned(
        self, session: AsyncSession, state: RoomState, now: datetime
    ) -> WireEvent | None:
        if state.pinned_seq is None or state.pinned_until is None or state.pinned_until <= now:
            return None
        row = await session.scalar(
            select(RoomEvent)
            .where(RoomEvent.stream_id == self.stream_id, RoomEvent.type == "pin")
            .order_by(RoomEvent.seq.desc())
            .limit(1)
        )
        if row is None or row.body["comment"]["seq"] != state.pinned_seq:
            return None
        return eventlog.row_to_wire(row)

    async def close(self, code: int = protocol.CloseCode.GOING_AWAY, reason: str = "") -> None:
        for conn in list(self.connections):
            conn.close(code, reason)
        self._shut()
        tasks = [t for t in (self._tick, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._release()

    async def _release(self) -> None:
        """Stop the writer and close the trace: the last step of closing, either way."""
        await self.writer.close()
        if self.trace is not None:
            self.trace.close()

    def _shut(self) -> None:
        if not self.closed:
            self.closed = True
            self._on_closed(self)

    # -- membership -----------------------------------------------------------------------

    def join(self, conn: Connection) -> int:
        """Add ``conn``; it gets every event after the returned seq from the room's frames."""
        self.connections.add(conn)
        conn.position = self._end
        return self.delivered_seq

    def leave(self, conn: Connection) -> None:
        self.connections.discard(conn)

    def privileged(self, sender: Sender) -> bool:
        user_id = sender.user_id
        return user_id is not None and (
            user_id == self.channel_id or sender.site_admin or user_id in self.moderators
        )

    def state(self) -> dict[str, Any]:
        """What a client joining now needs to show the room."""
        return {
            "viewers": self.viewers,
            "peak": self.peak,
            "likes": self.likes,
            "shares": self.shares,
            "reactions": dict(self.reaction_totals),
            "pinned": self.pinned,
            "chat": self.modes.public(),
        }

    # -- delivery -------------------------------------------------------------------------

    def deliver(self, events: tuple[WireEvent, ...] | list[WireEvent]) -> None:
        """Committed events, from the bus: delivered in seq order, each once."""
        for event in events:
            if event["seq"] > self.delivered_seq or self._opening:
                self._ahead[event["seq"]] = event
        if not self._opening:
            self._accept_ahead()

    def push_ephemeral(self, event: WireEvent) -> None:
        """A state update with no seq (viewer counts): sent with the next tick, not logged."""
        self._tail.append(event)

    def set_viewers(self, viewers: int, peak: int) -> None:
        if (viewers, peak) != (self.viewers, self.peak):
            self.viewers, self.peak = viewers, peak
            self.push_ephemeral({"type": "viewer_update", "viewers": viewers, "peak": peak})

    def _accept_ahead(self) -> None:
        ahead = self._ahead
        for seq in [s for s in ahead if s <= self.delivered_seq]:
            del ahead[seq]
        while (event := ahead.pop(self.delivered_seq + 1, None)) is not None:
            self._accept(event["seq"], event)
        if ahead and not self._filling:
            self._spawn(self._fill_gap())

    def _accept(self, seq: int, event: WireEvent | None) -> None:
        """Deliver ``seq``: its event, or nothing where the log holds a deleted comment."""
        self.delivered_seq = seq
        if event is not None:
            self._apply(event)
            self._tail.append(event)
            if self.trace is not None:
                self.trace.delivered(event.get("cid"))

    async def _fill_gap(self) -> None:
        """Events arrived ahead of others; those are committed already, so read them."""
        self._filling = True
        try:
            async with self.host.sessions() as session:
                rows = await eventlog.read_range(
                    session, self.stream_id, self.delivered_seq, min(self._ahead) - 1
                )
        except Exception:
            log.exception("room could not read its log", extra={"stream_id": str(self.stream_id)})
            rows = []
        finally:
            self._filling = False
        for seq, event in rows:
            if seq == self.delivered_seq + 1:
                self._accept(seq, event)
        if rows:
            self._accept_ahead()

    def _apply(self, event: WireEvent) -> None:
        kind = event["type"]
        if kind == "reactions":
            self.reaction_totals = dict(event["totals"])
        elif kind == "counters":
            self.likes, self.shares = event["likes"], event["shares"]
        elif kind == "pin":
            self.pinned, self._unpinning = event, None
        elif kind == "unpin":
            if self.pinned is not None and self.pinned["comment"]["seq"] == event["comment_seq"]:
                self.pinned = None
        elif kind == "chat_settings":
            self.policy.set_modes(replace(self.modes, **event["chat"]))
            # Blocked terms are not in the public event: read them before the next comment.
            self._reloading = self._spawn(self._reload_modes())
        elif kind in ("timeout", "ban", "unban"):
            self._restrict(event)
        elif kind in ("moderator_added", "moderator_removed"):
            user_id = uuid.UUID(event["user"]["id"])
            if kind == "moderator_added":
                self.moderators.add(user_id)
            else:
                self.moderators.discard(user_id)
        elif kind == "system" and event.get("event") == "stream_started":
            self.started_at = _parse_time(event["started_at"])

    def _restrict(self, event: WireEvent) -> None:
        user_id = uuid.UUID(event["user"]["id"])
        if event["type"] == "unban":
            self.policy.restrictions.pop(user_id, None)
        else:
            until = event.get("until")
            self.policy.restrictions[user_id] = _parse_time(until) if until else None

    async def _reload_modes(self) -> None:
        async with self.host.sessions() as session:
            self.policy.set_modes(await load_modes(session, self.stream_id))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- the tick -------------------------------------------------------------------------

    async def _run(self) -> None:
        """Tick: a broadcast every interval, with at least half an interval of quiet after one.

        A small room's broadcast takes a few ms, so it ticks every interval. A big room's can
        take longer than the interval; back-to-back broadcasts measured slower than ones with a
        pause (docs/benchmarks.md: readers catch up in it, and the next writes are cheaper).
        Reactions and counts go to the log every ``reaction_interval_ms`` of wall time.
        """
        settings = self.host.settings
        interval = settings.realtime_tick_ms / 1000
        # Less half a tick, so that a timer waking a little early does not cost a whole tick.
        engage_every = (settings.reaction_interval_ms - settings.realtime_tick_ms / 2) / 1000
        loop = asyncio.get_running_loop()
        engaged_at = began = loop.time()
        while True:
            await asyncio.sleep(max(began + interval - loop.time(), interval / 2))
            began = loop.time()
            if began >= engaged_at + engage_every:
                engaged_at = began
                self._flush_engagement()
                self._expire_pin()
            await self.broadcast()
            if not self.connections and self._quiet():
                self._shut()
                await self._release()
                return

    @property
    def _end(self) -> int:
        """The position the next event delivered will take."""
        return self._tail_at + len(self._tail)

    def _quiet(self) -> bool:
        pending = self._reactions or self._likes or self._shares or self._tail
        return not pending and self.writer.idle and not self._filling

    async def broadcast(self) -> None:
        """Hand every connection the events it has not been handed yet, as one frame.

        A big room is served in slices with the event loop let go in between, so the reads and
        commits of the next comments are not held up for a whole broadcast. Events delivered
        meanwhile join the frame for the slices still to come: a client late in the broadcast
        gets them now, one early in it with the next broadcast, and nobody twice. So an event
        waits for at most one broadcast and one interval, not two broadcasts. Each distinct
        frame is encoded once; a broadcast has as many as batches arrived during it.
        """
        if not self._tail:
            return
        started = time.time_ns() if self.trace is not None else 0
        first_end, first_seq = self._end, self.delivered_seq
        connections = list(self.connections)
        frames: dict[int, TickFrame] = {}
        end, writing = first_end, 0
        self._trace_handed(end)
        for start in range(0, len(connections), BROADCAST_SLICE):
            if start:
                await asyncio.sleep(0)
                if self._end != end:
                    end, frames = self._end, {}
                    self._trace_handed(end)
            began = time.perf_counter_ns() if self.trace is not None else 0
            for conn in connections[start : start + BROADCAST_SLICE]:
                if conn.position < end:
                    frame = frames.get(conn.position)
                    if frame is None:
                        events = self._tail[conn.position - self._tail_at : end - self._tail_at]
                        frame = frames[conn.position] = TickFrame(events)
                    conn.push(frame)
                    conn.position = end
            if self.trace is not None:
                writing += time.perf_counter_ns() - began
        # Every connection now has everything up to first_end (one that joined meanwhile
        # started past it): that part of the tail is done with.
        del self._tail[: first_end - self._tail_at]
        self._tail_at = first_end
        self.flushed_seq = first_seq
        if self.trace is not None:
            queued = sum(1 for conn in connections if conn.backlog)
            size = max((len(f.text(False).encode()) for f in frames.values()), default=0)
            self.trace.tick(started, len(connections), size, queued, writing)

    def _trace_handed(self, end: int) -> None:
        """Tell the trace which events reach their first client from here on."""
        if self.trace is not None and end > self._handed_end:
            at = self._tail_at
            self.trace.handed(self._tail[max(0, self._handed_end - at) : end - at])
            self._handed_end = end

    def _flush_engagement(self) -> None:
        if self._reactions or self._likes or self._shares:
            self.writer.op(engagement(self._reactions, self._likes, self._shares))
            self._reactions, self._likes, self._shares = Counter(), set(), 0

    def _expire_pin(self) -> None:
        pinned = self.pinned
        if pinned is None or self._unpinning == pinned["comment"]["seq"]:
            return
        if _parse_time(pinned["expires_at"]) <= self.host.clock.now():
            seq = pinned["comment"]["seq"]
            self._unpinning = seq
            self.writer.op(expire_pin(seq))

    # -- what clients send ----------------------------------------------------------------

    async def comment(self, conn: Connection, message: CommentMessage) -> None:
        if self._reloading is not None and not self._reloading.done():
            # Blocked terms are being re-read after a settings change: check against them.
            await asyncio.wait({self._reloading})
        sender, cid, clock = conn.sender, message.cid, self.host.clock
        if self.trace is not None:
            self.trace.arrived(cid)
        mono = clock.monotonic()
        if cid is not None and (seq := self._recent_cid(sender.key, cid, mono)) is not None:
            budget = await self.policy.limits.peek(sender.key, mono)
            conn.send(protocol.ack(cid, budget, seq=seq, duplicate=True))
            return
        privileged = self.privileged(sender)
        admitted = await self.policy.admit(sender, privileged, message.text, mono, clock.now())
        refusal = admitted.refusal
        if refusal is not None and refusal.hold is None:
            conn.send(protocol.refusal(cid, refusal, admitted.budget))
            return
        hold = refusal.hold if refusal is not None else None
        request = CommentRequest(sender, cid, admitted.text, privileged, hold)
        outcome = self.writer.comment(request)
        outcome.add_done_callback(lambda done: self._acknowledge(conn, cid, admitted.budget, done))

    def _acknowledge(
        self, conn: Connection, cid: str | None, budget: Verdict, done: asyncio.Future[Outcome]
    ) -> None:
        if done.cancelled():
            return
        outcome = done.result() if done.exception() is None else UNAVAILABLE
        if isinstance(outcome, Posted):
            if cid is not None:
                self._remember(conn.sender.key, cid, outcome.seq)
            conn.send(protocol.ack(cid, budget, seq=outcome.seq, duplicate=outcome.duplicate))
        else:
            conn.send(protocol.refusal(cid, outcome, budget))

    def _recent_cid(self, sender: str, cid: str, mono: float) -> int | None:
        found = self._cids.get((sender, cid))
        if found is None or mono - found[1] > DUPLICATE_WINDOW.total_seconds():
            return None
        return found[0]

    def _remember(self, sender: str, cid: str, seq: int) -> None:
        self._cids[(sender, cid)] = (seq, self.host.clock.monotonic())
        if len(self._cids) > _CID_CACHE:
            self._cids.popitem(last=False)

    def engage(self, conn: Connection, what: str, cid: str | None) -> None:
        """A reaction (``what`` is its kind), a like or a share; acknowledged only with a cid."""
        sender, mono = conn.sender, self.host.clock.monotonic()
        refusal = self._may_engage(sender, what)
        verdict = self.engage_limits.peek(sender.key, mono)
        if refusal is None:
            verdict = self.engage_limits.take(sender.key, mono)
            if not verdict.allowed:
                refusal = Refusal("rate_limited", "Slow down.", verdict.retry_after_ms)
        if refusal is None:
            if what == "like":
                assert sender.user_id is not None
                self._likes.add(sender.user_id)
            elif what == "share":
                self._shares += 1
            else:
                self._reactions[what] += 1
        if cid is None:
            return  # taps are not acknowledged unless the client asks, with a cid
        if refusal is None:
            conn.send(protocol.ack(cid, verdict))
        else:
            conn.send(protocol.refusal(cid, refusal, verdict))

    def _may_engage(self, sender: Sender, what: str) -> Refusal | None:
        if sender.anonymous and (what == "like" or not self.modes.anonymous_chat):
            return Refusal("login_required", "Log in to do this.")
        return self.policy.restriction(sender.user_id, self.host.clock.now())
