"""The Alertmanager webhook as a plain ASGI app, answered ahead of FastAPI's middleware and routing.

Every delivery of an alert storm comes this way, and for a 1-alert delivery FastAPI's layers
(exception handling, routing, dependency solving, request objects) cost more CPU than
validating and storing it (`python bench/ingest.py --py-spy FILE`). Only
`POST /webhooks/alertmanager` comes here (bot.app dispatches it); the route in
bot/alerts/views.py declares it in the OpenAPI schema and answers the same way, through the
same `store_delivery`.
"""

from fastapi import HTTPException
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.alerts.views import authenticate, store_delivery
from bot.body_limits import BodyLimits, detail_json, send_json

PATH = "/webhooks/alertmanager"


def is_delivery(scope: Scope) -> bool:
    """Whether a request is for this endpoint."""
    return bool(scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST")


def alertmanager_endpoint(state: State) -> ASGIApp:
    """The ASGI app answering `POST /webhooks/alertmanager`, its body limited while read."""
    return BodyLimits(AlertmanagerEndpoint(state))


class AlertmanagerEndpoint:
    """Answers a delivery: 200 with an `IngestSummary` once stored, or the error's status."""

    def __init__(self, state: State) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        try:
            # Before a byte of the body is read: the server discards what nobody reads.
            authenticate(self.state, authorization)
            chunks = []
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the sender gave up before its body arrived: nothing was stored
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            body = await store_delivery(self.state, b"".join(chunks))
        except HTTPException as exc:
            await send_json(send, exc.status_code, detail_json(exc.detail), exc.headers)
            return
        await send_json(send, 200, body)
