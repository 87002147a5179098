"""The base of every fake: a threaded HTTP server on 127.0.0.1 that records each request and
can be told to fail, so tests drive the real client libraries over real sockets."""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # keys lower-cased
    body: bytes
    json: Any | None  # the body parsed, when it was sent as JSON
    form: dict[str, str]  # the body parsed, when it was form-encoded

    @property
    def args(self) -> dict[str, Any]:
        """Query, form and JSON arguments merged, the way Slack reads them."""
        merged: dict[str, Any] = {k: v[-1] for k, v in self.query.items()}
        merged.update(self.form)
        if isinstance(self.json, dict):
            merged.update(self.json)
        return merged


@dataclass
class Reply:
    """What a fake answers: a JSON-encoded `body` unless it is already bytes or str."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Failure:
    route: str
    status: int
    remaining: int
    headers: dict[str, str]
    body: Any
    applied: bool = False


def route_matches(route: str, method: str, path: str) -> bool:
    """Whether `route` ("/chat.postMessage", "chat.postMessage", "POST /incidents/*/notes")
    names this request; the path part may hold shell-style wildcards."""
    want_method, _, want_path = route.rpartition(" ")
    if want_method and want_method.upper() != method:
        return False
    return fnmatch.fnmatchcase(path.lstrip("/"), want_path.lstrip("/"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0: one request per connection, so stopping never waits on an idle keep-alive.
    protocol_version = "HTTP/1.0"

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.fake._receive(self.command, self.path, dict(self.headers), body)
        if isinstance(reply.body, bytes):
            payload, ctype = reply.body, "application/octet-stream"
        elif isinstance(reply.body, str):
            payload, ctype = reply.body.encode(), "text/plain; charset=utf-8"
        else:
            payload, ctype = json.dumps(reply.body).encode(), "application/json; charset=utf-8"
        self.send_response(reply.status)
        headers = {"Content-Type": ctype, **reply.headers, "Content-Length": str(len(payload))}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        pass  # pytest would show every request otherwise


class FakeServer:
    """A fake HTTP service; subclasses implement `handle`."""

    # Paths whose bodies are opaque bytes, never parsed as forms (e.g. file uploads).
    raw_paths: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        # While True every request is answered 503, as if the service were down.
        self.down = False
        # Held while a request is handled, so subclasses' state changes one request at a time.
        self.lock = threading.RLock()
        # Exceptions raised inside `handle`: a bug in the fake, answered as a 500.
        self.errors: list[Exception] = []
        self._failures: list[_Failure] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> Self:
        """Listen on a free port and serve in a background thread."""
        if self._server is None:
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=type(self).__name__,
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(10)
            self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, with a trailing slash: http://127.0.0.1:PORT/."""
        return f"http://127.0.0.1:{self.port}/"

    # -- test API

    def calls(self, route: str) -> list[Recorded]:
        """The recorded requests to a route (see `route_matches`), oldest first."""
        with self.lock:
            return [r for r in self.requests if route_matches(route, r.method, r.path)]

    def fail_next(
        self,
        route: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        applied: bool = False,
    ) -> None:
        """Answer the next `times` requests to `route` with `status` (and the service's usual
        error body unless `body` is given), e.g. 429 with {"Retry-After": "1"}, or 503.

        With `applied`, each request takes effect first: the answer is what is lost (a
        gateway timing out after the service did the work)."""
        with self.lock:
            self._failures.append(
                _Failure(route, status, times, dict(headers or {}), body, applied)
            )

    def wait_for(self, predicate: Callable[[], object], timeout: float = 10) -> None:
        """Poll until `predicate()` is true; AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"{type(self).__name__}: condition not met in {timeout}s")
            time.sleep(0.01)

    # -- for subclasses

    def handle(self, req: Recorded) -> Reply:
        """Answer one request; called with `self.lock` held."""
        raise NotImplementedError

    def error_body(self, status: int) -> Any:
        """The body of an injected failure, in the service's own error style."""
        return {"error": f"HTTP {status}"}

    # -- internals

    def _receive(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(target)
        req = self._record(method, parts.path, parts.query, headers, body)
        with self.lock:
            self.requests.append(req)
            if self.down:
                return Reply(503, self.error_body(503))
            for failure in self._failures:
                if route_matches(failure.route, req.method, req.path):
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                    if failure.applied:
                        self.handle(req)
                    answer = failure.body
                    if answer is None:
                        answer = self.error_body(failure.status)
                    return Reply(failure.status, answer, failure.headers)
            try:
                return self.handle(req)
            except Exception as e:
                self.errors.append(e)
                return Reply(500, {"error": f"fake crashed: {e!r}"})

    def _record(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Recorded:
        lower = {k.lower(): v for k, v in headers.items()}
        ctype = lower.get("content-type", "")
        parsed: Any | None = None
        form: dict[str, str] = {}
        raw = any(path.startswith(p) for p in self.raw_paths)
        if body and "json" in ctype:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        elif body and not raw and ctype.startswith("application/x-www-form-urlencoded"):
            try:
                text = body.decode()
            except UnicodeDecodeError:
                text = ""
            form = {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
        return Recorded(
            method=method.upper(),
            path=path,
            query=parse_qs(query, keep_blank_values=True),
            headers=lower,
            body=body,
            json=parsed,
            form=form,
        )
