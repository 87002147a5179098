"""The Alertmanager webhook payload (version 4) and the alert rows the API returns."""

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Alertmanager sends this for an alert that has not ended yet.
ZERO_TIME_YEAR = 1
# Real alert times lie between these. Far enough from datetime's ends (years 1 and 9999) that
# no offset or display zone can overflow; 9999-12-31T23:59:59-05:00 is past year 9999 in UTC.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    # The column's width (Alertmanager's are 16 hex digits).
    fingerprint: str = Field(default="", max_length=64)

    @field_validator("endsAt")
    @classmethod
    def _zero_is_none(cls, value: datetime | None) -> datetime | None:
        # Checked before any conversion: the zero time with a positive offset is before year 1
        # in UTC, which datetime cannot hold.
        return None if value is None or value.year <= ZERO_TIME_YEAR else value

    @field_validator("startsAt", "endsAt")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        # A time without a zone is taken as UTC, as Alertmanager means it.
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        # Comparing aware datetimes cannot overflow; converting them can.
        if not EARLIEST <= aware < LATEST:
            raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)")
        return aware.astimezone(UTC)

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
