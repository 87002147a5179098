"""Body limits hold while the body is read, before auth or parsing: a hostile 50 MB body is
refused at once and costs the service no memory."""

import gc
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.body_limits import DEFAULT_LIMIT, MB, limit_for
from bot.config import Settings
from tests.conftest import AM_TOKEN, Service, count, running
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.payloads import alert, delivery

HUGE = 50 * MB
CHUNK = 64 * 1024


@pytest.fixture
def armed(slack_settings: Settings, fakes: tuple[FakeSlack, FakePagerDuty]) -> Iterator[Service]:
    """Every endpoint configured, so a refusal is the limit's and not a missing secret's."""
    settings = slack_settings.model_copy(update={"pagerduty_webhook_secret": SecretStr("pd")})
    with running(settings) as svc:
        yield svc


def stream(total: int) -> Iterator[bytes]:
    """`total` bytes in 64 KB chunks, never all in memory (the service shares this process)."""
    block = b"x" * CHUNK
    for start in range(0, total, CHUNK):
        yield block[: min(CHUNK, total - start)]


def post(
    svc: Service, path: str, total: int, *, declared: bool, token: str | None = None
) -> httpx.Response:
    """POST `total` bytes; with a Content-Length when `declared`, else chunked."""
    headers = {"Content-Type": "application/json"}
    if declared:
        headers["Content-Length"] = str(total)
    with svc.client(token) as c:
        return c.post(path, content=stream(total), headers=headers)


def rss_bytes() -> int:
    """This process's resident set size, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("path", ["/webhooks/pagerduty", "/slack/events"])
def test_a_50mb_unauthenticated_body_is_413(armed: Service, path: str, declared: bool):
    # Both check a signature over the body, so they read it first: the limit stops the read.
    r = post(armed, path, HUGE, declared=declared)
    assert r.status_code == 413
    assert r.json() == {"detail": f"body larger than {limit_for(path)} bytes"}


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_50mb_delivery_is_413_with_the_token_too(armed: Service, declared: bool):
    r = post(armed, "/webhooks/alertmanager", HUGE, declared=declared, token=AM_TOKEN)
    assert r.status_code == 413
    assert count(armed.engine, "alert") == 0


def test_without_a_token_a_body_is_never_read(armed: Service):
    # The bearer token is checked before reading: 401, and the server discards the body.
    assert post(armed, "/webhooks/alertmanager", HUGE, declared=False).status_code == 401


def test_the_api_refuses_a_declared_body(armed: Service):
    with armed.api as c:
        r = c.request(
            "GET", "/api/incidents", content=stream(HUGE), headers={"Content-Length": str(HUGE)}
        )
    assert r.status_code == 413


def test_limits_per_endpoint():
    assert limit_for("/webhooks/alertmanager") == 10 * MB
    assert limit_for("/webhooks/pagerduty") == 2 * MB
    assert limit_for("/slack/events") == 1 * MB
    assert limit_for("/api/incidents") == DEFAULT_LIMIT == 1 * MB


# Run in a child process: the service shares this one, and the attackers' own threads and
# buffers would show in its RSS.
ATTACK = """
import json, sys, threading, httpx
url, total, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
block = b"x" * chunk
def stream():
    for start in range(0, total, chunk):
        yield block[: min(chunk, total - start)]
statuses = []
def attack(path, declared):
    headers = {"Content-Type": "application/json"}
    if declared:
        headers["Content-Length"] = str(total)
    with httpx.Client(base_url=url, timeout=60) as c:
        statuses.append(c.post(path, content=stream(), headers=headers).status_code)
threads = [
    threading.Thread(target=attack, args=(path, declared))
    for path in ("/webhooks/pagerduty", "/slack/events")
    for declared in (True, False)
    for _ in range(5)
]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(statuses))
"""


def test_twenty_hostile_bodies_at_once_cost_no_memory(armed: Service):
    # Warm up first: the first requests allocate what the process then keeps.
    for path in ("/webhooks/pagerduty", "/slack/events"):
        post(armed, path, 4 * MB, declared=False)
    gc.collect()
    before = rss_bytes()
    attackers = subprocess.run(
        [sys.executable, "-c", ATTACK, armed.url, str(HUGE), str(CHUNK)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    gc.collect()
    grown = rss_bytes() - before
    assert json.loads(attackers.stdout) == [413] * 20
    # Read whole, these were 1 GB (+650 MB RSS before the limits). Now declared lengths are
    # refused unread, and the ten chunked ones could hold at most 5 x 2 MB + 5 x 1 MB at once.
    assert grown < 16 * MB, f"RSS grew by {grown / MB:.1f} MB"


def test_a_chunked_body_within_the_limit_is_read_whole(armed: Service):
    # Padded with whitespace, which JSON allows, to a byte under the limit.
    body = json.dumps(delivery(alert())).encode().ljust(limit_for("/webhooks/alertmanager"))
    chunks = (body[i : i + CHUNK] for i in range(0, len(body), CHUNK))
    with armed.am as c:
        r = c.post(
            "/webhooks/alertmanager",
            content=chunks,
            headers={"Content-Type": "application/json"},
        )
    assert r.status_code == 200, r.text
    assert count(armed.engine, "alert") == 1


def test_one_byte_past_the_limit_is_413_and_stores_nothing(armed: Service):
    body = json.dumps(delivery(alert())).encode().ljust(limit_for("/webhooks/alertmanager") + 1)
    chunks = (body[i : i + CHUNK] for i in range(0, len(body), CHUNK))
    with armed.am as c:
        r = c.post("/webhooks/alertmanager", content=chunks)
    assert r.status_code == 413
    assert count(armed.engine, "alert") == 0


def test_the_connection_is_usable_after_a_413(armed: Service):
    with armed.client() as c:
        big = c.post("/webhooks/pagerduty", content=stream(3 * MB))
        assert big.status_code == 413
        assert c.get("/healthz").status_code == 200
