"""The Alertmanager webhook payload (version 4) and the alert rows the API returns."""

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Alertmanager sends this for an alert that has not ended yet.
ZERO_TIME_YEAR = 1


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = Field(default="", max_length=64)

    @field_validator("startsAt", "endsAt")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        # A time without a zone is taken as UTC, as Alertmanager means it.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("endsAt")
    @classmethod
    def _zero_is_none(cls, value: datetime | None) -> datetime | None:
        return None if value is None or value.year <= ZERO_TIME_YEAR else value

    def key(self) -> str:
        """The fingerprint Alertmanager sent, or one derived the same way from the labels."""
        if self.fingerprint:
            return self.fingerprint
        # Very old Alertmanagers sent none: hash the sorted label set instead.
        raw = "\xff".join(f"{k}\xff{v}" for k, v in sorted(self.labels.items()))
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


class AlertmanagerPayload(BaseModel):
    """`webhook_configs` body, version 4; unknown newer keys are ignored."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: str
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[AlertmanagerAlert]
    # Newer Alertmanagers add these; accepted and kept for the record.
    notification_reason: str | None = None
    routeLabels: dict[str, str] | None = None

    def group_key_sha256(self) -> str:
        """What Alertmanager's PagerDuty receiver sends as the incident key of this group."""
        return hashlib.sha256(self.groupKey.encode()).hexdigest()


class AlertRead(BaseModel):
    """An alert as `/api/alerts` and `/api/incidents/{number}` return it."""

    fingerprint: str
    alertname: str
    status: str
    severity: str
    cluster: str | None
    hub: str | None
    community: str | None
    incident: int | None
    labels: dict[str, Any]
    annotations: dict[str, Any]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str


class IngestSummary(BaseModel):
    """What a webhook delivery changed: the answer to Alertmanager, useful when debugging."""

    received: int
    new: int
    resolved: int
    unchanged: int
    incidents: list[int]
    incidents_opened: list[int]
