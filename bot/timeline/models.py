"""Timeline events: everything that happened to an incident, for Slack, postmortems and partners."""

from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.db import UTCDateTime, utcnow

Kind = Literal[
    "alert_fired",
    "alert_resolved",
    "declared",
    "role_assigned",
    "status_changed",
    "severity_changed",
    "note",
    "update",
    "paged",
    "acknowledged",
    "escalated",
    "resolved",
    "postmortem",
]
Visibility = Literal["internal", "partner"]


class TimelineEvent(SQLModel, table=True):
    __tablename__ = "timeline_event"
    __table_args__ = (
        sa.Index("ix_timeline_incident_at", "incident_number", "at", "id"),
        # What an event came from (a Slack message, a PagerDuty log entry): recorded once.
        sa.UniqueConstraint("incident_number", "external_id", name="uq_timeline_external"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_number: int = Field(foreign_key="incident.number")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    kind: str = Field(max_length=30)
    text: str = ""
    actor: str | None = Field(default=None, max_length=100)
    visibility: str = Field(default="internal", max_length=10)
    external_id: str | None = Field(default=None, max_length=100)
