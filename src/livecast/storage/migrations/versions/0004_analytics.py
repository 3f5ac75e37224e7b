"""Analytics: snapshots, their hourly rollups, and final stream summaries.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _utc(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _stream_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["stream_id"], ["streams.id"], name=f"fk_{table}_stream_id_streams", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "stream_snapshots",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.Uuid(), nullable=False),
        _utc("taken_at"),
        sa.Column("interval_seconds", sa.Float(), nullable=False),
        sa.Column("viewers", sa.Integer(), nullable=False),
        sa.Column("egress_bps", sa.BigInteger(), nullable=True),
        sa.Column("ingest_bitrate_bps", sa.BigInteger(), nullable=True),
        sa.Column("frame_rate", sa.Float(), nullable=True),
        sa.Column("dropped_frames", sa.Integer(), nullable=False),
        sa.Column("keyframe_interval_ms", sa.Integer(), nullable=True),
        sa.Column("av_sync_ms", sa.Integer(), nullable=True),
        sa.Column("heartbeats", sa.Integer(), nullable=False),
        sa.Column("buffer_health", sa.Float(), nullable=True),
        sa.Column("rebuffer_events", sa.Integer(), nullable=False),
        sa.Column("latency_avg_ms", sa.Float(), nullable=True),
        sa.Column("latency_p95_ms", sa.Float(), nullable=True),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("quality_score", sa.Float(), nullable=False),
        _stream_fk("stream_snapshots"),
        sa.PrimaryKeyConstraint("id", name="pk_stream_snapshots"),
        sa.UniqueConstraint("stream_id", "taken_at", name="uq_stream_snapshots_stream_taken"),
    )
    op.create_index("ix_stream_snapshots_taken_at", "stream_snapshots", ["taken_at"])
    op.create_table(
        "stream_snapshots_hourly",
        sa.Column("stream_id", sa.Uuid(), nullable=False),
        _utc("hour"),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        _stream_fk("stream_snapshots_hourly"),
        sa.PrimaryKeyConstraint("stream_id", "hour", name="pk_stream_snapshots_hourly"),
    )
    op.create_table(
        "stream_summaries",
        sa.Column("stream_id", sa.Uuid(), nullable=False),
        _utc("computed_at"),
        sa.Column("summary", sa.JSON(), nullable=False),
        _stream_fk("stream_summaries"),
        sa.PrimaryKeyConstraint("stream_id", name="pk_stream_summaries"),
    )


def downgrade() -> None:
    op.drop_table("stream_summaries")
    op.drop_table("stream_snapshots_hourly")
    op.drop_index("ix_stream_snapshots_taken_at", table_name="stream_snapshots")
    op.drop_table("stream_snapshots")
