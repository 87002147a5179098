"""`POST /webhooks/pagerduty`: V3 webhooks, verified, recorded once and queued."""

import hashlib
import hmac
import time

from fastapi import APIRouter, HTTPException, Request, Security
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine

from bot.docs import PAGERDUTY_SIGNATURE
from bot.inbound import first_time
from bot.incidents import effects
from bot.jobs.queue import enqueue
from bot.pagerduty.schemas import HANDLED, PagerDutyWebhook
from bot.validation import parse_body, request_body

router = APIRouter(tags=["webhooks"])


def signature_ok(body: bytes, header: str | None, secret: str) -> bool:
    """Whether any `v1=<hex>` in the header is HMAC-SHA256(secret, body)."""
    if not secret or not header:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    found = False
    for part in header.split(","):
        version, _, digest = part.strip().partition("=")
        # Compare every candidate, so timing says nothing about which one matched; as bytes,
        # since compare_digest raises on non-ASCII text (header values arrive as latin-1).
        candidate = digest.strip().lower().encode("latin-1", "replace")
        if version == "v1" and hmac.compare_digest(candidate, expected):
            found = True
    return found


@router.post(
    "/webhooks/pagerduty",
    status_code=202,
    openapi_extra=request_body(PagerDutyWebhook),
    # Describes the signature for /docs; `signature_ok` checks it (this never raises).
    dependencies=[Security(PAGERDUTY_SIGNATURE)],
    responses={401: {"description": "missing or wrong X-PagerDuty-Signature"}},
)
async def pagerduty_webhook(request: Request) -> dict[str, str]:
    """Accept a PagerDuty V3 webhook; the work is done by the worker, within seconds."""
    started = time.perf_counter()
    state = request.app.state
    # Size is enforced while reading, by bot.body_limits, before the signature is checked.
    body = await request.body()
    secret = state.settings.pagerduty_webhook_secret.get_secret_value()
    if not signature_ok(body, request.headers.get("x-pagerduty-signature"), secret):
        raise HTTPException(
            401,
            detail="PagerDuty webhooks are not configured on this server"
            if not secret
            else "missing or wrong X-PagerDuty-Signature",
        )
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
        enqueue(
            conn,
            effects.PAGERDUTY_EVENT,
            effects.PagerDutyEvent(event=webhook.model_dump(mode="json")["event"]),
        )
    return True
