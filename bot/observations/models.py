"""The quiet channel's messages: one row per scope (hub, cluster or unmapped) and UTC day."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.db import UTCDateTime, utcnow


class Observation(SQLModel, table=True):
    # Unique: replicas and retries share one message per scope and day.
    __table_args__ = (sa.UniqueConstraint("day", "scope"),)

    id: int | None = Field(default=None, primary_key=True)
    day: str = Field(max_length=10)  # YYYY-MM-DD (UTC) on which its alerts were first seen
    scope: str = Field(max_length=220)  # as an incident's: hub:<c>/<h>, cluster:<c>, unmapped
    cluster: str | None = Field(default=None, max_length=100)
    hub: str | None = Field(default=None, max_length=100)
    # The message as last written to Slack: a retry repeats nothing recorded here, and an
    # edit is skipped when what it shows did not change.
    slack_channel_id: str | None = Field(default=None, max_length=40)
    slack_ts: str | None = Field(default=None, max_length=40)
    # Set just before a post goes out: until its ts is stored, any job first looks in the
    # channel for a post an earlier attempt made (its answer lost), whichever job that was.
    posting_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    digest: str | None = Field(default=None, max_length=64)
    written_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    edits: int = 0
    # The incident someone declared from it (the Declare incident button).
    incident_number: int | None = Field(default=None, foreign_key="incident.number", index=True)
    declared_by: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
