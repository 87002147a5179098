"""`/api/incidents`: list and read incidents; declare, resolve, note, update and assign
roles through the same flows as the slash commands (work without Slack)."""

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any, Literal, TypeVar

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from sqlmodel import Session, select

from bot.deps import ApiAuth, ReadSessionDep, RegistryDep, SettingsDep
from bot.hubs import Registry
from bot.incidents import flows, service
from bot.incidents.flows import FlowError, IncidentResolved
from bot.incidents.models import Incident
from bot.incidents.schemas import (
    DeclareBody,
    IncidentDetail,
    IncidentRead,
    ResolveBody,
    RoleBody,
    TextBody,
)
from bot.pagination import Offset, link_next
from bot.postmortems.draft import write
from bot.validation import parse_body, request_body

router = APIRouter(prefix="/api/incidents", tags=["incidents"], dependencies=[ApiAuth])

# Incident numbers are 32-bit integers in PostgreSQL; a larger one is refused, not a 500.
MAX_NUMBER = 2**31 - 1
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
    request: Request,
    response: Response,
    session: ReadSessionDep,
    status: Literal["open", "resolved"] | None = None,
    hub: HubFilter = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[IncidentRead]:
    """Incidents, newest first, `limit` at a time: a `Link` header points to the next page."""
    cluster, name = split_hub(hub)
    found = service.list_incidents(
        session, status=status, cluster=cluster, hub=name, limit=limit + 1, offset=offset
    )
    if len(found) > limit:
        link_next(request, response, offset=offset, limit=limit)
    return found[:limit]


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


# -- writes: the same flows, and the same timeline, as the slash commands

# How the timeline and the logs name what did it.
SOURCE = "api"
# How many known hubs an "unknown hub" answer lists.
SHOWN_HUBS = 30


M = TypeVar("M", bound=BaseModel)


def body_of(model: type[M], *, optional: bool = False) -> Callable[[Request], Awaitable[M]]:
    """A dependency reading the JSON body as `model`: 400 if it is not JSON, 422 naming what is
    wrong (never echoing the input back); with `optional`, no body at all is `model()`."""

    async def read(request: Request) -> M:
        raw = await request.body()
        if optional and not raw.strip():
            return model()
        return parse_body(model, raw)

    return read


def get_write_session(request: Request) -> Iterator[Session]:
    """A session that may write (on SQLite it takes the write lock as its transaction begins,
    so what it reads stays true until it commits)."""
    with Session(request.app.state.engine) as session:
        yield session
    # The worker performs what the flow queued now rather than at its next poll.
    request.app.state.worker.wake()


WriteSessionDep = Annotated[Session, Depends(get_write_session)]


def _locked(session: Session, number: int) -> Incident:
    """The incident, its row locked until the flow commits (PostgreSQL: two requests at once
    are done one after the other, so an incident is resolved once); 404 if there is none."""
    incident = session.exec(
        select(Incident).where(Incident.number == number).with_for_update()
    ).first()
    if incident is None:
        raise HTTPException(404, detail=f"no incident {number}")
    return incident


def _done(session: Session, incident: Incident) -> IncidentDetail:
    session.refresh(incident)
    return service.detail(session, incident)


def _flow(do: Callable[[], object]) -> None:
    """Run a flow; a request it refuses is a 409 (the incident is resolved) or a 422."""
    try:
        do()
    except FlowError as exc:
        status = 409 if isinstance(exc, IncidentResolved) else 422
        raise HTTPException(status, detail=str(exc)) from None


def _optional(extra: dict[str, Any]) -> dict[str, Any]:
    extra["requestBody"]["required"] = False
    return extra


def _unknown_hub(registry: Registry, ref: str) -> HTTPException:
    known = sorted(f"{c.name}/{hub.name}" for c in registry.clusters.values() for hub in c.hubs)
    shown = ", ".join(known[:SHOWN_HUBS]) + (
        f" and {len(known) - SHOWN_HUBS} more" if len(known) > SHOWN_HUBS else ""
    )
    return HTTPException(
        422,
        detail=f"unknown hub {ref!r}: use `cluster/hub`, a hub name found in one cluster only, "
        f"or a cluster name; known hubs: {shown or 'none (the registry is empty)'}",
    )


