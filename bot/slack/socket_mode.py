"""Slack over Socket Mode: with SLACK_APP_TOKEN the bot dials out to Slack over a WebSocket, so
`/slack/events` need not be reachable from the internet.

slack-bolt's built-in handler (no dependency beyond slack_sdk) does the protocol: it asks
`apps.connections.open` for a WebSocket URL with the app-level token, hands each envelope to
the same bolt app that `/slack/events` uses, and sends back the acknowledgement with what the
listener answered (a slash command's ephemeral reply rides in it). What it does not do is
survive a Slack that is away at start-up: its `connect()` raises, and nothing retries. The
connection is therefore made here, in a thread, retried with backoff until it holds; after that
the handler's own monitor reconnects. Its narration of every attempt is kept to one line per
outage.
"""

import json
import logging
import random
import threading
import time
from typing import Any

from fastapi import HTTPException
from slack_bolt import App
from slack_bolt.adapter.socket_mode.builtin import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.slack import inbound

log = logging.getLogger(__name__)
# The handler's own logger: it logs each reconnect attempt, and each failure at ERROR.
_sdk_log = logging.getLogger("bot.slack.socket_mode.sdk")

# Slack's errors when the token is not an app-level token with `connections:write`.
_TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "not_allowed_token_type", "missing_scope"})


class SocketMode:
    """The bolt app's Socket Mode connection, made in the background and kept up."""

    def __init__(
        self,
        bolt: App,
        app_token: str,
        *,
        first_retry: float = 1.0,
        max_retry: float = 60.0,
        ping_interval: float = 10.0,
    ) -> None:
        self.bolt = bolt
        self.first_retry = first_retry
        self.max_retry = max_retry
        self.ping_interval = ping_interval
        self._app_token = app_token
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._handler: _Handler | None = None
        self._quiet = _OncePerOutage()

    @property
    def connected(self) -> bool:
        """Whether a WebSocket to Slack is open right now."""
        return self._handler is not None and self._handler.client.is_connected()

    def start(self) -> None:
        """Connect in a background thread; returns at once, whether Slack answers or not."""
        if self._thread is not None:
            return
        _sdk_log.addFilter(self._quiet)
        # The handler starts its reader threads as it is made: only once the service runs.
        self._handler = _Handler(
            self.bolt, self._app_token, logger=_sdk_log, ping_interval=self.ping_interval
        )
        self._thread = threading.Thread(target=self._connect, name="slack-socket-mode", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Close the connection and stop retrying."""
        self._stopping.set()
        if self._handler is not None:
            # slack_sdk's close waits for its own threads, which may sit out a timeout or a
            # Retry-After: shutdown waits for it only so long (the threads are daemons).
            closing = threading.Thread(
                target=self._handler.client.close, name="slack-socket-mode-close", daemon=True
            )
            closing.start()
            closing.join(timeout)
        if self._thread is not None:
            # A connect attempt under way ends within slack_sdk's timeout; it is a daemon.
            self._thread.join(timeout)
        _sdk_log.removeFilter(self._quiet)

    def _connect(self) -> None:
        assert self._handler is not None
        delay = self.first_retry
        failed = False
        while not self._stopping.is_set():
            try:
                self._handler.client.connect()
            except Exception as exc:  # any failure is retried, never raised
                if not failed:
                    log.warning(
                        "Slack Socket Mode: cannot connect (%s); retrying in the background",
                        _reason(exc),
                    )
                    failed = True
                else:
                    log.debug("Slack Socket Mode: still cannot connect (%s)", _reason(exc))
                # Jittered: replicas that lost Slack together do not come back in step.
                self._stopping.wait(random.uniform(delay / 2, delay))
                delay = min(delay * 2, self.max_retry)
                continue
            break
        if self._stopping.is_set():
            self._handler.client.close()
            return
        # From here on, the handler's monitor reconnects: its first complaint of an outage
        # is logged, the rest are not.
        if self._handler.client.is_connected():
            log.info("Slack Socket Mode connected: events, commands and buttons arrive over it")
            self._quiet.listen(told=False)
        else:
            # Slack gave a URL but the WebSocket did not open; the monitor retries it.
            log.warning("Slack Socket Mode: the WebSocket did not open; retrying in the background")
            self._quiet.listen(told=True)


class _Handler(SocketModeHandler):
    """bolt's handler, with the checks `/slack/events` makes before bolt sees a request."""

    def handle(self, client: BaseSocketModeClient, req: SocketModeRequest) -> None:
        started = time.time()
        try:
            # The same checks as over HTTP: no NUL (PostgreSQL refuses it), ids that fit.
            inbound.parse_body(json.dumps(req.payload).encode(), "application/json")
            answer = run_bolt_app(self.app, req)
        except HTTPException as exc:
            log.warning("Slack %s envelope refused: %s", req.type, exc.detail)
            answer = None
        except (KeyError, TypeError, ValueError, AttributeError):
            # bolt trips over payloads that lack keys Slack always sends.
            log.warning("malformed Slack %s envelope", req.type, exc_info=True)
            answer = None
        if answer is not None and answer.status != 200:
            # No listener for it (bolt's 404 over HTTP), or bolt refused it.
            log.warning("Slack %s envelope not handled (%d)", req.type, answer.status)
            answer = None
        if answer is None:
            # Acknowledged all the same: an envelope never acknowledged is sent again and again.
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        send_response(client, req, answer, started)


class _OncePerOutage(logging.Filter):
    """Lets through the handler's first complaint of an outage, and its reconnection."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._listening = False  # while the first connection is made, SocketMode speaks
        self._told = False

    def listen(self, *, told: bool) -> None:
        """From now on, pass the first complaint after each connection."""
        with self._lock:
            self._listening = True
            self._told = told

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO:
            return True  # asked for, by whoever turned on DEBUG
        message = record.getMessage()
        with self._lock:
            if message.startswith("A new session has been established"):
                back = self._listening and self._told
                self._told = False
                if back:
                    record.msg, record.args = "Slack Socket Mode reconnected", ()
                return back
            if record.levelno < logging.WARNING or not self._listening or self._told:
                return False
            self._told = True
        record.msg = "Slack Socket Mode disconnected (%s); reconnecting in the background"
        record.args = (" ".join(message.split()),)  # slack_sdk's errors span lines
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        return True


def _reason(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        data: Any = exc.response.data
        error = data.get("error") if isinstance(data, dict) else None
        if error in _TOKEN_ERRORS:
            return (
                f"Slack answered {error}: SLACK_APP_TOKEN must be an app-level token (xapp-...) "
                "with the connections:write scope"
            )
        return f"Slack answered {error or 'an error'} (HTTP {exc.response.status_code})"
    return f"{type(exc).__name__}: {exc}"
