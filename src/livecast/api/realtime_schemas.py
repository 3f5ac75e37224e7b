"""Request and response bodies of the chat, moderation and viewer endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from livecast.api.schemas import UserSummary
from livecast.realtime.protocol import MAX_TIMEOUT_SECONDS, ChatModesPatch

__all__ = ["ChatModesPatch"]

SessionId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$"),
    Field(description="A random id the player makes once per page load (8-64 of A-Z a-z 0-9 _ -)."),
]


class _Strict(BaseModel):
    """A request body: unknown fields are refused, and so is 1 for true or "5" for 5."""

    model_config = ConfigDict(extra="forbid", strict=True)


# -- comments -------------------------------------------------------------------------------


class ChatUser(BaseModel):
    id: uuid.UUID | None = Field(description="Null for an anonymous guest.")
    name: str
    display_name: str


class CommentOut(BaseModel):
    seq: int = Field(description="The comment's place in the stream's event log.")
    user: ChatUser
    text: str = Field(description="Plain text, never markup: escape it where you render it.")
    media_time_ms: int | None = Field(
        description="Milliseconds since the stream started; null before it started."
    )
    time: datetime
    cid: str | None


class CommentPage(BaseModel):
    items: list[CommentOut]
    next_since: int | None = Field(
        description="Pass as since= for the next page; null on the last page."
    )


class ChatModesOut(BaseModel):
    anonymous_chat: bool
    slow_mode_seconds: int
    followers_only: bool
    followers_min_age_minutes: int
    subscribers_only: bool
    emote_only: bool
    block_links: bool
    blocked_terms: list[str] | None = Field(description="Shown to moderators only.")


class PinRequest(_Strict):
    duration_seconds: Annotated[int, Field(ge=1, le=24 * 3600)] = Field(
        300, description="How long the comment stays pinned."
    )


class PinOut(BaseModel):
    comment: CommentOut
    expires_at: datetime


class HeldOut(BaseModel):
    id: uuid.UUID
    user: ChatUser
    text: str
    reason: str = Field(description="Why spam detection held it: caps or link_spam.")
    created_at: datetime


# -- moderation -----------------------------------------------------------------------------


class BanRequest(_Strict):
    duration_seconds: Annotated[int, Field(ge=1, le=MAX_TIMEOUT_SECONDS)] | None = Field(
        None, description="A timeout from 1 s to 2 weeks; leave out (or null) to ban."
    )
    reason: Annotated[str, StringConstraints(max_length=200)] = ""


class BanOut(BaseModel):
    user: UserSummary
    expires_at: datetime | None = Field(description="Null for a ban; the end of a timeout.")
    reason: str
    created_at: datetime


class AuditEntryOut(BaseModel):
    id: uuid.UUID
    stream_id: uuid.UUID | None
    action: str = Field(
        description="delete, clear, pin, unpin, timeout, ban, unban, settings, "
        "moderator_add, moderator_remove, approve, reject, or hold (by automod)."
    )
    actor: str | None = Field(description="The moderator's username; null for automod.")
    target_user_id: uuid.UUID | None
    target: str | None
    target_seq: int | None
    details: dict[str, Any]
    created_at: datetime


# -- viewers --------------------------------------------------------------------------------

DeviceType = Literal["desktop", "mobile", "tablet", "tv", "other"]
Resolution = Annotated[str, StringConstraints(pattern=r"^(\d{2,5}x\d{2,5}|\d{3,4}p)$")]


class _Beat(_Strict):
    device_type: DeviceType | None = None
    resolution: Resolution | None = Field(None, description="e.g. 1280x720 or 720p.")
    buffering_events: Annotated[int, Field(ge=0, le=10_000)] = Field(
        0, description="Rebuffering events since the previous heartbeat."
    )
    buffering_ms: Annotated[int, Field(ge=0, le=3_600_000)] = 0
    quality_changes: Annotated[int, Field(ge=0, le=10_000)] = Field(
        0, description="Rendition switches since the previous heartbeat."
    )
    errors: Annotated[int, Field(ge=0, le=10_000)] = Field(
        0, description="Playback errors since the previous heartbeat."
    )
    latency_ms: Annotated[int, Field(ge=0, le=3_600_000)] | None = Field(
        None, description="How far behind the live edge the player is now, in milliseconds."
    )


class HeartbeatRequest(_Beat):
    session_id: SessionId


class JoinRequest(_Beat):
    session_id: SessionId | None = Field(None, description="Leave out to get a new one.")


class LeaveRequest(_Strict):
    session_id: SessionId


class ViewerSessionOut(BaseModel):
    session_id: str
    viewers: int = Field(description="Concurrent viewers of the stream now.")
    heartbeat_interval_seconds: int
    timeout_seconds: float = Field(description="Silence after which the session ends.")


class ViewerSessionDetail(BaseModel):
    session_id: str
    user: UserSummary | None
    joined_at: datetime
    last_seen_at: datetime
    watch_seconds: int
    device_type: str | None
    resolution: str | None
    country: str | None
    buffering_events: int
    buffering_ms: int
    quality_changes: int


class ViewersOut(BaseModel):
    concurrent: int = Field(description="Distinct viewers now; one viewer's tabs count once.")
    peak: int
    unique: int = Field(description="Distinct viewers (users or anonymous sessions) ever: exact.")
    sessions: list[ViewerSessionDetail]
    total: int = Field(description="Active sessions in all.")
    limit: int
    offset: int
