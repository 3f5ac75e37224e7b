"""Moderation: roles in a channel's chat, and the actions moderators take.

The streamer (the channel), the moderators they appoint and site admins moderate. Moderators
and bans belong to the channel, so they hold in all of the streamer's streams; chat modes
belong to one stream. Every action writes its room event to the stream's log and a row to the
audit log in the same transaction; the caller commits, which publishes the room events.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, aliased

from livecast.errors import BadRequest, NotFound, PermissionDenied
from livecast.events.catalog import ModerationAction as ModerationActionTaken
from livecast.events.catalog import RoomEventsAppended
from livecast.realtime import eventlog
from livecast.realtime.eventlog import LogTransaction, WireEvent, wire_time
from livecast.realtime.policy import ChatModes
from livecast.realtime.protocol import MAX_TIMEOUT_SECONDS
from livecast.services.roles import Role
from livecast.services.streams import queue_event
from livecast.storage.models import (
    ChannelModerator,
    ChatBan,
    ChatSettings,
    HeldComment,
    ModerationAction,
    RoomEvent,
    RoomState,
    Stream,
    User,
)


class ChatRole(enum.StrEnum):
    STREAMER = "streamer"
    ADMIN = "admin"
    MODERATOR = "moderator"
    VIEWER = "viewer"
    ANONYMOUS = "anonymous"

    @property
    def moderates(self) -> bool:
        return self in (ChatRole.STREAMER, ChatRole.ADMIN, ChatRole.MODERATOR)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: uuid.UUID
    stream_id: uuid.UUID | None
    action: str
    actor: str | None
    target_user_id: uuid.UUID | None
    target: str | None
    target_seq: int | None
    details: dict[str, Any]
    created_at: datetime


def public_user(user: User) -> dict[str, Any]:
    return {"id": str(user.id), "name": user.username, "display_name": user.display_name}


_MODE_FIELDS = tuple(f.name for f in fields(ChatModes))


def modes_from_row(row: ChatSettings | None) -> ChatModes:
    if row is None:
        return ChatModes()
    values = {name: getattr(row, name) for name in _MODE_FIELDS}
    values["blocked_terms"] = tuple(row.blocked_terms or ())
    return ChatModes(**values)


async def load_modes(session: AsyncSession, stream_id: uuid.UUID) -> ChatModes:
    return modes_from_row(await session.get(ChatSettings, stream_id, populate_existing=True))


async def moderator_ids(session: AsyncSession, channel_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.scalars(
        select(ChannelModerator.user_id).where(ChannelModerator.channel_id == channel_id)
    )
    return set(rows)


def active_bans(
    session: Session,
    channel_id: uuid.UUID,
    now: datetime,
    user_ids: Iterable[uuid.UUID] | None = None,
) -> dict[uuid.UUID, datetime | None]:
    """Users banned (None) or timed out (until when) from the channel's chat right now."""
    query = select(ChatBan.user_id, ChatBan.expires_at).where(
        ChatBan.channel_id == channel_id,
        or_(ChatBan.expires_at.is_(None), ChatBan.expires_at > now),
    )
    if user_ids is not None:
        wanted = set(user_ids)
        if not wanted:
            return {}
        query = query.where(ChatBan.user_id.in_(wanted))
    return {user_id: expires for user_id, expires in session.execute(query)}


