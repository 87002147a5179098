"""The linked PagerDuty incident key, and inbound webhook events already seen.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 22:05:10.862724
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("received_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "external_id"),
    )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pagerduty_incident_key", sa.String(length=255), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_incident_pagerduty_incident_key"),
            ["pagerduty_incident_key"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_pagerduty_incident_key"))
        batch_op.drop_column("pagerduty_incident_key")

    op.drop_table("inbound_event")
