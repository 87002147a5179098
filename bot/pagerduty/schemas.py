"""PagerDuty V3 webhook payloads: the envelope strictly, the data as PagerDuty sends it."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

HANDLED = frozenset(
    {
        "incident.triggered",
        "incident.acknowledged",
        "incident.escalated",
        "incident.reassigned",
        "incident.resolved",
        "incident.annotated",
        "incident.priority_updated",
    }
)


class Reference(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = ""
    type: str = ""
    summary: str = ""
    html_url: str | None = None


# PagerDuty's ids are 7 to 14 characters; the incident id is kept in a column this wide.
MAX_INCIDENT_ID = 40


class IncidentData(BaseModel):
    """What the event handlers read of `data`, checked: strings kept in bounded columns within
    their width, references of the right shape. The dict itself is passed on whole."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(default=None, max_length=MAX_INCIDENT_ID)
    type: str | None = None
    incident_key: str | None = Field(default=None, max_length=255)
    title: str | None = None
    html_url: str | None = None
    urgency: str | None = None
    content: str | None = None
    service: Reference | None = None
    priority: Reference | None = None
    assignees: list[Reference] | None = None
    # incident.annotated: the incident the note is on.
    incident: "IncidentData | None" = None


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Kept as "pagerduty:<id>" in a 100-character column; PagerDuty's are 26-character ULIDs.
    id: str = Field(min_length=1, max_length=90)
    event_type: str = Field(min_length=1, max_length=100)
    resource_type: str = ""
    occurred_at: datetime | None = None
    agent: Reference | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("data")
    @classmethod
    def _data_fits(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            IncidentData.model_validate(value)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"{where}: {first['msg']}") from None
        return value


class PagerDutyWebhook(BaseModel):
    """The body of a V3 webhook delivery."""

    model_config = ConfigDict(extra="ignore")

    event: Event
