"""Realtime engagement: the room event log, chat settings, moderation, likes, viewer sessions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _stream_fk(table: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["stream_id"], ["streams.id"], name=f"fk_{table}_stream_id_streams", ondelete=ondelete
    )


def _user_fk(table: str, column: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], name=f"fk_{table}_{column}_users", ondelete=ondelete
    )


def _utc(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "chat_settings",
        sa.Column("stream_id", sa.Uuid(), nullable=False),
        sa.Column("anonymous_chat", sa.Boolean(), nullable=False),
        sa.Column("slow_mode_seconds", sa.Integer(), nullable=False),
        sa.Column("followers_only", sa.Boolean(), nullable=False),
        sa.Column("followers_min_age_minutes", sa.Integer(), nullable=False),
        sa.Column("subscribers_only", sa.Boolean(), nullable=False),
        sa.Column("emote_only", sa.Boolean(), nullable=False),
        sa.Column("block_links", sa.Boolean(), nullable=False),
        sa.Column("blocked_terms", sa.JSON(), nullable=False),
        _utc("updated_at"),
        _stream_fk("chat_settings"),
        sa.PrimaryKeyConstraint("stream_id", name="pk_chat_settings"),
    )
    op.create_table(
        "room_state",
        sa.Column("stream_id", sa.Uuid(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("like_count", sa.BigInteger(), nullable=False),
        sa.Column("share_count", sa.BigInteger(), nullable=False),
        *(
            sa.Column(f"reaction_{kind}", sa.BigInteger(), nullable=False)
            for kind in ("like", "love", "fire", "clap", "wow")
        ),
        sa.Column("pinned_seq", sa.BigInteger(), nullable=True),
        _utc("pinned_until", nullable=True),
        sa.Column("milestone", sa.Integer(), nullable=False),
        _stream_fk("room_state"),
        sa.PrimaryKeyConstraint("stream_id", name="pk_room_state"),
    )
    op.create_table(
        "room_events",
        sa.Column("stream_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("sender", sa.String(length=80), nullable=True),
        sa.Column("cid", sa.String(length=64), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("media_time_ms", sa.BigInteger(), nullable=True),
        _utc("created_at"),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        _stream_fk("room_events"),
        _user_fk("room_events", "user_id", "SET NULL"),
        sa.PrimaryKeyConstraint("stream_id", "seq", name="pk_room_events"),
    )
    op.create_index("ix_room_events_stream_cid", "room_events", ["stream_id", "cid"])
    op.create_index(
        "ix_room_events_stream_media_time", "room_events", ["stream_id", "media_time_ms"]
    )
    op.create_table(
        "channel_moderators",
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        _utc("created_at"),
        _user_fk("channel_moderators", "channel_id", "CASCADE"),
        _user_fk("channel_moderators", "user_id", "CASCADE"),
        sa.PrimaryKeyConstraint("channel_id", "user_id", name="pk_channel_moderators"),
    )
    op.create_table(
        "chat_bans",
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        _utc("expires_at", nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        _utc("created_at"),
        _user_fk("chat_bans", "channel_id", "CASCADE"),
        _user_fk("chat_bans", "user_id", "CASCADE"),
        _user_fk("chat_bans", "created_by", "SET NULL"),
        sa.PrimaryKeyConstraint("channel_id", "user_id", name="pk_chat_bans"),
    )
    op.create_table(
        "moderation_actions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("stream_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target_user_id", sa.Uuid(), nullable=True),
        sa.Column("target_seq", sa.BigInteger(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        _utc("created_at"),
        _user_fk("moderation_actions", "channel_id", "CASCADE"),
        _stream_fk("moderation_actions", "SET NULL"),
        _user_fk("moderation_actions", "actor_id", "SET NULL"),
        _user_fk("moderation_actions", "target_user_id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_moderation_actions"),
    )
    op.create_index(
        "ix_moderation_actions_channel_created",
        "moderation_actions",
        ["channel_id", "created_at"],
    )
    op.create_table(
        "held_comments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("stream_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("sender", sa.String(length=80), nullable=False),
        sa.Column("author", sa.JSON(), nullable=False),
        sa.Column("cid", sa.String(length=64), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        _utc("created_at"),
        _stream_fk("held_comments"),
        _user_fk("held_comments", "user_id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_held_comments"),
    )
    op.create_index("ix_held_comments_stream_id", "held_comments", ["stream_id"])
    op.create_table(
        "stream_likes",
        sa.Column("stream_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        _utc("created_at"),
        _stream_fk("stream_likes"),
        _user_fk("stream_likes", "user_id", "CASCADE"),
        sa.PrimaryKeyConstraint("stream_id", "user_id", name="pk_stream_likes"),
    )
    op.create_table(
        "viewer_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("stream_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("viewer_key", sa.String(length=80), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        _utc("joined_at"),
        _utc("last_seen_at"),
        _utc("left_at", nullable=True),
        sa.Column("watch_seconds", sa.Integer(), nullable=False),
        sa.Column("device_type", sa.String(length=16), nullable=True),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("buffering_events", sa.Integer(), nullable=False),
        sa.Column("buffering_ms", sa.BigInteger(), nullable=False),
        sa.Column("quality_changes", sa.Integer(), nullable=False),
        _stream_fk("viewer_sessions"),
        _user_fk("viewer_sessions", "user_id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_viewer_sessions"),
        sa.UniqueConstraint("stream_id", "session_id", name="uq_viewer_sessions_stream_session"),
    )
    op.create_index("ix_viewer_sessions_stream_left", "viewer_sessions", ["stream_id", "left_at"])


def downgrade() -> None:
    op.drop_index("ix_viewer_sessions_stream_left", table_name="viewer_sessions")
    op.drop_table("viewer_sessions")
    op.drop_table("stream_likes")
    op.drop_index("ix_held_comments_stream_id", table_name="held_comments")
    op.drop_table("held_comments")
    op.drop_index("ix_moderation_actions_channel_created", table_name="moderation_actions")
    op.drop_table("moderation_actions")
    op.drop_table("chat_bans")
    op.drop_table("channel_moderators")
    op.drop_index("ix_room_events_stream_media_time", table_name="room_events")
    op.drop_index("ix_room_events_stream_cid", table_name="room_events")
    op.drop_table("room_events")
    op.drop_table("room_state")
    op.drop_table("chat_settings")
