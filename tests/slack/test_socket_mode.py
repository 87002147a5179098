"""Socket Mode: with SLACK_APP_TOKEN the bot dials out to Slack, and the same listeners answer
commands, buttons, the declare form and events; Slack away at start-up stops nothing."""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pydantic import SecretStr

from bot.app import create_app
from bot.config import Settings
from tests.conftest import Service, count, running, serve, stop
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.socket_mode import FakeSocketMode, wait_until
from tests.logcapture import recording
from tests.rig import SLACK_TOKEN, SlackRig, sign

APP_TOKEN = "xapp-1-A1-1-socket"


def command(text: str, *, channel: str = "CGENERAL", user: str = "UALICE") -> dict[str, Any]:
    """A slash command's payload as Socket Mode carries it (the HTTP form's fields, as JSON)."""
    return {
        "token": "legacy",
        "team_id": "T1",
        "team_domain": "fake",
        "channel_id": channel,
        "channel_name": "x",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/incident",
        "text": text,
        "api_app_id": "A1",
        "is_enterprise_install": "false",
        "response_url": "https://hooks.slack.invalid/commands/1",
        "trigger_id": "1337.42.abcd",
    }


def button(action_id: str, value: str, *, channel: str, user: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": "T1"},
        "api_app_id": "A1",
        "channel": {"id": channel},
        "trigger_id": "1.2.3",
        "container": {"type": "message", "channel_id": channel},
        "actions": [
            {"action_id": action_id, "block_id": "incident_actions", "value": value}
            | {"type": "button"}
        ],
    }


def declare_form(hub: str, severity: str, title: str, *, user: str) -> dict[str, Any]:
    """The declare modal, submitted."""

    def chosen(value: str) -> dict[str, Any]:
        return {"value": {"type": "static_select", "selected_option": {"value": value}}}

    return {
        "type": "view_submission",
        "team": {"id": "T1"},
        "user": {"id": user},
        "api_app_id": "A1",
        "trigger_id": "1.2.4",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": "declare_incident",
            "state": {
                "values": {
                    "hub": chosen(hub),
                    "severity": chosen(severity),
                    "title": {"value": {"type": "plain_text_input", "value": title}},
                }
            },
        },
    }


def event(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "token": "legacy",
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "event": event,
    }


@pytest.fixture
def socket_slack(fakes: tuple[FakeSlack, FakePagerDuty]) -> Iterator[FakeSocketMode]:
    """Slack's Socket Mode end, handed out by the fake Slack's apps.connections.open."""
    slack, _ = fakes
    with FakeSocketMode() as ws:
        slack.app_token = APP_TOKEN
        slack.socket_mode_url = lambda: ws.url
        yield ws


@pytest.fixture
def socket_settings(slack_settings: Settings) -> Settings:
    # No signing secret: nothing reaches the bot over HTTP, and nothing needs to.
    return slack_settings.model_copy(
        update={"slack_app_token": SecretStr(APP_TOKEN), "slack_signing_secret": SecretStr("")}
    )


@contextmanager
def running_fast(settings: Settings) -> Iterator[Service]:
    """The service, its Socket Mode link checked every second rather than every ten (so a
    dropped connection is noticed within the test's patience)."""
    app = create_app(settings)
    app.state.socket_mode.ping_interval = 1.0
    server, thread, url = serve(app)
    try:
        yield Service(app, url, app.state.engine)
    finally:
        stop(server, thread)


@pytest.fixture
def socket_rig(
    socket_settings: Settings,
    fakes: tuple[FakeSlack, FakePagerDuty],
    socket_slack: FakeSocketMode,
) -> Iterator[SlackRig]:
    with running_fast(socket_settings) as svc:
        yield SlackRig(svc, *fakes)


