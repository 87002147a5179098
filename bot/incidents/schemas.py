"""Incident shapes the API returns (CONTRACT.md, "Incidents")."""

from datetime import datetime

from pydantic import BaseModel

from bot.alerts.schemas import AlertRead


class TimelineEventRead(BaseModel):
    at: datetime
    kind: str
    text: str
    actor: str | None
    visibility: str


class IncidentRead(BaseModel):
    number: int
    title: str
    status: str
    severity: str
    cluster: str | None
    hub: str | None
    community: str | None
    slack_channel_id: str | None
    slack_channel_name: str | None
    pagerduty_incident_id: str | None
    roles: dict[str, str]
    started_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    # From opening to the first acknowledgement, and to resolving (MTTA and MTTR's parts).
    time_to_acknowledge_seconds: float | None
    time_to_resolve_seconds: float | None
    report_pr_url: str | None


class IncidentDetail(IncidentRead):
    alerts: list[AlertRead]
    timeline: list[TimelineEventRead]
