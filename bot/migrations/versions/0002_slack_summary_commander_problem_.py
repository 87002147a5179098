"""Slack summary message, why no commander was found, timeline external ids.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 21:49:53.086506
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slack_summary_ts", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("commander_problem", sa.String(), nullable=True))

    with op.batch_alter_table("timeline_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=100), nullable=True))
        batch_op.create_unique_constraint(
            "uq_timeline_external", ["incident_number", "external_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("timeline_event", schema=None) as batch_op:
        batch_op.drop_constraint("uq_timeline_external", type_="unique")
        batch_op.drop_column("external_id")

    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_column("commander_problem")
        batch_op.drop_column("slack_summary_ts")
