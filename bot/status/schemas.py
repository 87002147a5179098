"""What the status pages show, as JSON (`Accept: application/json`) and to the templates."""

from datetime import datetime

from pydantic import BaseModel


class CommunityRead(BaseModel):
    id: str
    name: str


class StatusIncidentRead(BaseModel):
    number: int
    title: str
    # investigating | identified | monitoring | resolved
    status: str
    open: bool
    severity: str
    # The severity as the registry names it for people (`severity_names`, e.g. "P1").
    severity_name: str
    cluster: str | None
    hub: str | None
    # `cluster/hub`, or `cluster (cluster-wide)`.
    place: str
    domain: str | None
    started_at: datetime
    resolved_at: datetime | None
    # `1h 4m`, or `ongoing` while open.
    duration: str
    url: str


class StatusPageRead(BaseModel):
    community: CommunityRead
    generated_at: datetime
    window_days: int
    # Open incidents first (newest first), then those resolved within the window.
    incidents: list[StatusIncidentRead]


class PartnerEventRead(BaseModel):
    id: int
    at: datetime
    kind: str
    text: str


class StatusIncidentDetail(StatusIncidentRead):
    community: CommunityRead
    # Partner-visible events only, oldest first.
    timeline: list[PartnerEventRead]
