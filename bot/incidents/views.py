"""`/api/incidents`: list and read incidents."""

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import PlainTextResponse

from bot.deps import ApiAuth, ReadSessionDep, RegistryDep, SettingsDep
from bot.incidents import service
from bot.incidents.schemas import IncidentDetail, IncidentRead
from bot.postmortems.draft import write

router = APIRouter(prefix="/api/incidents", tags=["incidents"], dependencies=[ApiAuth])

# Incident numbers are 32-bit integers in PostgreSQL; a larger one is refused, not a 500.
MAX_NUMBER = 2**31 - 1
# Databases take 64-bit offsets; no table here will hold 2**31 rows.
MAX_OFFSET = 2**31 - 1

HubFilter = Annotated[
    str | None,
    Query(
        # Cluster and hub names are at most 100 characters; PostgreSQL refuses NUL in text.
        pattern=r"^[^/\x00]{1,100}(/[^/\x00]{1,100})?$",
        description="`cluster/hub`, or `cluster` for all of it",
    ),
]
IncidentNumber = Annotated[int, Path(ge=1, le=MAX_NUMBER)]
# Says why POSTMORTEM_TEMPLATE was set aside for the bundled template.
TEMPLATE_ERROR = "X-Postmortem-Template-Error"


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
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
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
    number: IncidentNumber, session: ReadSessionDep, registry: RegistryDep, settings: SettingsDep
) -> PlainTextResponse:
    """The incident report, in markdown, from POSTMORTEM_TEMPLATE if it is set.

    If that template is missing or broken the report comes from the bundled one (the error is
    logged), and the `X-Postmortem-Template-Error` header says why."""
    incident = service.get(session, number=number)
    if incident is None:
        raise HTTPException(404, detail=f"no incident {number}")
    draft = write(
        session,
        registry,
        incident,
        timezone=settings.timezone,
        template=settings.postmortem_template,
    )
    headers: dict[str, str] = {}
    if draft.template_problem:
        # A header value is one line: printable ASCII only, at most 500 characters.
        problem = " ".join(draft.template_problem.split())
        headers[TEMPLATE_ERROR] = "".join(c if " " <= c <= "~" else "?" for c in problem)[:500]
    return PlainTextResponse(draft.text, media_type="text/markdown; charset=utf-8", headers=headers)


@router.get("/{number}", response_model=IncidentDetail)
def get_incident(number: IncidentNumber, session: ReadSessionDep) -> IncidentDetail:
    """One incident with its alerts and timeline."""
    incident = service.get(session, number=number)
    if incident is None:
        raise HTTPException(404, detail=f"no incident {number}")
    return service.detail(session, incident)
