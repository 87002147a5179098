"""Incident shapes the API returns (CONTRACT.md, "Incidents") and the bodies it takes."""

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from bot.alerts.schemas import AlertRead
from bot.hubs.schema import RoleName, Severity


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


# -- request bodies of the write API (the same flows as the slash commands)


def _storable(value: str) -> str:
    # PostgreSQL cannot store NUL in text, and no encoding holds a lone surrogate (which
    # JSON's `\ud800` escapes can carry): refused here, not at commit.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (\\u0000)")
    if any("\ud800" <= c <= "\udfff" for c in value):
        raise ValueError("must not contain lone surrogates")
    return value


def _user_id(value: str) -> str:
    # As Slack writes a person: an id, or a mention of one (`<@U012AB>`, `<@U012AB|ada>`).
    found = re.fullmatch(r"<?@?([UW][A-Z0-9]{2,30})(?:\|[^>]*)?>?", value.strip())
    if not found:
        raise ValueError("must be a Slack user id, like U012ABCDEF (or a mention, <@U012ABCDEF>)")
    return found.group(1)


Text = Annotated[str, Field(max_length=4000), AfterValidator(_storable)]


class _Body(BaseModel):
    # A misspelt key is refused (422), not silently ignored.
    model_config = ConfigDict(extra="forbid")


class DeclareBody(_Body):
    hub: Annotated[
        str,
        Field(
            min_length=1,
            max_length=201,
            description="`cluster/hub`, a hub name found in one cluster only, or `cluster`",
            examples=["leap/prod"],
        ),
        AfterValidator(_storable),
    ]
    severity: Severity
    title: Annotated[Text, Field(min_length=1, max_length=200, examples=["Hub down"])]


class ResolveBody(_Body):
    summary: Annotated[Text, Field(description="what ended it, on the timeline")] = ""


class TextBody(_Body):
    text: Annotated[Text, Field(min_length=1)]


class RoleBody(_Body):
    role: RoleName
    user: Annotated[str, Field(max_length=100, examples=["U012ABCDEF"]), AfterValidator(_user_id)]
