"""What the service logs: no credential, ever; query-string tokens redacted in the access log."""

import hashlib
import hmac
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from bot import __version__
from bot.access_log import RedactQueries, redact_query
from bot.config import Settings
from bot.logs import JsonFormatter
from tests.conftest import ROOT
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.logcapture import Recorder, recording, running_with_logs
from tests.payloads import alert, delivery
from tests.rig import sign

# Distinctive, so that any trace of one in a log line is found.
SECRETS = {
    "slack_bot_token": "xoxb-SECRET-slack-bot-token-7c1e",
    "slack_signing_secret": "SECRET-slack-signing-3f9a",
    "pagerduty_api_token": "SECRET-pagerduty-api-token-0b2d",
    "pagerduty_webhook_secret": "SECRET-pagerduty-webhook-55e1",
    "api_token": "SECRET-api-token-91aa",
    "alertmanager_token": "SECRET-alertmanager-token-d4c0",
}


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/api/incidents", "/api/incidents"),
        ("/status?token=abc", "/status?token=[redacted]"),
        ("/s?x=1&token=abc&y=2", "/s?x=1&token=[redacted]&y=2"),
        ("/s?access_token=abc", "/s?access_token=[redacted]"),
        ("/s?Secret=abc&signature=def", "/s?Secret=[redacted]&signature=[redacted]"),
        (
            "/s?refresh_token=abc&client_secret=x",
            "/s?refresh_token=[redacted]&client_secret=[redacted]",
        ),
        ("/s?%74oken=abc", "/s?%74oken=[redacted]"),
        ("/s?tokens_seen=3&token", "/s?tokens_seen=3&token"),
        ("/api/incidents?hub=leap/prod&limit=5", "/api/incidents?hub=leap/prod&limit=5"),
    ],
)
def test_credentials_in_query_strings_are_redacted(target: str, logged: str):
    assert redact_query(target) == logged


def test_the_filter_rewrites_uvicorn_access_records():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/status/leap?token=abc", "1.1", 200),
        None,
    )
    assert RedactQueries().filter(record)
    assert (
        record.getMessage() == '127.0.0.1:5000 - "GET /status/leap?token=[redacted] HTTP/1.1" 200'
    )


@pytest.fixture
def armed(database_url: str, tmp_path: Path) -> Iterator[tuple[Settings, FakeSlack, FakePagerDuty]]:
    """Every secret set, Slack and PagerDuty fakes that demand theirs."""
    with (
        FakeSlack(token=SECRETS["slack_bot_token"]) as slack,
        FakePagerDuty(token=SECRETS["pagerduty_api_token"]) as pd,
    ):
        slack.add_user("UADA", "ada@example.org", "Ada Lovelace")
        pd.add_user("PUADA", "ada@example.org", "Ada Lovelace")
        for policy in ("P7QK2LM", "PDEFAULT1", "PL3AP9X"):
            pd.set_oncall(policy, "PUADA")
        settings = Settings(
            _env_file=None,
            database_url=database_url,
            hubs_file=ROOT / "hubs.yaml",
            runbooks_dir=ROOT / "runbooks",
            slack_api_url=slack.url,
            pagerduty_api_url=pd.url,
            pagerduty_from_email="bot@example.org",
            worker_threads=2,
            worker_backoff_seconds=0.05,
            **{name: SecretStr(value) for name, value in SECRETS.items()},
        )
        yield settings, slack, pd


def pd_event(event_id: str, pd_id: str) -> bytes:
    return json.dumps(
        {
            "event": {
                "id": event_id,
                "event_type": "incident.triggered",
                "resource_type": "incident",
                "occurred_at": "2026-11-25T10:05:00Z",
                "data": {"id": pd_id, "type": "incident", "title": "Hub down", "urgency": "high"},
            }
        }
    ).encode()


