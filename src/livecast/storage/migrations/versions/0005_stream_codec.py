"""A stream's own video codec for its ladder (null: the node's default).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("streams", sa.Column("video_codec", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("streams") as batch:
        batch.drop_column("video_codec")
