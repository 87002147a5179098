"""Initial schema: incidents, roles, alerts, timeline events and jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 20:52:53.326438
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bot.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident",
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("cluster", sa.String(length=100), nullable=True),
        sa.Column("hub", sa.String(length=100), nullable=True),
        sa.Column("community", sa.String(length=100), nullable=True),
        sa.Column("scope", sa.String(length=220), nullable=False),
        sa.Column("open_scope", sa.String(length=220), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("slack_channel_id", sa.String(length=40), nullable=True),
        sa.Column("slack_channel_name", sa.String(length=80), nullable=True),
        sa.Column("pagerduty_incident_id", sa.String(length=40), nullable=True),
        sa.Column("started_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("number"),
        sa.UniqueConstraint("open_scope"),
    )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_pagerduty_incident_id"), ["pagerduty_incident_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_incident_slack_channel_id"), ["slack_channel_id"], unique=False
        )

    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("queue_key", sa.String(length=100), nullable=True),
        sa.Column("dedup_key", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(length=100), nullable=True),
        sa.Column("locked_until", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("created_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedup_key"),
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index("ix_job_queue", ["queue_key", "status", "id"], unique=False)
        batch_op.create_index("ix_job_ready", ["status", "run_at"], unique=False)

    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("alertname", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("cluster", sa.String(length=100), nullable=True),
        sa.Column("hub", sa.String(length=100), nullable=True),
        sa.Column("community", sa.String(length=100), nullable=True),
        sa.Column("incident_number", sa.Integer(), nullable=True),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "annotations",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("starts_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("generator_url", sa.String(), nullable=False),
        sa.Column("group_key_sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_number"],
            ["incident.number"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fingerprint", "starts_at"),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_group_key_sha256"), ["group_key_sha256"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_alert_incident_number"), ["incident_number"], unique=False
        )
        batch_op.create_index("ix_alert_starts", ["starts_at", "id"], unique=False)

    op.create_table(
        "role",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_number", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("assigned_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_number"],
            ["incident.number"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_number", "role"),
    )
    with op.batch_alter_table("role", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_role_incident_number"), ["incident_number"], unique=False
        )

    op.create_table(
        "timeline_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_number", sa.Integer(), nullable=False),
        sa.Column("at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("visibility", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_number"],
            ["incident.number"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("timeline_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_timeline_incident_at", ["incident_number", "at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("timeline_event", schema=None) as batch_op:
        batch_op.drop_index("ix_timeline_incident_at")

    op.drop_table("timeline_event")
    with op.batch_alter_table("role", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_role_incident_number"))

    op.drop_table("role")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_starts")
        batch_op.drop_index(batch_op.f("ix_alert_incident_number"))
        batch_op.drop_index(batch_op.f("ix_alert_group_key_sha256"))

    op.drop_table("alert")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index("ix_job_ready")
        batch_op.drop_index("ix_job_queue")

    op.drop_table("job")
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_slack_channel_id"))
        batch_op.drop_index(batch_op.f("ix_incident_pagerduty_incident_id"))

    op.drop_table("incident")
