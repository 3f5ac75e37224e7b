"""Streams as records: creation, visibility, edits, keys and the manual lifecycle."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from livecast.domain.eligibility import Eligibility, check_eligibility
from livecast.domain.stream_lifecycle import StreamAction, StreamStatus, transition
from livecast.errors import BadRequest, NotFound, PermissionDenied
from livecast.events.catalog import (
    DomainEvent,
    KeyRotated,
    StreamCancelled,
    StreamCreated,
    StreamEnded,
    StreamStarted,
    StreamUpdated,
)
from livecast.security.tokens import STREAM_KEY_PREFIX, digest, new_secret
from livecast.services.roles import STREAMING_ROLES, Role
from livecast.storage.models import Follow, Stream, StreamTag, User

PENDING_EVENTS = "livecast.pending_events"


def queue_event(db: AsyncSession | Session, event: DomainEvent) -> None:
    """Hold ``event`` on the session; it is published once the transaction commits."""
    db.info.setdefault(PENDING_EVENTS, []).append(event)


@dataclass(frozen=True, slots=True)
class StreamFilter:
    status: StreamStatus | None = None
    user_id: uuid.UUID | None = None
    category: str | None = None
    tag: str | None = None


class StreamService:
    def __init__(self, db: AsyncSession, min_followers: int) -> None:
        self.db = db
        self.min_followers = min_followers

    # -- reading --------------------------------------------------------------------------

    async def eligibility(self, user: User) -> Eligibility:
        followers = await self.db.scalar(
            select(func.count()).select_from(Follow).where(Follow.followee_id == user.id)
        )
        return check_eligibility(int(followers or 0), self.min_followers)

    async def get(self, stream_id: uuid.UUID, viewer: User | None) -> Stream:
        """The stream if ``viewer`` may see it; otherwise it does not exist for them."""
        stream = await self.db.get(Stream, stream_id)
        if stream is None or not await self._visible(stream, viewer):
            raise NotFound("No stream with that id.")
        return stream

    async def get_owned(self, stream_id: uuid.UUID, actor: User) -> Stream:
        """The stream if ``actor`` may change it: 404 when hidden from them, 403 when not theirs."""
        stream = await self.get(stream_id, actor)
        if stream.user_id != actor.id and actor.role != Role.ADMIN:
            raise PermissionDenied("Only the stream's owner or an admin can change it.")
        return stream

    async def by_key(self, stream_key: str) -> Stream | None:
        return await self.db.scalar(
            select(Stream).where(Stream.stream_key_hash == digest(stream_key))
        )

    async def find(
        self, filters: StreamFilter, viewer: User | None, limit: int, offset: int
    ) -> tuple[list[Stream], int]:
        conditions = [self._visibility_clause(viewer)]
        if filters.status is not None:
            conditions.append(Stream.status == str(filters.status))
        if filters.user_id is not None:
            conditions.append(Stream.user_id == filters.user_id)
        if filters.category is not None:
            conditions.append(Stream.category == filters.category)
        if filters.tag is not None:
            conditions.append(
                exists().where(
                    StreamTag.stream_id == Stream.id, StreamTag.tag == filters.tag.lower()
                )
            )
        total = await self.db.scalar(select(func.count()).select_from(Stream).where(*conditions))
        rows = await self.db.scalars(
            select(Stream)
            .where(*conditions)
            .order_by(Stream.created_at.desc(), Stream.id)
            .limit(limit)
            .offset(offset)
        )
        return list(rows), int(total or 0)

    def _visibility_clause(self, viewer: User | None) -> ColumnElement[bool]:
        if viewer is not None and viewer.role == Role.ADMIN:
            return true()
        clause = Stream.visibility == "public"
        if viewer is not None:
            follows_owner = exists().where(
                Follow.follower_id == viewer.id, Follow.followee_id == Stream.user_id
            )
            clause = (
                clause
                | (Stream.user_id == viewer.id)
                | ((Stream.visibility == "followers") & follows_owner)
            )
        return clause

    async def _visible(self, stream: Stream, viewer: User | None) -> bool:
        if stream.visibility == "public":
            return True
        if viewer is None:
            return False
        if viewer.id == stream.user_id or viewer.role == Role.ADMIN:
            return True
        if stream.visibility == "followers":
            return await self.db.get(Follow, (viewer.id, stream.user_id)) is not None
        return False

    # -- writing --------------------------------------------------------------------------

    async def create(self, owner: User, fields: dict[str, Any]) -> tuple[Stream, str]:
        if owner.role not in STREAMING_ROLES:
            raise PermissionDenied(
                f"Your role ({owner.role}) cannot create streams; "
                "ask an admin for the streamer role."
            )
        await self._require_eligible(owner)
        scheduled_at = fields.pop("scheduled_at", None)
        tags = fields.pop("tags", None) or []
        key = new_secret(STREAM_KEY_PREFIX)
        stream = Stream(
            user_id=owner.id,
            stream_key_hash=digest(key),
            status=str(StreamStatus.IDLE),
            owner=owner,
            **fields,
        )
        self._set_schedule(stream, scheduled_at)
        self._set_tags(stream, tags)
        self.db.add(stream)
        await self.db.flush()
        queue_event(
            self.db, StreamCreated(stream_id=stream.id, user_id=owner.id, title=stream.title)
        )
        return stream, key

    async def update(self, stream: Stream, changes: dict[str, Any]) -> Stream:
        if "scheduled_at" in changes:
            self._set_schedule(stream, changes.pop("scheduled_at"))
        if "tags" in changes:
            self._set_tags(stream, changes.pop("tags") or [])
        for name, value in changes.items():
            setattr(stream, name, value)
        await self.db.flush()
        queue_event(
            self.db,
            StreamUpdated(
                stream_id=stream.id, user_id=stream.user_id, fields=tuple(sorted(changes))
            ),
        )
        return stream

    async def start(self, stream: Stream) -> Stream:
        self._apply(stream, StreamAction.START)
        await self._require_eligible(stream.owner)
        stream.started_at = datetime.now(UTC)
        await self.db.flush()
        queue_event(self.db, StreamStarted(stream_id=stream.id, user_id=stream.user_id))
        return stream

    async def end(self, stream: Stream) -> Stream:
        self._apply(stream, StreamAction.END)
        stream.ended_at = datetime.now(UTC)
        await self.db.flush()
        queue_event(self.db, StreamEnded(stream_id=stream.id, user_id=stream.user_id))
        return stream

    async def cancel(self, stream: Stream) -> Stream:
        self._apply(stream, StreamAction.CANCEL)
        await self.db.flush()
        queue_event(self.db, StreamCancelled(stream_id=stream.id, user_id=stream.user_id))
        return stream

    async def rotate_key(self, stream: Stream) -> str:
        if StreamStatus(stream.status) in (StreamStatus.ENDED, StreamStatus.CANCELLED):
            raise BadRequest(f"The stream is {stream.status}; its key can no longer be used.")
        key = new_secret(STREAM_KEY_PREFIX)
        stream.stream_key_hash = digest(key)
        stream.key_rotated_at = datetime.now(UTC)
        await self.db.flush()
        queue_event(self.db, KeyRotated(stream_id=stream.id, user_id=stream.user_id))
        return key

    # -- helpers --------------------------------------------------------------------------

    def _apply(self, stream: Stream, action: StreamAction) -> None:
        stream.status = str(transition(StreamStatus(stream.status), action))

    async def _require_eligible(self, user: User) -> None:
        verdict = await self.eligibility(user)
        if not verdict.eligible:
            raise PermissionDenied(verdict.reason or "You are not eligible to go live.")

    def _set_schedule(self, stream: Stream, scheduled_at: datetime | None) -> None:
        if scheduled_at is not None and scheduled_at <= datetime.now(UTC):
            raise BadRequest("scheduled_at must be in the future.")
        current = StreamStatus(stream.status)
        if scheduled_at is None:
            if current is StreamStatus.SCHEDULED:
                self._apply(stream, StreamAction.UNSCHEDULE)
        else:
            self._apply(stream, StreamAction.SCHEDULE)
        stream.scheduled_at = scheduled_at

    def _set_tags(self, stream: Stream, tags: list[str]) -> None:
        # Keep the rows of tags that stay: deleting and re-adding the same primary key in one
        # flush would conflict in the unit of work.
        existing = {row.tag: row for row in stream.tags}
        rows = []
        for position, tag in enumerate(dict.fromkeys(tag.lower() for tag in tags)):
            row = existing.get(tag) or StreamTag(tag=tag)
            row.position = position
            rows.append(row)
        stream.tags = rows