def drive(c: httpx.Client) -> list[int]:
    """Requests with good, bad and borrowed credentials on every endpoint; their statuses."""
    s = SECRETS
    form = urlencode(
        {
            "command": "/incident",
            "text": "declare leap/prod sev2 Dask is down",
            "user_id": "UBOB",
            "channel_id": "CGENERAL",
            "trigger_id": "1.2.3",
        }
    ).encode()
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    pd_body = pd_event("01LOGTEST", "PLOG1")
    pd_sig = (
        "v1="
        + hmac.new(s["pagerduty_webhook_secret"].encode(), pd_body, hashlib.sha256).hexdigest()
    )
    statuses = [
        c.post(
            "/webhooks/alertmanager",
            json=delivery(alert(summary="Hub down")),
            headers={"Authorization": f"Bearer {s['alertmanager_token']}"},
        ).status_code,
        c.post(
            "/webhooks/alertmanager",
            json=delivery(alert()),
            headers={"Authorization": "Bearer wrong"},
        ).status_code,
        # A real secret sent to the wrong place is still a secret.
        c.post(
            "/webhooks/alertmanager",
            json=delivery(alert()),
            headers={"Authorization": f"Bearer {s['api_token']}"},
        ).status_code,
        c.get("/api/incidents", headers={"Authorization": f"Bearer {s['api_token']}"}).status_code,
        c.get(
            "/api/incidents", headers={"Authorization": f"Bearer {s['alertmanager_token']}"}
        ).status_code,
        c.get("/api/incidents/1", params={"token": s["api_token"]}).status_code,
        c.get(
            "/api/alerts",
            params={"access_token": s["api_token"], "secret": s["slack_signing_secret"]},
            headers={"Authorization": f"Bearer {s['api_token']}"},
        ).status_code,
        c.post(
            "/webhooks/pagerduty", content=pd_body, headers={"X-PagerDuty-Signature": pd_sig}
        ).status_code,
        c.post(
            "/webhooks/pagerduty",
            content=pd_body,
            headers={"X-PagerDuty-Signature": "v1=" + "0" * 64},
        ).status_code,
        c.post(
            "/webhooks/pagerduty",
            content=pd_body,
            headers={"X-PagerDuty-Signature": f"v1={s['pagerduty_webhook_secret']}"},
        ).status_code,
        c.post(
            "/slack/events",
            content=form,
            headers={**form_type, **sign(form, secret=s["slack_signing_secret"])},
        ).status_code,
        c.post(
            "/slack/events", content=form, headers={**form_type, **sign(form, secret="wrong")}
        ).status_code,
        # An unsigned body carrying a secret: the body is never logged.
        c.post(
            "/slack/events",
            content=urlencode({"token": s["slack_bot_token"]}).encode(),
            headers={
                **form_type,
                "X-Slack-Request-Timestamp": "soon",
                "X-Slack-Signature": f"v0={s['slack_signing_secret']}",
            },
        ).status_code,
    ]
    list_form = urlencode(
        {"command": "/incident", "text": "list", "user_id": "UBOB", "channel_id": "CGENERAL"}
    ).encode()
    statuses.append(
        c.post(
            "/slack/events",
            content=list_form,
            headers={**form_type, **sign(list_form, secret=s["slack_signing_secret"])},
        ).status_code
    )
    return statuses


def test_no_secret_is_ever_logged(armed: tuple[Settings, FakeSlack, FakePagerDuty]):
    settings, slack, pd = armed
    with recording() as recorder:
        with running_with_logs(settings, recorder) as svc, svc.client() as c:
            statuses = drive(c)
            wait_for_channels(slack, recorder, count=2)
    assert statuses == [200, 401, 401, 200, 401, 401, 200, 202, 401, 401, 200, 401, 401, 200]
    # The service did talk to Slack and PagerDuty with its tokens, and logged about it.
    assert slack.calls("conversations.create") and pd.requests
    assert any(r.name == "uvicorn.access" for r in recorder.records)
    leaked = [
        (name, line)
        for line in recorder.lines()
        for name, value in SECRETS.items()
        if value in line
    ]
    assert not leaked, leaked