def get(svc: Service, number: int) -> dict[str, Any]:
    with svc.api as c:
        r = c.get(f"/api/incidents/{number}")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def test_commands_buttons_the_form_and_events_arrive_over_socket_mode(
    socket_rig: SlackRig, socket_slack: FakeSocketMode
):
    ws, slack, svc = socket_slack, socket_rig.slack, socket_rig.service
    ws.wait_connected()
    # The URL was asked for with the app-level token, never the bot's.
    [opened] = slack.calls("apps.connections.open")
    assert opened.headers["authorization"] == f"Bearer {APP_TOKEN}"
    assert ws.paths[0].startswith("/link/?ticket=")

    # A slash command: the ephemeral reply rides in the acknowledgement.
    envelope = ws.send("slash_commands", command("help"))
    ack = ws.ack(envelope)
    assert ack["envelope_id"] == envelope
    assert ack["payload"]["response_type"] == "ephemeral"
    assert "/incident declare" in ack["payload"]["text"]

    ack = ws.exchange("slash_commands", command("declare openscapes/prod sev2 Hub is down"))
    assert ack["payload"]["response_type"] == "ephemeral"
    inc = get(svc, 1)
    assert (inc["cluster"], inc["hub"], inc["severity"], inc["title"]) == (
        "openscapes",
        "prod",
        "sev2",
        "Hub is down",
    )
    assert "declared" in [e["kind"] for e in inc["timeline"]]
    socket_rig.wait_idle()
    channel = get(svc, 1)["slack_channel_id"]
    assert channel and slack.channels[channel]["name"].startswith("inc-")

    # An Events API envelope: a :pushpin: makes the message a timeline note.
    ts = slack.add_message(channel, "UDAN", "Found it: the quota is exhausted")
    pin = {
        "type": "reaction_added",
        "user": "UALICE",
        "reaction": "pushpin",
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": ts,
    }
    ack = ws.exchange("events_api", event(pin, "Ev1"))
    assert "payload" not in ack
    socket_rig.wait_idle()
    notes = [e for e in get(svc, 1)["timeline"] if e["kind"] == "note"]
    assert [(n["text"], n["actor"]) for n in notes] == [
        ("Found it: the quota is exhausted", "UDAN")
    ]

    # An interactive envelope: a summary button.
    ack = ws.exchange(
        "interactive", button("incident_take_command", "1", channel=channel, user="UCAROL")
    )
    assert set(ack) == {"envelope_id"}
    assert get(svc, 1)["roles"]["commander"] == "UCAROL"

    # The declare form: a mistake comes back in the acknowledgement, for Slack to show...
    ack = ws.exchange("interactive", declare_form("nowhere/none", "sev3", "Slow", user="UBOB"))
    assert ack["payload"] == {
        "response_action": "errors",
        "errors": {"hub": "Pick a hub from the list"},
    }
    # ...and a good one declares.
    ack = ws.exchange(
        "interactive", declare_form("openscapes/staging", "sev3", "Staging is slow", user="UBOB")
    )
    assert "payload" not in ack
    assert (get(svc, 2)["hub"], get(svc, 2)["severity"]) == ("staging", "sev3")

    # /slack/events is not needed, and without a signing secret it opens to no one.
    with svc.client() as c:
        body = b'{"type": "url_verification", "challenge": "x"}'
        r = c.post("/slack/events", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401
    assert len(ws.connections) == 1


def test_an_envelope_slack_would_never_send_is_acknowledged_and_does_nothing(
    socket_rig: SlackRig, socket_slack: FakeSocketMode
):
    ws = socket_slack
    ws.wait_connected()
    ack = ws.exchange("slash_commands", command("declare openscapes/prod sev2 Hub\x00down"))
    assert set(ack) == {"envelope_id"}
    ack = ws.exchange("slash_commands", command("declare openscapes/prod sev2 x", user="U" * 41))
    assert set(ack) == {"envelope_id"}
    ack = ws.exchange("interactive", "not an object")
    assert set(ack) == {"envelope_id"}
    assert count(socket_rig.service.engine, "incident") == 0
    # The connection still serves.
    assert "/incident declare" in ws.exchange("slash_commands", command(""))["payload"]["text"]


def test_the_bot_reconnects_when_slack_drops_the_connection(
    socket_rig: SlackRig, socket_slack: FakeSocketMode
):
    ws = socket_slack
    ws.wait_connected().close()
    ws.wait_connected(2)
    assert len(socket_rig.slack.calls("apps.connections.open")) == 2
    ack = ws.exchange("slash_commands", command("declare openscapes/prod sev1 Back again"))
    assert ack["payload"]["response_type"] == "ephemeral"
    assert get(socket_rig.service, 1)["title"] == "Back again"


def test_an_outage_after_connecting_is_said_once_and_mended(
    socket_settings: Settings,
    fakes: tuple[FakeSlack, FakePagerDuty],
    socket_slack: FakeSocketMode,
):
    slack, _ = fakes
    ws = socket_slack
    with recording() as log, running_fast(socket_settings):
        first = ws.wait_connected()
        slack.fail_next("apps.connections.open", 503, times=3)
        first.close()
        ws.wait_connected(2, timeout=30)
        assert len(slack.calls("apps.connections.open")) == 5
        ack = ws.exchange("slash_commands", command("help"))
        assert "/incident declare" in ack["payload"]["text"]
    said = [
        (r.levelname, r.getMessage())
        for r in log.records
        if r.name.startswith("bot.slack.socket_mode") and r.levelno >= logging.INFO
    ]
    assert [level for level, _ in said] == ["INFO", "WARNING", "INFO"], said
    assert said[1][1].startswith("Slack Socket Mode disconnected (")
    assert said[2][1] == "Slack Socket Mode reconnected"


def test_the_service_starts_while_slack_refuses_and_connects_once_it_answers(
    socket_settings: Settings,
    fakes: tuple[FakeSlack, FakePagerDuty],
    socket_slack: FakeSocketMode,
):
    slack, _ = fakes
    slack.fail_next("apps.connections.open", 503, times=2)
    started = time.monotonic()
    with recording() as log, running(socket_settings) as svc:
        assert time.monotonic() - started < 10
        with svc.client() as c:
            assert c.get("/healthz").status_code == 200
            assert c.get("/readyz").status_code == 200
        ws = socket_slack
        ws.wait_connected()
        assert len(slack.calls("apps.connections.open")) == 3
        assert (
            "/incident declare" in ws.exchange("slash_commands", command("help"))["payload"]["text"]
        )
    said = [
        r.getMessage()
        for r in log.records
        if r.name.startswith("bot.slack.socket_mode") and r.levelno >= logging.INFO
    ]
    failures = [m for m in said if "cannot connect" in m]
    assert len(failures) == 1 and "fatal_error (HTTP 503)" in failures[0], said
    assert any("Socket Mode connected" in m for m in said), said
    assert not [r for r in log.records if r.levelno >= logging.ERROR and "socket" in r.name.lower()]


def test_a_wrong_app_token_is_said_once_and_the_service_runs(
    socket_settings: Settings,
    fakes: tuple[FakeSlack, FakePagerDuty],
    socket_slack: FakeSocketMode,
):
    slack, _ = fakes
    settings = socket_settings.model_copy(update={"slack_app_token": SecretStr(SLACK_TOKEN)})
    with recording() as log, running(settings) as svc:
        with svc.client() as c:
            assert c.get("/healthz").status_code == 200
        wait_until(lambda: len(slack.calls("apps.connections.open")) >= 3)
        # Slack refused the bot token where an app-level one belongs, each time.
        assert not socket_slack.connections
    warnings = [r.getMessage() for r in log.records if r.levelno >= logging.WARNING]
    told = [m for m in warnings if "SLACK_APP_TOKEN" in m]
    assert len(told) == 1, warnings
    assert "not_allowed_token_type" in told[0] and "xapp-" in told[0]
    assert SLACK_TOKEN not in "\n".join(log.lines())


def test_without_an_app_token_the_bot_listens_on_slack_events_only(rig: SlackRig):
    assert rig.service.app.state.socket_mode is None
    assert not rig.slack.calls("apps.connections.open")
    body = b'{"type": "url_verification", "challenge": "abc"}'
    with rig.service.client() as c:
        r = c.post(
            "/slack/events",
            content=body,
            headers={"Content-Type": "application/json", **sign(body)},
        )
    assert r.status_code == 200 and "abc" in r.text
