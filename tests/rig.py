"""The service wired to a fake Slack and a fake PagerDuty, and requests signed as Slack signs."""

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from bot.config import Settings
from tests.conftest import Service, running
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack

SLACK_TOKEN = "xoxb-test"
SIGNING_SECRET = "signing-secret"
PD_TOKEN = "pd-token"
ONCALL_EMAIL = "ada@example.org"


def sign(body: bytes, *, secret: str = SIGNING_SECRET, at: int | None = None) -> dict[str, str]:
    """The headers Slack sends with a request."""
    stamp = str(int(time.time()) if at is None else at)
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class SlackRig:
    """The service, the fakes around it, and ways to act as Slack would."""

    service: Service
    slack: FakeSlack
    pagerduty: FakePagerDuty

    def post(self, body: bytes, content_type: str, **sign_args: Any) -> httpx.Response:
        headers = {"Content-Type": content_type, **sign(body, **sign_args)}
        with self.service.client() as c:
            return c.post("/slack/events", content=body, headers=headers)

    def command(
        self, text: str, *, channel: str = "CGENERAL", user: str = "UALICE", **sign_args: Any
    ) -> httpx.Response:
        """`/incident <text>` typed in `channel`."""
        form = {
            "token": "legacy",
            "team_id": "T1",
            "channel_id": channel,
            "channel_name": "x",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/incident",
            "text": text,
            "response_url": "https://hooks.slack.invalid/commands/1",
            "trigger_id": "1337.42.abcd",
        }
        return self.post(urlencode(form).encode(), "application/x-www-form-urlencoded", **sign_args)

    def reply(self, text: str, **kwargs: Any) -> str:
        """The ephemeral answer to a command."""
        r = self.command(text, **kwargs)
        assert r.status_code == 200, r.text
        return str(r.json()["text"]) if r.content else ""

    def interact(self, payload: dict[str, Any]) -> httpx.Response:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, "application/x-www-form-urlencoded")

    def press(
        self,
        action_id: str,
        value: int | str,
        *,
        user: str = "UALICE",
        channel: str = "C1",
        block_id: str = "incident_actions",
    ) -> httpx.Response:
        """A button pressed: a summary's (its value the incident's number), or another."""
        return self.interact(
            {
                "type": "block_actions",
                "user": {"id": user},
                "team": {"id": "T1"},
                "channel": {"id": channel},
                "trigger_id": "1.2.3",
                "container": {"type": "message", "channel_id": channel},
                "actions": [
                    {
                        "action_id": action_id,
                        "block_id": block_id,
                        "value": str(value),
                        "type": "button",
                    }
                ],
            }
        )

    def event(self, event: dict[str, Any], event_id: str = "Ev1") -> httpx.Response:
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": "T1",
                "api_app_id": "A1",
                "type": "event_callback",
                "event_id": event_id,
                "event_time": int(time.time()),
                "event": event,
            }
        ).encode()
        return self.post(body, "application/json")

    def wait_idle(self, timeout: float = 10) -> None:
        """Until the job queue has nothing pending or running."""
        from tests.conftest import count

        deadline = time.monotonic() + timeout
        while count(self.service.engine, "job", "status IN ('pending', 'running')"):
            if time.monotonic() > deadline:
                with self.service.engine.connect() as conn:
                    rows = conn.exec_driver_sql(
                        "SELECT id, kind, status, attempts, run_at, last_error FROM job "
                        "WHERE status IN ('pending', 'running')"
                    ).all()
                raise AssertionError(f"jobs still pending: {rows}")
            time.sleep(0.02)


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakePagerDuty]]:
    with FakeSlack(token=SLACK_TOKEN) as slack, FakePagerDuty(token=PD_TOKEN) as pd:
        slack.add_user("UADA", ONCALL_EMAIL, "Ada Lovelace")
        pd.add_user("PUADA", ONCALL_EMAIL, "Ada Lovelace")
        for policy in ("P7QK2LM", "PDEFAULT1", "PL3AP9X"):
            pd.set_oncall(policy, "PUADA")
        yield slack, pd


@pytest.fixture
def slack_settings(settings: Settings, fakes: tuple[FakeSlack, FakePagerDuty]) -> Settings:
    slack, pd = fakes
    return settings.model_copy(
        update={
            "slack_bot_token": SecretStr(SLACK_TOKEN),
            "slack_signing_secret": SecretStr(SIGNING_SECRET),
            "slack_api_url": slack.url,
            "pagerduty_api_token": SecretStr(PD_TOKEN),
            "pagerduty_api_url": pd.url,
            "pagerduty_from_email": "bot@example.org",
            "worker_threads": 2,
            "worker_backoff_seconds": 0.05,
            # Slack's windows and the summary edit interval, 100 times shorter.
            "slack_rate_scale": 100.0,
        }
    )


@pytest.fixture
def rig(slack_settings: Settings, fakes: tuple[FakeSlack, FakePagerDuty]) -> Iterator[SlackRig]:
    with running(slack_settings) as svc:
        yield SlackRig(svc, *fakes)
