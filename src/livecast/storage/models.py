"""The relational schema, as SQLAlchemy 2 declarative models.

The schema is created and changed only by the Alembic migrations in ``storage/migrations``;
these classes describe it for queries. Types are chosen to behave the same on SQLite and
PostgreSQL: UUID primary keys, timezone-aware UTC datetimes, enums stored as short strings.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored as UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a timezone")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    display_name: Mapped[str] = mapped_column(String(64), default="")
    bio: Mapped[str] = mapped_column(Text, default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Follow(Base):
    __tablename__ = "follows"

    follower_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    followee_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_follows_followee_id", "followee_id"),)


class Stream(Base):
    __tablename__ = "streams"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(140))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    status: Mapped[str] = mapped_column(String(16), index=True)
    quality: Mapped[str] = mapped_column(String(8), default="1080p")
    video_codec: Mapped[str | None] = mapped_column(String(8), nullable=True)  # None: node's
    record: Mapped[bool] = mapped_column(Boolean, default=False)
    dvr_window: Mapped[int] = mapped_column(Integer, default=7200)
    low_latency: Mapped[bool] = mapped_column(Boolean, default=True)
    stream_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    viewer_count: Mapped[int] = mapped_column(Integer, default=0)
    peak_viewer_count: Mapped[int] = mapped_column(Integer, default=0)

    tags: Mapped[list[StreamTag]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="StreamTag.position"
    )
    owner: Mapped[User] = relationship(lazy="joined")


class StreamTag(Base):
    __tablename__ = "stream_tags"

    stream_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("streams.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_stream_tags_tag", "tag"),)


# -- realtime engagement: chat, reactions, moderation, viewers (migration 0002) ----------------


class ChatSettings(Base):
    """A stream's chat modes; a stream without a row has the defaults (everything off)."""

    __tablename__ = "chat_settings"

    stream_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("streams.id", ondelete="CASCADE"), primary_key=True
    )
    anonymous_chat: Mapped[bool] = mapped_column(Boolean, default=False)
    slow_mode_seconds: Mapped[int] = mapped_column(Integer, default=0)
    followers_only: Mapped[bool] = mapped_column(Boolean, default=False)
    followers_min_age_minutes: Mapped[int] = mapped_column(Integer, default=0)
    subscribers_only: Mapped[bool] = mapped_column(Boolean, default=False)
    emote_only: Mapped[bool] = mapped_column(Boolean, default=False)
    block_links: Mapped[bool] = mapped_column(Boolean, default=False)
    blocked_terms: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RoomState(Base):
    """Per-stream counters. ``last_seq`` is the event log's sequence allocator: every writer
    updates this row first in its transaction, which serialises appends per stream."""

    __tablename__ = "room_state"

    stream_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("streams.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    like_count: Mapped[int] = mapped_column(BigInteger, default=0)
    share_count: Mapped[int] = mapped_column(BigInteger, default=0)
    reaction_like: Mapped[int] = mapped_column(BigInteger, default=0)
    reaction_love: Mapped[int] = mapped_column(BigInteger, default=0)
    reaction_fire: Mapped[int] = mapped_column(BigInteger, default=0)
    reaction_clap: Mapped[int] = mapped_column(BigInteger, default=0)
    reaction_wow: Mapped[int] = mapped_column(BigInteger, default=0)
    pinned_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    pinned_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    milestone: Mapped[int] = mapped_column(Integer, default=0)


class RoomEvent(Base):
    """One event of a stream's room, in the order of ``seq``."""

    __tablename__ = "room_events"

    stream_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("streams.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(24))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    sender: Mapped[str | None] = mapped_column(String(80), nullable=True)
    cid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    media_time_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_room_events_stream_cid", "stream_id", "cid"),
        Index("ix_room_events_stream_media_time", "stream_id", "media_time_ms"),
    )


class ChannelModerator(Base):
    """A user the streamer (the channel) appointed to moderate all of their streams."""

    __tablename__ = "channel_moderators"

    channel_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatBan(Base):
    """A ban (``expires_at`` null) or a timeout from a channel's chat."""

    __tablename__ = "chat_bans"

    channel_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModerationAction(Base):
    """The audit log: one row per moderation action, by a person or by automod."""

    __tablename__ = "moderation_actions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    stream_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("streams.id", ondelete="SET NULL"), nullable=True
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    action: Mapped[str] = mapped_column(String(32))
    target_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    target_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_moderation_actions_channel_created", "channel_id", "created_at"),)


class HeldComment(Base):
    """A comment spam detection held for a moderator to approve or reject."""

    __tablename__ = "held_comments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    stream_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("streams.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    sender: Mapped[str] = mapped_column(String(80))
    author: Mapped[dict[str, Any]] = mapped_column(JSON)
    cid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StreamLike(Base):
    __tablename__ = "stream_likes"

    stream_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("streams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ViewerSession(Base):
    """One viewer session of a stream (a player, or a chat connection), never with an IP."""

    __tablename__ = "viewer_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    stream_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("streams.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(64))
    viewer_key: Mapped[str] = mapped_column(String(80))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    watch_seconds: Mapped[int] = mapped_column(Integer, default=0)
    device_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(16), nullable=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    buffering_events: Mapped[int] = mapped_column(Integer, default=0)
    buffering_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    quality_changes: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("stream_id", "session_id", name="uq_viewer_sessions_stream_session"),
        Index("ix_viewer_sessions_stream_left", "stream_id", "left_at"),
    )