@router.post(
    "", response_model=IncidentDetail, status_code=201, openapi_extra=request_body(DeclareBody)
)
def declare(
    body: Annotated[DeclareBody, Depends(body_of(DeclareBody))],
    request: Request,
    response: Response,
    registry: RegistryDep,
) -> IncidentDetail:
    """Declare an incident, as `/incident declare` does: its Slack channel is opened (if
    Slack is configured). Another open incident of the hub keeps receiving its alerts."""
    where = registry.parse_hub_ref(body.hub)
    if where is None:
        raise _unknown_hub(registry, body.hub)
    # Twice at most: a replica (or an alert) may open the hub's incident between the look and
    # the insert; the second try then finds it and declares beside it.
    for attempt in (1, 2):
        with Session(request.app.state.engine) as session:
            try:
                incident, already = _declare(session, registry, body, where)
            except sa.exc.IntegrityError:
                if attempt == 2:
                    raise HTTPException(503, detail="the hub changed meanwhile; retry") from None
                continue
            request.app.state.worker.wake()
            response.headers["Location"] = f"/api/incidents/{incident.number}"
            if already is not None:
                response.headers["X-Also-Open"] = str(already.number)
            return service.detail(session, incident)
    raise AssertionError("unreachable")


def _declare(
    session: Session, registry: Registry, body: DeclareBody, where: tuple[str, str | None]
) -> tuple[Incident, Incident | None]:
    try:
        return flows.declare_incident(
            session,
            registry,
            cluster=where[0],
            hub=where[1],
            severity=body.severity,
            title=body.title,
            actor=None,
            source=SOURCE,
        )
    except FlowError as exc:
        raise HTTPException(422, detail=str(exc)) from None


@router.post(
    "/{number}/resolve",
    response_model=IncidentDetail,
    openapi_extra=_optional(request_body(ResolveBody)),
)
def resolve(
    number: IncidentNumber,
    body: Annotated[ResolveBody, Depends(body_of(ResolveBody, optional=True))],
    session: WriteSessionDep,
) -> IncidentDetail:
    """Resolve, as `/incident resolve [summary]` does (the body may be left out); a resolved
    incident is a 409."""
    incident = _locked(session, number)
    summary = body.summary.strip()
    _flow(
        lambda: flows.resolve_incident(
            session, incident, summary=summary, actor=None, source=SOURCE
        )
    )
    return _done(session, incident)


TextDep = Annotated[TextBody, Depends(body_of(TextBody))]


@router.post("/{number}/notes", response_model=IncidentDetail, openapi_extra=request_body(TextBody))
def note(number: IncidentNumber, body: TextDep, session: WriteSessionDep) -> IncidentDetail:
    """An internal timeline note, as `/incident note` adds."""
    incident = _locked(session, number)
    _flow(lambda: flows.add_note(session, incident, text=body.text, actor=None))
    return _done(session, incident)


@router.post(
    "/{number}/updates", response_model=IncidentDetail, openapi_extra=request_body(TextBody)
)
def update(
    number: IncidentNumber, body: TextDep, session: WriteSessionDep, registry: RegistryDep
) -> IncidentDetail:
    """A partner-visible update, as `/incident update` posts: on the status page, and in the
    community's Slack channel if it has one."""
    incident = _locked(session, number)
    _flow(lambda: flows.post_update(session, registry, incident, text=body.text, actor=None))
    return _done(session, incident)


@router.post("/{number}/roles", response_model=IncidentDetail, openapi_extra=request_body(RoleBody))
def role(
    number: IncidentNumber,
    body: Annotated[RoleBody, Depends(body_of(RoleBody))],
    session: WriteSessionDep,
    registry: RegistryDep,
) -> IncidentDetail:
    """Give a role to a Slack user, as `/incident role` does (invited to the channel);
    giving it to whoever holds it already changes nothing."""
    incident = _locked(session, number)
    _flow(
        lambda: flows.assign_role(
            session, registry, incident, role=body.role, user=body.user, actor=None
        )
    )
    return _done(session, incident)
