"""The quiet channel's messages; the alert an incident was opened by.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "observation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("scope", sa.String(length=220), nullable=False),
        sa.Column("cluster", sa.String(length=100), nullable=True),
        sa.Column("hub", sa.String(length=100), nullable=True),
        sa.Column("slack_channel_id", sa.String(length=40), nullable=True),
        sa.Column("slack_ts", sa.String(length=40), nullable=True),
        sa.Column("posting_since", UTCDateTime(), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("written_at", UTCDateTime(), nullable=True),
        sa.Column("edits", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("incident_number", sa.Integer(), nullable=True),
        sa.Column("declared_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["incident_number"], ["incident.number"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("day", "scope"),
    )
    op.create_index(
        "ix_observation_incident_number", "observation", ["incident_number"], unique=False
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alert_place_received", ["cluster", "hub", "received_at"], unique=False
        )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opened_by", sa.String(length=200), nullable=True))
    # Incidents opened before this: the alert stored in the batch that opened them.
    op.execute(
        """
        UPDATE incident SET opened_by = (
            SELECT alert.alertname FROM alert
            WHERE alert.incident_number = incident.number
              AND alert.received_at = incident.started_at
              AND alert.alertname <> ''
            ORDER BY alert.id LIMIT 1
        )
        WHERE source = 'alertmanager'
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_column("opened_by")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_place_received")
    op.drop_index("ix_observation_incident_number", table_name="observation")
    op.drop_table("observation")
