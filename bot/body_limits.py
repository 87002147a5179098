"""Request body limits per endpoint, enforced while the body is read: before auth or parsing."""

import json
from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MB = 1024 * 1024

# Matched by path prefix, first match wins. Alertmanager puts a whole group in one delivery:
# 10 MB is thousands of alerts. A PagerDuty V3 delivery is a few KB, a Slack request (the
# largest is a modal submission) tens of KB; both are signed, so anything near these limits
# is not from them.
LIMITS: tuple[tuple[str, int], ...] = (
    ("/webhooks/alertmanager", 10 * MB),
    ("/webhooks/pagerduty", 2 * MB),
    ("/slack/", 1 * MB),
)
# The API and everything else take no body at all.
DEFAULT_LIMIT = 1 * MB


class BodyTooLarge(HTTPException):
    """The body passed its endpoint's limit while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"body larger than {limit} bytes")


def limit_for(path: str) -> int:
    """The most bytes a request body to `path` may have."""
    for prefix, limit in LIMITS:
        if path.startswith(prefix):
            return limit
    return DEFAULT_LIMIT


class BodyLimits:
    """Pure ASGI middleware: 413 on a declared or streamed body past the path's limit, 400 on
    a NUL in the path or query string; nothing past the limit is ever buffered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query or "\x00" in scope["path"]:
            # No parameter or path means a NUL, and PostgreSQL cannot even compare text
            # holding one.
            await _answer(send, 400, "paths and query strings must not contain NUL characters")
            return
        limit = limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            # Answered before a byte of the body is read; the server discards the rest.
            await _answer(send, 413, BodyTooLarge(limit).detail)
            return
        if declared is not None:
            # The server reads no more than a declared length: nothing left to watch (and the
            # hot path, every Alertmanager delivery, pays for no wrappers).
            await self.app(scope, receive, send)
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # A chunked body (or one longer than it said): stop at the limit.
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            # FastAPI answers it as an HTTPException; this is for a reader outside its handlers.
            if started:
                raise
            await _answer(send, 413, exc.detail)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # The server has already refused a malformed one; be safe anyway.
            return int(value) if value.isdigit() else None
    return None


async def _answer(send: Send, status: int, detail: str) -> None:
    await send_json(send, status, detail_json(detail))


def detail_json(detail: Any) -> bytes:
    """An error body as FastAPI writes an HTTPException's: `{"detail": ...}`, compact."""
    return json.dumps(
        {"detail": detail}, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str
    ).encode()


async def send_json(
    send: Send, status: int, body: bytes, headers: Mapping[str, str] | None = None
) -> None:
    """A whole JSON response, for the pure ASGI code that answers before FastAPI does."""
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
