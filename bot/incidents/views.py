"""`/api/incidents`: list and read incidents."""

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import PlainTextResponse

from bot.deps import ApiAuth, ReadSessionDep, RegistryDep, SettingsDep
from bot.incidents import service
from bot.incidents.schemas import IncidentDetail, IncidentRead
from bot.postmortems.draft import render

router = APIRouter(prefix="/api/incidents", tags=["incidents"], dependencies=[ApiAuth])

HubFilter = Annotated[
    str | None,
    Query(pattern=r"^[^/]+(/[^/]+)?$", description="`cluster/hub`, or `cluster` for all of it"),
]


def split_hub(hub: str | None) -> tuple[str | None, str | None]:
    """`cluster/hub` -> (cluster, hub); `cluster` -> (cluster, None)."""
    if hub is None:
        return None, None
    cluster, _, name = hub.partition("/")
    return cluster, name or None


@router.get("", response_model=list[IncidentRead])
def list_incidents(
    session: ReadSessionDep,
    status: Literal["open", "resolved"] | None = None,
    hub: HubFilter = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[IncidentRead]:
    """Incidents, newest first."""
    cluster, name = split_hub(hub)
    return service.list_incidents(
        session, status=status, cluster=cluster, hub=name, limit=limit, offset=offset
    )


@router.get(
    "/{number}/postmortem",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/markdown": {}}}},
)
def get_postmortem(
    number: int, session: ReadSessionDep, registry: RegistryDep, settings: SettingsDep
) -> PlainTextResponse:
    """The postmortem draft, in markdown."""
    incident = service.get(session, number=number)
    if incident is None:
        raise HTTPException(404, detail=f"no incident {number}")
    draft = render(session, registry, incident, timezone=settings.timezone)
    return PlainTextResponse(draft, media_type="text/markdown; charset=utf-8")


@router.get("/{number}", response_model=IncidentDetail)
def get_incident(number: int, session: ReadSessionDep) -> IncidentDetail:
    """One incident with its alerts and timeline."""
    incident = service.get(session, number=number)
    if incident is None:
        raise HTTPException(404, detail=f"no incident {number}")
    return service.detail(session, incident)
