"""`POST /webhooks/alertmanager` and `GET /api/alerts`."""

import time
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, Security
from sqlmodel import col, select
from starlette.datastructures import State

from bot.alerts.models import Alert
from bot.alerts.schemas import AlertmanagerPayload, AlertRead, IngestSummary
from bot.alerts.writer import StoreUnavailable
from bot.auth import check_bearer
from bot.deps import ApiAuth, ReadSessionDep
from bot.docs import ALERTMANAGER_BEARER
from bot.incidents.service import alert_read
from bot.incidents.views import HubFilter, split_hub
from bot.pagination import Offset, link_next
from bot.validation import parse_body, request_body

router = APIRouter()


@router.post(
    "/webhooks/alertmanager",
    tags=["webhooks"],
    response_model=IngestSummary,
    openapi_extra=request_body(AlertmanagerPayload),
    # Describes the token for /docs; `authenticate` checks it (this never raises).
    dependencies=[Security(ALERTMANAGER_BEARER)],
    responses={401: {"description": "missing or wrong ALERTMANAGER_TOKEN"}},
)
async def alertmanager_webhook(request: Request) -> Response:
    """Store an Alertmanager delivery (payload version 4); answers once it is committed."""
    # Served by bot.alerts.webhook ahead of FastAPI's routing; declared here for the OpenAPI
    # schema, and answering the same should a request ever reach it.
    authenticate(request.app.state, request.headers.get("authorization"))
    answer = await store_delivery(request.app.state, await request.body())
    return Response(answer, media_type="application/json")


def authenticate(state: State, authorization: str | None) -> None:
    """401 unless the `Authorization` header's value is Alertmanager's; before the body is read."""
    token = state.settings.alertmanager_token
    check_bearer(authorization, token, "Alertmanager (ALERTMANAGER_TOKEN)")


async def store_delivery(state: State, body: bytes) -> bytes:
    """Validate and store one delivery; the JSON answer, once committed.

    Raises `HTTPException` (400, 422, 503) for what the sender gets instead."""
    started = time.perf_counter()
    payload = parse_body(AlertmanagerPayload, body)
    try:
        result = await state.intake.submit(payload)
    except StoreUnavailable:
        raise HTTPException(503, detail="could not store the alerts now; retry") from None
    m = state.metrics
    firing = sum(1 for a in payload.alerts if a.status == "firing")
    if firing:
        m.alerts_firing.inc(firing)
    if firing < len(payload.alerts):
        m.alerts_resolved.inc(len(payload.alerts) - firing)
    m.alertmanager_seconds.observe(time.perf_counter() - started)
    summary = IngestSummary(
        received=result.received,
        new=result.new,
        resolved=result.resolved,
        unchanged=result.unchanged,
        incidents=sorted(result.incidents | set(result.incidents_opened)),
        incidents_opened=result.incidents_opened,
    )
    # Serialized once by pydantic, not validated again by FastAPI.
    return summary.model_dump_json().encode()


@router.get("/api/alerts", response_model=list[AlertRead], tags=["alerts"], dependencies=[ApiAuth])
def list_alerts(
    request: Request,
    response: Response,
    session: ReadSessionDep,
    status: Literal["firing", "resolved"] | None = None,
    hub: HubFilter = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    offset: Offset = 0,
) -> list[AlertRead]:
    """Every stored alert, newest first, `limit` at a time: a `Link` header points to the
    next page."""
    query = select(Alert).order_by(col(Alert.starts_at).desc(), col(Alert.id).desc())
    if status is not None:
        query = query.where(Alert.status == status)
    cluster, name = split_hub(hub)
    if cluster is not None:
        query = query.where(Alert.cluster == cluster)
    if name is not None:
        query = query.where(Alert.hub == name)
    found = [alert_read(a) for a in session.exec(query.limit(limit + 1).offset(offset))]
    if len(found) > limit:
        link_next(request, response, offset=offset, limit=limit)
    return found[:limit]
