"""A room's writer: what its clients send reaches the event log in batches.

Comments, reaction and like/share counts and pin expiries queue up while a transaction runs
and go in the next one together, so a busy room costs a few commits a second, not one per
message. The checks that need shared, fresh state run here, under the stream's append lock:
bans and timeouts set on any node, follow age, and duplicate client message ids.

A batch's transaction is a plain function of a synchronous session, run by the node's
:class:`~livecast.storage.db.Transactions` (on SQLite, a thread of its own), so the room's
event loop is not needed between its statements. It gets a snapshot of what it needs to know
of the room, taken on the loop.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.base import Executable

from livecast.events.catalog import DomainEvent
from livecast.realtime import eventlog
from livecast.realtime.clock import Clock
from livecast.realtime.eventlog import LogTransaction, WireEvent
from livecast.realtime.moderation import active_bans, record_action
from livecast.realtime.policy import ChatModes, Refusal, Sender, ms_until
from livecast.realtime.protocol import REACTIONS
from livecast.services.streams import PENDING_EVENTS
from livecast.storage.db import Transactions
from livecast.storage.models import Follow, HeldComment, RoomState, StreamLike

log = logging.getLogger(__name__)

BATCH_LIMIT = 500
Op = Callable[[LogTransaction], None]  # more work in a batch's transaction
Publish = Callable[[uuid.UUID, uuid.UUID, list[WireEvent]], Awaitable[None]]
Announce = Callable[[DomainEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Posted:
    seq: int
    duplicate: bool = False


Outcome = Posted | Refusal
UNAVAILABLE = Refusal("unavailable", "The chat could not store your comment; send it again.")


@dataclass(slots=True)
class CommentRequest:
    sender: Sender
    cid: str | None
    text: str
    privileged: bool
    hold: str | None = None
    outcome: asyncio.Future[Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Target(Protocol):
    """What the writer needs to know of its room."""

    stream_id: uuid.UUID
    channel_id: uuid.UUID
    started_at: datetime | None

    @property
    def modes(self) -> ChatModes: ...


@dataclass(frozen=True, slots=True)
class Batch:
    """One transaction's work, with the room as it was when the batch was taken."""

    stream_id: uuid.UUID
    channel_id: uuid.UUID
    started_at: datetime | None
    modes: ChatModes
    now: datetime
    comments: list[CommentRequest]
    ops: list[Op]


@dataclass(slots=True)
class Written:
    outcomes: list[Outcome]
    events: list[WireEvent]
    announced: list[DomainEvent]  # domain events the batch queued (automatic moderation)


