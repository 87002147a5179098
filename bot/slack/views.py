"""`POST /slack/events`: slash commands, interactivity and the Events API."""

import logging

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from slack_bolt import BoltRequest

log = logging.getLogger(__name__)
router = APIRouter(tags=["slack"])

MAX_BODY = 1024 * 1024


@router.post("/slack/events")
async def slack_events(request: Request) -> Response:
    """Hand a signed Slack request to the bolt app (off the event loop: it is synchronous)."""
    bolt = request.app.state.slack_bolt
    if bolt is None:
        raise HTTPException(
            401,
            detail="Slack is not configured on this server "
            "(SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET)",
        )
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(413, detail="body too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, detail="body is not UTF-8") from None
    try:
        bolt_request = BoltRequest(
            body=text, query=request.url.query, headers=dict(request.headers.items())
        )
        answer = await run_in_threadpool(bolt.dispatch, bolt_request)
    except (KeyError, TypeError, ValueError, AttributeError):
        # bolt trips over payloads that lack keys Slack always sends.
        log.warning("malformed Slack request", exc_info=True)
        raise HTTPException(400, detail="malformed Slack request") from None
    return Response(
        status_code=answer.status,
        content=answer.body,
        headers=answer.first_headers_without_set_cookie(),
    )
