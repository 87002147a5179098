"""Slack's Socket Mode end: a WebSocket server on 127.0.0.1 that plays Slack's envelope protocol.

Slack's side, as https://docs.slack.dev/apis/events-api/using-socket-mode/ describes it: the app
gets a URL from `apps.connections.open` (see `FakeSlack.socket_mode`), connects, and is greeted
with a `hello`; Slack then sends envelopes (`{"envelope_id", "type", "payload",
"accepts_response_payload"}`), and the app acknowledges each with `{"envelope_id"}`, adding a
`payload` when it answers (a slash command's reply, a view's errors).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from types import TracebackType
from typing import Any, Self

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve


class FakeSocketMode:
    """A WebSocket server that sends envelopes to the connected app and records its acks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._changed = threading.Condition(self.lock)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self.connections: list[ServerConnection] = []
        self.paths: list[str] = []  # the request path of each connection, ticket included
        self.acks: dict[str, dict[str, Any]] = {}  # envelope id -> the app's acknowledgement
        self.received: list[Any] = []  # every message the app sent, acks included

    # -- lifecycle

    def __enter__(self) -> Self:
        self._server = serve(self._session, "127.0.0.1", 0, compression=None)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None and self._thread is not None
        with self.lock:
            open_now = list(self.connections)
        for connection in open_now:
            connection.close()
        self._server.shutdown()
        self._thread.join(10)

    @property
    def url(self) -> str:
        """The URL `apps.connections.open` answers: a new ticket each time, as Slack's."""
        assert self._server is not None
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={next(self._ids)}&app_id=A1"

    # -- acting as Slack

    def wait_connected(self, count: int = 1, timeout: float = 15) -> ServerConnection:
        """Until `count` connections have been made; the latest."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.connections) >= count, timeout):
                raise AssertionError(f"no Socket Mode connection {count} in {timeout}s")
            return self.connections[-1]

    def send(self, kind: str, payload: Any, *, accepts_response_payload: bool | None = None) -> str:
        """Send an envelope of `kind` (`slash_commands`, `interactive`, `events_api`) to the
        app on the latest connection; returns its envelope id."""
        envelope_id = f"env-{next(self._ids)}"
        if accepts_response_payload is None:
            accepts_response_payload = kind != "events_api"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope["retry_attempt"] = 0
            envelope["retry_reason"] = ""
        self.wait_connected().send(json.dumps(envelope))
        return envelope_id

    def ack(self, envelope_id: str, timeout: float = 15) -> dict[str, Any]:
        """The app's acknowledgement of an envelope, once it arrives."""
        with self._changed:
            if not self._changed.wait_for(lambda: envelope_id in self.acks, timeout):
                raise AssertionError(f"envelope {envelope_id} not acknowledged in {timeout}s")
            return self.acks[envelope_id]

    def exchange(self, kind: str, payload: Any, timeout: float = 15) -> dict[str, Any]:
        """Send an envelope and wait for its acknowledgement."""
        return self.ack(self.send(kind, payload), timeout)

    # -- the server

    def _session(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        with self._changed:
            self.connections.append(connection)
            self.paths.append(connection.request.path)
            self._changed.notify_all()
        try:
            connection.send(
                json.dumps(
                    {
                        "type": "hello",
                        "num_connections": len(self.connections),
                        "debug_info": {
                            "host": "fake-socket-mode",
                            "approximate_connection_time": 3600,
                        },
                        "connection_info": {"app_id": "A1"},
                    }
                )
            )
            for raw in connection:
                try:
                    message = json.loads(raw)
                except ValueError:
                    message = raw
                with self._changed:
                    self.received.append(message)
                    if isinstance(message, dict) and "envelope_id" in message:
                        self.acks[str(message["envelope_id"])] = message
                    self._changed.notify_all()
        except ConnectionClosed:
            pass


def wait_until(predicate: Any, timeout: float = 15) -> None:
    """Poll until `predicate()` is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s")
        time.sleep(0.02)