class RoomWriter:
    def __init__(
        self,
        target: Target,
        transactions: Transactions,
        clock: Clock,
        publish: Publish,
        announce: Announce,
    ) -> None:
        self.target = target
        self.transactions = transactions
        self.clock = clock
        self.publish = publish
        self.announce = announce
        self._comments: list[CommentRequest] = []
        self._ops: list[tuple[Op, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._busy = False
        self._task: asyncio.Task[None] | None = None

    @property
    def idle(self) -> bool:
        return not (self._busy or self._comments or self._ops)

    def comment(self, request: CommentRequest) -> asyncio.Future[Outcome]:
        self._comments.append(request)
        self._kick()
        return request.outcome

    def op(self, op: Op) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ops.append((op, done))
        self._kick()
        return done

    def _kick(self) -> None:
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(
                self._run(), name=f"room-writer-{self.target.stream_id}"
            )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._comments or self._ops:
                comments, self._comments = (
                    self._comments[:BATCH_LIMIT],
                    self._comments[BATCH_LIMIT:],
                )
                ops, self._ops = self._ops[:BATCH_LIMIT], self._ops[BATCH_LIMIT:]
                self._busy = True
                try:
                    await self._flush(comments, ops)
                finally:
                    self._busy = False

    async def _flush(
        self, comments: list[CommentRequest], ops: list[tuple[Op, asyncio.Future[None]]]
    ) -> None:
        target = self.target
        batch = Batch(
            target.stream_id,
            target.channel_id,
            target.started_at,
            target.modes,
            self.clock.now(),
            comments,
            [op for op, _ in ops],
        )
        try:
            written = await self.transactions.run(partial(write, batch))
        except Exception as exc:
            log.exception("room write failed", extra={"stream_id": str(target.stream_id)})
            _settle(comments, [UNAVAILABLE] * len(comments), ops, exc)
            return
        _settle(comments, written.outcomes, ops, None)
        if written.events:
            await self.publish(target.stream_id, target.channel_id, written.events)
        for event in written.announced:
            await self.announce(event)


def write(batch: Batch, session: Session) -> Written:
    """A batch's transaction: its comments, then its operations, committed."""
    tx = eventlog.start_log(session, batch.stream_id, batch.started_at, batch.now)
    outcomes = _write_comments(batch, tx)
    for op in batch.ops:
        op(tx)
    events = tx.finish()
    session.commit()
    return Written(outcomes, events, session.info.pop(PENDING_EVENTS, []))


def _write_comments(batch: Batch, tx: LogTransaction) -> list[Outcome]:
    requests = batch.comments
    if not requests:
        return []
    session, now, modes = tx.session, tx.now, batch.modes
    users = {r.sender.user_id for r in requests if r.sender.user_id is not None}
    bans = active_bans(session, batch.channel_id, now, users)
    follows: dict[uuid.UUID, datetime] = {}
    if modes.followers_only:
        follows = _follow_times(session, batch.channel_id, users)
    wanted = [(r.sender.key, r.cid) for r in requests if r.cid]
    seen = eventlog.find_cids(session, tx.stream_id, wanted, now)
    outcomes: list[Outcome] = []
    for request in requests:
        key = (request.sender.key, request.cid or "")
        if request.cid and key in seen:
            outcomes.append(Posted(seen[key], duplicate=True))
            continue
        refusal = _standing(request, bans, follows, modes, now)
        if refusal is None and request.hold:
            refusal = _hold(batch.channel_id, tx, request)
        if refusal is not None:
            outcomes.append(refusal)
            continue
        body = {"cid": request.cid, "user": request.sender.author(), "text": request.text}
        event = tx.append(
            "comment",
            body,
            user_id=request.sender.user_id,
            sender=request.sender.key,
            cid=request.cid,
        )
        if request.cid:
            seen[key] = event["seq"]
        outcomes.append(Posted(event["seq"]))
    return outcomes


def _hold(channel_id: uuid.UUID, tx: LogTransaction, request: CommentRequest) -> Refusal:
    sender, reason = request.sender, request.hold or "spam"
    held = HeldComment(
        id=uuid.uuid4(),
        stream_id=tx.stream_id,
        user_id=sender.user_id,
        sender=sender.key,
        author=sender.author(),
        cid=request.cid,
        text=request.text,
        reason=reason,
        created_at=tx.now,
    )
    tx.session.add(held)
    details = {"reason": reason, "text": request.text, "held_id": str(held.id)}
    record_action(
        tx.session, channel_id, tx.stream_id, None, "hold", sender.user_id, None, details, tx.now
    )
    return Refusal("held_for_review", "A moderator will review your comment before it is shown.")


def _settle(
    comments: list[CommentRequest],
    outcomes: list[Outcome],
    ops: list[tuple[Op, asyncio.Future[None]]],
    error: Exception | None,
) -> None:
    for request, outcome in zip(comments, outcomes, strict=True):
        if not request.outcome.done():
            request.outcome.set_result(outcome)
    for _, done in ops:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


def _standing(
    request: CommentRequest,
    bans: dict[uuid.UUID, datetime | None],
    follows: dict[uuid.UUID, datetime],
    modes: ChatModes,
    now: datetime,
) -> Refusal | None:
    user_id = request.sender.user_id
    if user_id is not None and user_id in bans:
        until = bans[user_id]
        if until is None:
            return Refusal("banned", "You are banned from this chat.")
        return Refusal("timed_out", "You are timed out.", retry_after_ms=ms_until(until, now))
    if not modes.followers_only or request.privileged:
        return None
    followed = follows.get(user_id) if user_id is not None else None
    if followed is None:
        return Refusal("followers_only", "Only followers can chat right now; follow to chat.")
    ready = followed + timedelta(minutes=modes.followers_min_age_minutes)
    if ready > now:
        detail = f"Followers can chat after following for {modes.followers_min_age_minutes} min."
        return Refusal("followers_only", detail, retry_after_ms=ms_until(ready, now))
    return None


def _follow_times(
    session: Session, channel_id: uuid.UUID, users: set[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    if not users:
        return {}
    rows = session.execute(
        select(Follow.follower_id, Follow.created_at).where(
            Follow.followee_id == channel_id, Follow.follower_id.in_(users)
        )
    )
    return {follower: created for follower, created in rows}


# -- operations the room's tick queues --------------------------------------------------------


def engagement(reactions: Counter[str], likes: set[uuid.UUID], shares: int) -> Op:
    """Add a tick's reactions, likes and shares to the totals; log what changed."""

    def run(tx: LogTransaction) -> None:
        if reactions:
            columns = [getattr(RoomState, f"reaction_{kind}") for kind in REACTIONS]
            changes = {
                f"reaction_{kind}": getattr(RoomState, f"reaction_{kind}") + reactions[kind]
                for kind in REACTIONS
                if reactions[kind]
            }
            totals = tx.session.execute(_bump(tx.stream_id, changes, columns)).one()
            tx.append(
                "reactions",
                {"counts": dict(reactions), "totals": dict(zip(REACTIONS, totals, strict=True))},
            )
        new_likes = 0
        if likes:
            rows = [{"stream_id": tx.stream_id, "user_id": u, "created_at": tx.now} for u in likes]
            inserted = tx.session.execute(
                eventlog.insert_ignore(tx.session, StreamLike)
                .values(rows)
                .returning(StreamLike.user_id)
            )
            new_likes = len(inserted.all())
        if new_likes or shares:
            changes = {
                "like_count": RoomState.like_count + new_likes,
                "share_count": RoomState.share_count + shares,
            }
            columns = [RoomState.like_count, RoomState.share_count]
            likes_total, shares_total = tx.session.execute(
                _bump(tx.stream_id, changes, columns)
            ).one()
            tx.append("counters", {"likes": likes_total, "shares": shares_total})

    return run


def _bump(
    stream_id: uuid.UUID,
    changes: dict[str, Any],
    columns: Sequence[InstrumentedAttribute[int]],
) -> Executable:
    """Add to counters of the stream's state row, returning the new totals."""
    return (
        update(RoomState)
        .where(RoomState.stream_id == stream_id)
        .values(**changes)
        .returning(*columns)
    )


def expire_pin(seq: int) -> Op:
    """Unpin ``seq`` if it is still the pinned comment and its time is up."""

    def run(tx: LogTransaction) -> None:
        state = tx.session.get(RoomState, tx.stream_id, populate_existing=True)
        if state is None or state.pinned_seq != seq:
            return
        if state.pinned_until is not None and state.pinned_until > tx.now:
            return
        state.pinned_seq = state.pinned_until = None
        tx.append("unpin", {"comment_seq": seq, "reason": "expired"})

    return run