class Moderation:
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.db = session
        self.now = now

    # -- who may do what ------------------------------------------------------------------

    async def role(self, stream: Stream, user: User | None) -> ChatRole:
        if user is None:
            return ChatRole.ANONYMOUS
        if user.id == stream.user_id:
            return ChatRole.STREAMER
        if user.role == Role.ADMIN:
            return ChatRole.ADMIN
        if await self.db.get(ChannelModerator, (stream.user_id, user.id)) is not None:
            return ChatRole.MODERATOR
        return ChatRole.VIEWER

    async def require_moderator(self, stream: Stream, actor: User) -> ChatRole:
        role = await self.role(stream, actor)
        if not role.moderates:
            raise PermissionDenied("Only the streamer and their moderators can do this.")
        return role

    async def require_streamer(self, stream: Stream, actor: User) -> None:
        if await self.role(stream, actor) not in (ChatRole.STREAMER, ChatRole.ADMIN):
            raise PermissionDenied("Only the streamer can appoint or remove moderators.")

    # -- reading --------------------------------------------------------------------------

    async def moderators(self, stream: Stream) -> list[User]:
        rows = await self.db.scalars(
            select(User)
            .join(ChannelModerator, ChannelModerator.user_id == User.id)
            .where(ChannelModerator.channel_id == stream.user_id)
            .order_by(ChannelModerator.created_at, User.id)
        )
        return list(rows)

    async def bans(self, stream: Stream) -> list[tuple[ChatBan, User]]:
        rows = await self.db.execute(
            select(ChatBan, User)
            .join(User, User.id == ChatBan.user_id)
            .where(
                ChatBan.channel_id == stream.user_id,
                or_(ChatBan.expires_at.is_(None), ChatBan.expires_at > self.now),
            )
            .order_by(ChatBan.created_at.desc(), User.id)
        )
        return [(ban, user) for ban, user in rows]

    async def held(self, stream: Stream, limit: int) -> list[HeldComment]:
        rows = await self.db.scalars(
            select(HeldComment)
            .where(HeldComment.stream_id == stream.id)
            .order_by(HeldComment.created_at, HeldComment.id)
            .limit(limit)
        )
        return list(rows)

    async def audit_log(self, stream: Stream, limit: int, offset: int) -> list[AuditEntry]:
        """The channel's moderation actions, newest first."""
        actor, target = aliased(User), aliased(User)
        query = (
            select(ModerationAction, actor.username, target.username)
            .outerjoin(actor, actor.id == ModerationAction.actor_id)
            .outerjoin(target, target.id == ModerationAction.target_user_id)
            .where(ModerationAction.channel_id == stream.user_id)
            .order_by(ModerationAction.created_at.desc(), ModerationAction.id)
            .limit(limit)
            .offset(offset)
        )
        return [
            AuditEntry(
                id=row.id,
                stream_id=row.stream_id,
                action=row.action,
                actor=actor_name,
                target_user_id=row.target_user_id,
                target=target_name,
                target_seq=row.target_seq,
                details=row.details,
                created_at=row.created_at,
            )
            for row, actor_name, target_name in (await self.db.execute(query))
        ]

    # -- actions on messages --------------------------------------------------------------

    async def delete_comment(self, stream: Stream, actor: User, seq: int) -> None:
        await self.require_moderator(stream, actor)
        tx = await self._log(stream)
        row = await eventlog.comment(self.db, stream.id, seq)
        if row is None:
            raise NotFound("No comment with that seq in this stream.")
        row.deleted = True
        await self._unpin_if(tx, lambda pinned: pinned == seq)
        tx.append("deleted", {"comment_seq": seq})
        self._audit(stream, actor, "delete", row.user_id, seq, {"text": row.body.get("text")})
        await self._done(tx, actor)

    async def clear(self, stream: Stream, actor: User) -> None:
        await self.require_moderator(stream, actor)
        tx = await self._log(stream)
        event = tx.append("clear", {"through_seq": tx.last_seq})
        result = await self.db.execute(
            update(RoomEvent)
            .where(
                RoomEvent.stream_id == stream.id,
                RoomEvent.type == "comment",
                RoomEvent.seq < event["seq"],
                RoomEvent.deleted.is_(False),
            )
            .values(deleted=True)
        )
        await self._unpin_if(tx, lambda pinned: True)
        count = int(getattr(result, "rowcount", 0) or 0)
        self._audit(stream, actor, "clear", None, event["seq"], {"comments": count})
        await self._done(tx, actor)

    async def pin(self, stream: Stream, actor: User, seq: int, seconds: int) -> WireEvent:
        await self.require_moderator(stream, actor)
        tx = await self._log(stream)
        row = await eventlog.comment(self.db, stream.id, seq)
        if row is None:
            raise NotFound("No comment with that seq in this stream.")
        until = tx.now + timedelta(seconds=seconds)
        state = await self._state(stream.id)
        state.pinned_seq, state.pinned_until = seq, until
        pin = tx.append(
            "pin", {"comment": eventlog.row_to_wire(row), "expires_at": wire_time(until)}
        )
        self._audit(stream, actor, "pin", row.user_id, seq, {"seconds": seconds})
        await self._done(tx, actor)
        return pin

    async def unpin(self, stream: Stream, actor: User) -> None:
        await self.require_moderator(stream, actor)
        tx = await self._log(stream)
        seq = await self._unpin_if(tx, lambda pinned: True)
        if seq is not None:
            self._audit(stream, actor, "unpin", None, seq, {})
        await self._done(tx, actor)

    async def _unpin_if(self, tx: LogTransaction, wanted: Callable[[int], bool]) -> int | None:
        state = await self._state(tx.stream_id)
        seq = state.pinned_seq
        if seq is None or not wanted(seq):
            return None
        state.pinned_seq = state.pinned_until = None
        tx.append("unpin", {"comment_seq": seq})
        return seq

    # -- actions on users -----------------------------------------------------------------

    async def restrict(
        self, stream: Stream, actor: User, target_id: uuid.UUID, seconds: int | None, reason: str
    ) -> ChatBan:
        """Ban ``target_id`` from the channel's chat, for ``seconds`` (a timeout) or for good."""
        role = await self.require_moderator(stream, actor)
        if seconds is not None and not 1 <= seconds <= MAX_TIMEOUT_SECONDS:
            raise BadRequest("A timeout lasts from 1 second to 2 weeks.")
        target = await self._target(stream, actor, role, target_id)
        tx = await self._log(stream)
        ban = await self.db.get(ChatBan, (stream.user_id, target.id))
        if ban is None:
            ban = ChatBan(channel_id=stream.user_id, user_id=target.id)
            self.db.add(ban)
        ban.expires_at = tx.now + timedelta(seconds=seconds) if seconds else None
        ban.reason, ban.created_by, ban.created_at = reason, actor.id, tx.now
        if ban.expires_at is None:
            tx.append("ban", {"user": public_user(target)})
            self._audit(stream, actor, "ban", target.id, None, {"reason": reason})
        else:
            body = {"user": public_user(target), "until": wire_time(ban.expires_at)}
            tx.append("timeout", {**body, "seconds": seconds})
            self._audit(
                stream, actor, "timeout", target.id, None, {"seconds": seconds, "reason": reason}
            )
        await self._done(tx, actor)
        return ban

    async def unban(self, stream: Stream, actor: User, target_id: uuid.UUID) -> None:
        role = await self.require_moderator(stream, actor)
        target = await self._target(stream, actor, role, target_id)
        tx = await self._log(stream)
        result = await self.db.execute(
            delete(ChatBan).where(
                ChatBan.channel_id == stream.user_id, ChatBan.user_id == target.id
            )
        )
        if int(getattr(result, "rowcount", 0) or 0):
            tx.append("unban", {"user": public_user(target)})
            self._audit(stream, actor, "unban", target.id, None, {})
        await self._done(tx, actor)

    async def _target(
        self, stream: Stream, actor: User, role: ChatRole, target_id: uuid.UUID
    ) -> User:
        target = await self.db.get(User, target_id)
        if target is None:
            raise NotFound("No user with that id.")
        if target.id == actor.id:
            raise BadRequest("You cannot do this to yourself.")
        target_role = await self.role(stream, target)
        if target_role in (ChatRole.STREAMER, ChatRole.ADMIN):
            raise PermissionDenied(f"The {target_role} cannot be restricted in chat.")
        if target_role is ChatRole.MODERATOR and role is ChatRole.MODERATOR:
            raise PermissionDenied("Only the streamer can restrict a moderator.")
        return target

    async def add_moderator(self, stream: Stream, actor: User, user_id: uuid.UUID) -> User:
        await self.require_streamer(stream, actor)
        user = await self.db.get(User, user_id)
        if user is None:
            raise NotFound("No user with that id.")
        if user.id == stream.user_id:
            raise BadRequest("The streamer moderates their own chat already.")
        tx = await self._log(stream)
        if await self.db.get(ChannelModerator, (stream.user_id, user.id)) is None:
            self.db.add(ChannelModerator(channel_id=stream.user_id, user_id=user.id))
            tx.append("moderator_added", {"user": public_user(user)})
            self._audit(stream, actor, "moderator_add", user.id, None, {})
        await self._done(tx, actor)
        return user

    async def remove_moderator(self, stream: Stream, actor: User, user_id: uuid.UUID) -> None:
        await self.require_streamer(stream, actor)
        tx = await self._log(stream)
        row = await self.db.get(ChannelModerator, (stream.user_id, user_id))
        user = await self.db.get(User, user_id)
        if row is not None and user is not None:
            await self.db.delete(row)
            tx.append("moderator_removed", {"user": public_user(user)})
            self._audit(stream, actor, "moderator_remove", user.id, None, {})
        await self._done(tx, actor)

    # -- chat modes -----------------------------------------------------------------------

    async def update_modes(self, stream: Stream, actor: User, changes: dict[str, Any]) -> ChatModes:
        await self.require_moderator(stream, actor)
        tx = await self._log(stream)
        row = await self.db.get(ChatSettings, stream.id)
        if row is None:
            row = ChatSettings(stream_id=stream.id, **ChatModes().public(), blocked_terms=[])
            self.db.add(row)
        for name, value in changes.items():
            setattr(row, name, list(value) if name == "blocked_terms" else value)
        row.updated_at = tx.now
        await self.db.flush()
        modes = modes_from_row(row)
        tx.append("chat_settings", {"chat": modes.public()})
        self._audit(stream, actor, "settings", None, None, {"changes": changes})
        await self._done(tx, actor)
        return modes

    # -- held comments --------------------------------------------------------------------

    async def approve(self, stream: Stream, actor: User, held_id: uuid.UUID) -> WireEvent:
        await self.require_moderator(stream, actor)
        tx = await self._log(stream)
        held = await self._held(stream, held_id)
        body = {"cid": held.cid, "user": held.author, "text": held.text}
        event = tx.append("comment", body, user_id=held.user_id, sender=held.sender, cid=held.cid)
        await self.db.delete(held)
        self._audit(stream, actor, "approve", held.user_id, event["seq"], {"reason": held.reason})
        await self._done(tx, actor)
        return event

    async def reject(self, stream: Stream, actor: User, held_id: uuid.UUID) -> None:
        await self.require_moderator(stream, actor)
        held = await self._held(stream, held_id)
        await self.db.delete(held)
        details = {"reason": held.reason, "text": held.text}
        self._audit(stream, actor, "reject", held.user_id, None, details)
        await self.db.flush()

    async def _held(self, stream: Stream, held_id: uuid.UUID) -> HeldComment:
        held = await self.db.get(HeldComment, held_id)
        if held is None or held.stream_id != stream.id:
            raise NotFound("No held comment with that id.")
        return held

    # -- helpers --------------------------------------------------------------------------

    async def _log(self, stream: Stream) -> LogTransaction:
        return await eventlog.open_log(self.db, stream.id, stream.started_at, self.now)

    async def _state(self, stream_id: uuid.UUID) -> RoomState:
        state = await self.db.get(RoomState, stream_id, populate_existing=True)
        assert state is not None  # open_log created it
        return state

    def _audit(
        self,
        stream: Stream,
        actor: User | None,
        action: str,
        target_user_id: uuid.UUID | None,
        target_seq: int | None,
        details: dict[str, Any],
    ) -> None:
        record_action(
            self.db,
            stream.user_id,
            stream.id,
            actor.id if actor else None,
            action,
            target_user_id,
            target_seq,
            details,
            self.now,
        )

    async def _done(self, tx: LogTransaction, actor: User) -> None:
        events = await eventlog.finish_log(self.db, tx)
        await self.db.flush()
        if events:
            queue_event(
                self.db,
                RoomEventsAppended(stream_id=tx.stream_id, user_id=actor.id, events=tuple(events)),
            )


def record_action(
    session: AsyncSession | Session,
    channel_id: uuid.UUID,
    stream_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    action: str,
    target_user_id: uuid.UUID | None,
    target_seq: int | None,
    details: dict[str, Any],
    now: datetime,
) -> None:
    """Add an audit log row and queue its ``ModerationAction`` event for the commit.

    ``actor_id`` None means automatic moderation; the event then names the channel's owner.
    """
    session.add(
        ModerationAction(
            channel_id=channel_id,
            stream_id=stream_id,
            actor_id=actor_id,
            action=action,
            target_user_id=target_user_id,
            target_seq=target_seq,
            details=details,
            created_at=now,
        )
    )
    queue_event(
        session,
        ModerationActionTaken(
            stream_id=stream_id,
            user_id=actor_id or channel_id,
            action=action,
            target_user_id=target_user_id,
            target_seq=target_seq,
            automatic=actor_id is None,
            occurred_at=now,
        ),
    )
