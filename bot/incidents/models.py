"""Incident and role tables."""

from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.db import JSONType, UTCDateTime, utcnow

Status = Literal["investigating", "identified", "monitoring", "resolved"]
STATUSES: tuple[Status, ...] = ("investigating", "identified", "monitoring", "resolved")


class Incident(SQLModel, table=True):
    number: int | None = Field(default=None, primary_key=True)
    title: str
    status: str = Field(default="investigating", max_length=20)
    severity: str = Field(max_length=8)
    cluster: str | None = Field(default=None, max_length=100)
    hub: str | None = Field(default=None, max_length=100)
    community: str | None = Field(default=None, max_length=100)
    # `hub:<cluster>/<hub>`, `cluster:<cluster>` or `unmapped`: where new alerts are grouped.
    scope: str = Field(max_length=220)
    # Equal to `scope` while open, NULL once resolved: a unique index on it makes
    # "one open incident per hub" hold even when replicas race.
    open_scope: str | None = Field(default=None, max_length=220, unique=True)
    source: str = Field(default="alertmanager", max_length=20)
    # The name of the alert that opened it, if one did: its channel is named for it.
    opened_by: str | None = Field(default=None, max_length=200)
    slack_channel_id: str | None = Field(default=None, max_length=40, index=True)
    slack_channel_name: str | None = Field(default=None, max_length=80)
    # The summary message, edited in place as the incident changes.
    slack_summary_ts: str | None = Field(default=None, max_length=40)
    # What the channel shows, as last written to Slack: the topic, a digest of the summary
    # and when and how often it was edited, and who was invited. A retried job repeats
    # nothing that is recorded here, and an edit is skipped when nothing it shows changed.
    slack_topic: str | None = Field(default=None, max_length=250)
    slack_summary_digest: str | None = Field(default=None, max_length=64)
    slack_summary_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    slack_summary_edits: int = 0
    slack_invited: list[str] = Field(default_factory=list, sa_type=JSONType)
    # Why no commander was found automatically, shown in the summary until one is named.
    commander_problem: str | None = None
    # What Prometheus said when the incident opened, shown in the summary.
    prometheus_context: str | None = None
    pagerduty_incident_id: str | None = Field(default=None, max_length=40, index=True)
    # The linked PagerDuty incident's `incident_key`: for Alertmanager's own PagerDuty
    # receiver it is the sha256 of the group key, which ties the group's alerts to it.
    pagerduty_incident_key: str | None = Field(default=None, max_length=255, index=True)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The first acknowledgement (Slack's button or PagerDuty): time to acknowledge ends here.
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The pull request that adds its report to GITHUB_REPO, once opened.
    report_pr_url: str | None = Field(default=None, max_length=300)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Role(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("incident_number", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_number: int = Field(foreign_key="incident.number", index=True)
    role: str = Field(max_length=20)
    user_id: str = Field(max_length=40)
    assigned_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
