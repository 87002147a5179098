"""`POST /webhooks/alertmanager` and `GET /api/alerts`."""

import time
from collections import Counter
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from sqlmodel import col, select

from bot.alerts.models import Alert
from bot.alerts.schemas import AlertmanagerPayload, AlertRead, IngestSummary
from bot.alerts.writer import StoreUnavailable
from bot.auth import require_bearer
from bot.deps import ApiAuth, ReadSessionDep
from bot.incidents.service import alert_read
from bot.incidents.views import MAX_OFFSET, HubFilter, split_hub
from bot.validation import parse_body, request_body

router = APIRouter()


@router.post(
    "/webhooks/alertmanager", tags=["webhooks"], openapi_extra=request_body(AlertmanagerPayload)
)
async def alertmanager_webhook(request: Request) -> IngestSummary:
    """Store an Alertmanager delivery (payload version 4); answers once it is committed."""
    started = time.perf_counter()
    state = request.app.state
    require_bearer(request, state.settings.alertmanager_token, "Alertmanager (ALERTMANAGER_TOKEN)")
    # Its size is enforced while it is read, by bot.body_limits.
    body = await request.body()
    payload = parse_body(AlertmanagerPayload, body)
    try:
        result = await state.intake.submit(payload)
    except StoreUnavailable:
        raise HTTPException(503, detail="could not store the alerts now; retry") from None
    m = state.metrics
    for status, n in Counter(a.status for a in payload.alerts).items():
        m.alerts_received.labels(status).inc(n)
    m.webhook_seconds.labels("alertmanager").observe(time.perf_counter() - started)
    return IngestSummary(
        received=result.received,
        new=result.new,
        resolved=result.resolved,
        unchanged=result.unchanged,
        incidents=sorted(result.incidents | set(result.incidents_opened)),
        incidents_opened=result.incidents_opened,
    )


@router.get("/api/alerts", response_model=list[AlertRead], tags=["alerts"], dependencies=[ApiAuth])
def list_alerts(
    session: ReadSessionDep,
    status: Literal["firing", "resolved"] | None = None,
    hub: HubFilter = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[AlertRead]:
    """Every stored alert, newest first."""
    query = select(Alert).order_by(col(Alert.starts_at).desc(), col(Alert.id).desc())
    if status is not None:
        query = query.where(Alert.status == status)
    cluster, name = split_hub(hub)
    if cluster is not None:
        query = query.where(Alert.cluster == cluster)
    if name is not None:
        query = query.where(Alert.hub == name)
    return [alert_read(a) for a in session.exec(query.limit(limit).offset(offset))]