# -- domain events and outbound webhooks (migration 0003) ------------------------------------

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
EventId = BigInteger().with_variant(Integer(), "sqlite")


class StoredEvent(Base):
    """Every domain event, as published; ``id`` orders them and resumes SSE clients."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(48))
    stream_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("streams.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    severity: Mapped[str] = mapped_column(String(8))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_events_stream_id_id", "stream_id", "id"),
        Index("ix_events_stream_occurred", "stream_id", "occurred_at"),
    )


class Webhook(Base):
    """An HTTPS (or HTTP) endpoint told about events: its owner's streams, or all (global)."""

    __tablename__ = "webhooks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    is_global: Mapped[bool] = mapped_column(Boolean, default=False)
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(128))
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One event to one webhook: pending until delivered or out of attempts."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(
        EventId, ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    event_type: Mapped[str] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook_created", "webhook_id", "created_at"),
    )


# -- analytics (migration 0004) --------------------------------------------------------------


class StreamSnapshot(Base):
    """A live stream's health and audience over one snapshot interval (every 10 s by default).

    ``taken_at`` is the interval's end, aligned to the interval, so nodes that snapshot the same
    stream agree on it and the unique constraint keeps one row.
    """

    __tablename__ = "stream_snapshots"

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    stream_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("streams.id", ondelete="CASCADE"))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    interval_seconds: Mapped[float] = mapped_column(Float)
    viewers: Mapped[int] = mapped_column(Integer)
    egress_bps: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ingest_bitrate_bps: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    frame_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    dropped_frames: Mapped[int] = mapped_column(Integer, default=0)
    keyframe_interval_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    av_sync_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    heartbeats: Mapped[int] = mapped_column(Integer, default=0)
    buffer_health: Mapped[float | None] = mapped_column(Float, nullable=True)
    rebuffer_events: Mapped[int] = mapped_column(Integer, default=0)
    latency_avg_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_p95_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    quality_score: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        UniqueConstraint("stream_id", "taken_at", name="uq_stream_snapshots_stream_taken"),
        Index("ix_stream_snapshots_taken_at", "taken_at"),
    )


class HourlySnapshot(Base):
    """Snapshots older than the retention, rolled up per stream and hour.

    ``stats`` maps each metric to ``{"sum", "count", "max"}`` over the hour's snapshots, so
    rollups merge exactly and any bucket's average or peak can be derived.
    """

    __tablename__ = "stream_snapshots_hourly"

    stream_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("streams.id", ondelete="CASCADE"), primary_key=True
    )
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    samples: Mapped[int] = mapped_column(Integer)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON)


class StreamSummary(Base):
    """The final summary of an ended stream, computed once when it ends."""

    __tablename__ = "stream_summaries"

    stream_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("streams.id", ondelete="CASCADE"), primary_key=True
    )
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
