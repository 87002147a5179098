"""Follow-up issues; when an incident was first acknowledged; its report's pull request.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "followup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_number", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("repo", sa.String(length=200), nullable=False),
        sa.Column("issue_number", sa.Integer(), nullable=True),
        sa.Column("issue_url", sa.String(length=300), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["incident_number"], ["incident.number"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_followup_incident_number", "followup", ["incident_number"], unique=False)
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.add_column(sa.Column("acknowledged_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("report_pr_url", sa.String(length=300), nullable=True))
    # Incidents acknowledged before this: their first `acknowledged` timeline entry.
    op.execute(
        """
        UPDATE incident SET acknowledged_at = (
            SELECT min(timeline_event.at) FROM timeline_event
            WHERE timeline_event.incident_number = incident.number
              AND timeline_event.kind = 'acknowledged'
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_column("report_pr_url")
        batch_op.drop_column("acknowledged_at")
    op.drop_index("ix_followup_incident_number", table_name="followup")
    op.drop_table("followup")
