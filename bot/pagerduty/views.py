"""`POST /webhooks/pagerduty`: V3 webhooks, verified, recorded once and queued."""

import hashlib
import hmac
import time

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine

from bot.inbound import first_time
from bot.jobs.queue import enqueue
from bot.pagerduty.schemas import HANDLED, PagerDutyWebhook
from bot.validation import parse_body

router = APIRouter(tags=["webhooks"])

MAX_BODY = 2 * 1024 * 1024


def signature_ok(body: bytes, header: str | None, secret: str) -> bool:
    """Whether any `v1=<hex>` in the header is HMAC-SHA256(secret, body)."""
    if not secret or not header:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    found = False
    for part in header.split(","):
        version, _, digest = part.strip().partition("=")
        # Compare every candidate, so timing says nothing about which one matched.
        if version == "v1" and hmac.compare_digest(digest.strip().lower(), expected):
            found = True
    return found


@router.post("/webhooks/pagerduty", status_code=202)
async def pagerduty_webhook(request: Request) -> dict[str, str]:
    """Accept a PagerDuty V3 webhook; the work is done by the worker, within seconds."""
    started = time.perf_counter()
    state = request.app.state
    body = await request.body()
    secret = state.settings.pagerduty_webhook_secret.get_secret_value()
    if not signature_ok(body, request.headers.get("x-pagerduty-signature"), secret):
        raise HTTPException(
            401,
            detail="PagerDuty webhooks are not configured on this server"
            if not secret
            else "missing or wrong X-PagerDuty-Signature",
        )
    if len(body) > MAX_BODY:
        raise HTTPException(413, detail="body too large")
    webhook = parse_body(PagerDutyWebhook, body)
    if webhook.event.event_type not in HANDLED:
        return {"status": "ignored", "event_type": webhook.event.event_type}
    fresh = await run_in_threadpool(_record, state.engine, webhook)
    if fresh:
        state.worker.wake()
    state.metrics.webhook_seconds.labels("pagerduty").observe(time.perf_counter() - started)
    return {"status": "accepted" if fresh else "duplicate"}


def _record(engine: Engine, webhook: PagerDutyWebhook) -> bool:
    with engine.begin() as conn:
        if not first_time(conn, "pagerduty", webhook.event.id):
            return False
        # One PagerDuty incident's events are handled in order.
        pd_id = _incident_id(webhook.event.data)
        enqueue(
            conn,
            "pagerduty.event",
            webhook.model_dump(mode="json"),
            queue_key=f"pagerduty:{pd_id}" if pd_id else None,
        )
    return True


def _incident_id(data: dict[str, object]) -> str | None:
    incident = data.get("incident")
    if isinstance(incident, dict) and incident.get("id"):
        return str(incident["id"])
    return str(data["id"]) if data.get("type") == "incident" and data.get("id") else None
