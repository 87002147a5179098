"""`POST /slack/events`: slash commands, interactivity and the Events API."""

import logging
import time

from fastapi import APIRouter, HTTPException, Request, Response, Security
from fastapi.concurrency import run_in_threadpool
from slack_bolt import BoltRequest

from bot.docs import SLACK_SIGNATURE
from bot.slack import inbound

log = logging.getLogger(__name__)
router = APIRouter(tags=["slack"])

# What a slash command's form holds, so the OpenAPI schema (and fuzzing) reaches the command.
SLASH_COMMAND_FORM = {
    "type": "object",
    "properties": {
        **{
            name: {"type": "string"}
            for name in (
                "token",
                "team_id",
                "channel_id",
                "channel_name",
                "user_id",
                "user_name",
                "response_url",
                "trigger_id",
            )
        },
        "command": {"type": "string", "enum": ["/incident"]},
        "text": {
            "type": "string",
            "examples": [
                "help",
                "list",
                "declare leap/prod sev2 Dask clusters fail to start",
                "note the webhook payload looked fine",
            ],
        },
    },
    "required": ["command", "text", "user_id", "channel_id"],
}


@router.post(
    "/slack/events",
    # Describes Slack's signing for /docs; `inbound.signature_ok` checks it (this never raises).
    dependencies=[Security(SLACK_SIGNATURE)],
    responses={401: {"description": "missing, stale or wrong Slack signature"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": SLASH_COMMAND_FORM},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
async def slack_events(request: Request) -> Response:
    """Verify Slack's signature, parse the body, and hand it to the bolt app (in a thread)."""
    bolt = request.app.state.slack_bolt
    if bolt is None:
        raise HTTPException(
            401,
            detail="Slack is not configured on this server "
            "(SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET)",
        )
    # Size is enforced while reading by bot.body_limits; nothing is logged before this check.
    body = await request.body()
    secret = request.app.state.settings.slack_signing_secret.get_secret_value()
    if not inbound.signature_ok(
        body,
        request.headers.get("x-slack-request-timestamp"),
        request.headers.get("x-slack-signature"),
        secret,
        time.time(),
    ):
        raise HTTPException(401, detail="missing, stale or wrong Slack signature")
    parsed = inbound.parse_body(body, request.headers.get("content-type"))
    try:
        # bolt takes a parsed body only in "socket_mode", which differs from HTTP mode only
        # in skipping bolt's own signature check (done above) and in how lazy listeners
        # (unused here) copy the request.
        bolt_request = BoltRequest(
            body=parsed,
            query=request.url.query,
            headers=dict(request.headers.items()),
            mode="socket_mode",
        )
        answer = await run_in_threadpool(bolt.dispatch, bolt_request)
    except (KeyError, TypeError, ValueError, AttributeError):
        # bolt trips over payloads that lack keys Slack always sends; the request is signed,
        # so this is Slack (or our secret's holder) and worth a traceback.
        log.warning("malformed Slack request", exc_info=True)
        raise HTTPException(400, detail="malformed Slack request") from None
    return Response(
        status_code=answer.status,
        content=answer.body,
        headers=answer.first_headers_without_set_cookie(),
    )
