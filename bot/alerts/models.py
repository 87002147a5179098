"""The alert table: one row per firing of an alert (fingerprint and start time)."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.db import JSONType, UTCDateTime, utcnow


class Alert(SQLModel, table=True):
    # Alertmanager keeps `startsAt` for as long as an alert fires, so (fingerprint, startsAt)
    # names one firing: a repeated delivery updates it, a later re-firing is a new row.
    __table_args__ = (
        sa.UniqueConstraint("fingerprint", "starts_at"),
        sa.Index("ix_alert_starts", "starts_at", "id"),
        # A hub's alerts of one day, for its message in the quiet channel.
        sa.Index("ix_alert_place_received", "cluster", "hub", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(max_length=64)
    alertname: str = Field(default="", max_length=200)
    status: str = Field(max_length=10)
    severity: str = Field(max_length=8)
    cluster: str | None = Field(default=None, max_length=100)
    hub: str | None = Field(default=None, max_length=100)
    community: str | None = Field(default=None, max_length=100)
    incident_number: int | None = Field(default=None, foreign_key="incident.number", index=True)
    labels: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    annotations: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    generator_url: str = Field(default="")
    # sha256 of Alertmanager's groupKey: what its PagerDuty receiver sends as `incident_key`.
    group_key_sha256: str = Field(default="", max_length=64, index=True)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
