"""Job priorities and failure windows; the Slack channel's recorded state.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db import JSONType, UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="5"))
        batch_op.add_column(sa.Column("first_failed_at", UTCDateTime(), nullable=True))
        batch_op.drop_index("ix_job_ready")
        batch_op.create_index("ix_job_ready", ["status", "priority", "run_at"], unique=False)
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slack_topic", sa.String(length=250), nullable=True))
        batch_op.add_column(sa.Column("slack_summary_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("slack_summary_at", UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("slack_summary_edits", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("slack_invited", JSONType, nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("incident", schema=None) as batch_op:
        for column in (
            "slack_invited",
            "slack_summary_edits",
            "slack_summary_at",
            "slack_summary_digest",
            "slack_topic",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index("ix_job_ready")
        batch_op.create_index("ix_job_ready", ["status", "run_at"], unique=False)
        batch_op.drop_column("first_failed_at")
        batch_op.drop_column("priority")
