"""PagerDuty V3 webhook payloads: the envelope strictly, the data as PagerDuty sends it."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=200)
    event_type: str = Field(min_length=1, max_length=100)
    resource_type: str = ""
    occurred_at: datetime | None = None
    agent: Reference | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class PagerDutyWebhook(BaseModel):
    """The body of a V3 webhook delivery."""

    model_config = ConfigDict(extra="ignore")

    event: Event