def wait_for_channels(slack: FakeSlack, recorder: Recorder, count: int) -> None:
    """Until the worker has opened `count` channels (so its Slack and PagerDuty calls ran)."""
    deadline = time.monotonic() + 15
    while len(slack.calls("conversations.create")) < count:
        assert time.monotonic() < deadline, recorder.text()[-3000:]
        time.sleep(0.05)


def test_access_log_redacts_query_tokens(armed: tuple[Settings, FakeSlack, FakePagerDuty]):
    settings, _, _ = armed
    with recording() as recorder:
        with running_with_logs(settings, recorder) as svc, svc.client() as c:
            c.get("/api/incidents", params={"hub": "leap/prod", "token": "tok-123"})
            c.get("/runbooks/x", params={"access_token": "tok-456", "page": "2"})
    access = [r.getMessage() for r in recorder.records if r.name == "uvicorn.access"]
    assert any("/api/incidents?hub=leap%2Fprod&token=[redacted]" in line for line in access), access
    assert any("/runbooks/x?access_token=[redacted]&page=2" in line for line in access), access
    assert not any("tok-123" in line or "tok-456" in line for line in recorder.lines())


def serve_and_stop(env: dict[str, str], cwd: Path) -> tuple[str, str]:
    """`python -m bot serve` on a free port: wait for /healthz, make requests, stop it (as
    Ctrl-C does); its stdout and stderr."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inherited = {k: v for k, v in os.environ.items() if k.upper() not in SETTING_NAMES}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        cwd=cwd,
        env={**inherited, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the service did not start"
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        httpx.get(f"{url}/api/incidents", params={"token": "tok-789"}, timeout=5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    return out, err


SETTING_NAMES = frozenset(name.upper() for name in Settings.model_fields)


def test_json_logs_are_one_object_a_line_access_log_included(database_url: str, tmp_path: Path):
    out, err = serve_and_stop(
        {"LOG_FORMAT": "json", "DATABASE_URL": database_url, "API_TOKEN": "x"}, tmp_path
    )
    lines = [json.loads(line) for line in (out + err).splitlines()]
    assert all(set(line) >= {"time", "level", "logger", "message"} for line in lines), lines
    by_logger = {line["logger"] for line in lines}
    assert {"bot.app", "bot.config", "uvicorn.error", "uvicorn.access"} <= by_logger
    messages = [line["message"] for line in lines]
    assert f"incident-bot {__version__} starting" in messages
    assert any(m.startswith("database: ") for m in messages)
    assert any(m.startswith("hub registry ") and " hubs" in m for m in messages)
    assert "configured: API" in messages
    assert "not configured: Slack (SLACK_BOT_TOKEN)" in messages
    access = [line["message"] for line in lines if line["logger"] == "uvicorn.access"]
    assert any('"GET /healthz HTTP/1.1" 200' in m for m in access), access
    assert any("/api/incidents?token=[redacted]" in m and "401" in m for m in access), access
    assert "tok-789" not in out + err


def test_text_logs_share_one_format_access_log_included(database_url: str, tmp_path: Path):
    out, err = serve_and_stop({"DATABASE_URL": database_url}, tmp_path)
    line = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")
    lines = (out + err).splitlines()
    assert lines and all(line.match(x) for x in lines), lines
    assert any(" INFO uvicorn.access: " in x and "GET /healthz" in x for x in lines)


def test_json_lines_carry_the_exception():
    formatter = JsonFormatter()
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.getLogger("bot.x").makeRecord(
            "bot.x", logging.ERROR, __file__, 1, "failed: %s", ("job 7",), sys.exc_info()
        )
    line = json.loads(formatter.format(record))
    assert line["message"] == "failed: job 7" and line["level"] == "ERROR"
    assert line["exception"].startswith("Traceback") and "RuntimeError: boom" in line["exception"]
    assert "\n" not in formatter.format(record)
