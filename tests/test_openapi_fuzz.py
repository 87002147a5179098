"""Schemathesis over the OpenAPI schema, against the live service: no input is a 5xx.

Every request carries the credentials its endpoint's real caller has (bearer tokens, PagerDuty
and Slack signatures over the exact bytes sent), so the fuzzing gets past auth into parsing,
validation, storage and the Slack command handlers.
"""

import hashlib
import hmac
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error

from bot.config import Settings
from tests.conftest import AM_TOKEN, API_TOKEN, Service, running
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.rig import sign

PD_SECRET = "pd-webhook-secret"


class Credentials(requests.auth.AuthBase):
    """Authenticates or signs each request as the endpoint's real caller would."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        path = urlsplit(r.url or "").path
        body = r.body or b""
        body = body.encode() if isinstance(body, str) else body
        assert isinstance(body, bytes)
        if path.startswith("/api/"):
            r.headers["Authorization"] = f"Bearer {API_TOKEN}"
        elif path == "/webhooks/alertmanager":
            r.headers["Authorization"] = f"Bearer {AM_TOKEN}"
        elif path == "/webhooks/pagerduty":
            digest = hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()
            r.headers["X-PagerDuty-Signature"] = f"v1={digest}"
        elif path == "/slack/events":
            r.headers.update(sign(body))
        return r


@pytest.fixture
def live(slack_settings: Settings, fakes: tuple[FakeSlack, FakePagerDuty]) -> Iterator[Service]:
    """The whole service with every integration configured, beside the fakes."""
    configured = slack_settings.model_copy(
        update={"pagerduty_webhook_secret": SecretStr(PD_SECRET)}
    )
    with running(configured) as svc:
        yield svc


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.auth = Credentials()
        yield s


@pytest.fixture
def api_schema(live: Service) -> schemathesis.BaseSchema:
    """The schema as the live service serves it."""
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
# The service runs in this process, and its threads (the worker's retry jitter, the fake
# Slack's ids) draw from the global `random` while Hypothesis generates a case in this one;
# Hypothesis then blames the strategy, which it cannot tell from another thread.
@pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)
# Small and without deadlines: this runs in CI on every push, within seconds per operation.
@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_input_is_a_server_error(case: schemathesis.Case, session: requests.Session) -> None:
    response = case.call(session=session, timeout=30)
    case.validate_response(response, checks=[not_a_server_error])
