"""Opening an incident's channel from an alert: name, topic, commander, summary, bookmark."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from bot import cli
from bot.config import Settings
from tests.conftest import ROOT, Service, count, running
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.payloads import alert, delivery
from tests.rig import SlackRig

RUNBOOK = """---
title: A hub is down
alerts: ["HubHealthCheckFailing", "Hub.*Down"]
---
# When a hub is down

1. Open the hub's URL and see what users see.
2. `kubectl -n <hub> get pods` for crash loops.
3. Check the proxy logs.

More words.
"""


def fire(service: Service, *alerts: dict[str, Any]) -> dict[str, Any]:
    with service.am as c:
        r = c.post("/webhooks/alertmanager", json=delivery(*alerts))
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def incident(service: Service, number: int = 1) -> dict[str, Any]:
    with service.api as c:
        found: dict[str, Any] = c.get(f"/api/incidents/{number}").json()
    return found


@pytest.fixture
def runbooks(tmp_path: Path) -> Path:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "hub-down.md").write_text(RUNBOOK)
    return folder


@pytest.fixture
def rig(slack_settings: Settings, fakes: tuple[FakeSlack, FakePagerDuty], runbooks: Path):
    settings = slack_settings.model_copy(update={"runbooks_dir": runbooks})
    with running(settings) as svc:
        yield SlackRig(svc, *fakes)


def test_an_alert_opens_a_complete_channel(rig: SlackRig):
    fire(rig.service, alert("HubHealthCheckFailing", summary="Hub openscapes/prod is down"))
    rig.wait_idle()
    inc = incident(rig.service)
    name = inc["slack_channel_name"]
    # Named for the alert, in words, not for a summary that repeats the cluster and hub.
    assert re.fullmatch(r"inc-\d{8}-openscapes-prod-hub-health-check-failing", name)
    channel = rig.slack.channel_by_name(name)
    assert channel is not None and inc["slack_channel_id"] == channel["id"]
    # The on-call person of the cluster's escalation policy, found by email, is commander.
    assert inc["roles"] == {"commander": "UADA"}
    assert "UADA" in channel["members"]
    assert {"kind": "role_assigned"}.items() <= next(
        e for e in inc["timeline"] if e["kind"] == "role_assigned"
    ).items()
    topic = channel["topic"]["value"] if isinstance(channel["topic"], dict) else channel["topic"]
    assert "P1 | " in topic and "investigating" in topic and "<@UADA>" in topic
    [summary] = [m for m in rig.slack.messages(channel["id"]) if m.get("blocks")]
    text = str(summary["blocks"])
    assert "openscapes.2i2c.cloud" in text and "Openscapes" in text
    assert "http://127.0.0.1:8080/runbooks/hub-down" in text
    assert "Open the hub's URL and see what users see." in text
    assert "HubHealthCheckFailing" in text and "<@UADA>" in text
    actions = [b for b in summary["blocks"] if b["type"] == "actions"][0]["elements"]
    assert [a["action_id"] for a in actions] == [
        "incident_take_command",
        "incident_acknowledge",
        "incident_resolve",
    ]
    [bookmark] = rig.slack.bookmarks(channel["id"])
    assert bookmark["link"] == "http://127.0.0.1:8080/runbooks/hub-down"
    assert rig.pagerduty.calls("GET /oncalls")
    oncall_query = rig.pagerduty.calls("GET /oncalls")[0].query
    assert "P7QK2LM" in str(oncall_query)


def test_an_alert_storm_opens_one_channel_per_hub(rig: SlackRig):
    alerts = [
        alert(f"A{i}", namespace=["staging", "prod"][i % 2], fingerprint=f"{i:016x}")
        for i in range(40)
    ]
    fire(rig.service, *alerts)
    rig.wait_idle()
    assert len(rig.slack.calls("conversations.create")) == 2
    assert len(rig.slack.channels) == 2
    # The summary groups the alerts rather than listing 40 lines.
    for channel in rig.slack.channels.values():
        [summary] = [m for m in rig.slack.messages(channel["id"]) if m.get("blocks")]
        assert "20 firing of 20" in str(summary["blocks"])


def test_route_predicts_the_channel_name_the_service_uses(
    rig: SlackRig, capsys: pytest.CaptureFixture[str]
):
    labels = ["alertname=JupyterHubHealthCheckFailed", "cluster=openscapes", "namespace=prod"]
    fire(rig.service, alert("JupyterHubHealthCheckFailed", summary="Hub openscapes/prod is down"))
    rig.wait_idle()
    args = ["route", "--json", "--hubs", str(ROOT / "hubs.yaml")]
    for label in [*labels, "severity=critical"]:
        args += ["--label", label]
    assert cli.main(args) == 0
    predicted = json.loads(capsys.readouterr().out)["channel"]
    assert predicted == incident(rig.service)["slack_channel_name"]


def test_a_taken_name_gets_a_suffix(rig: SlackRig):
    fire(rig.service, alert("HubHealthCheckFailing", summary="Hub down"))
    rig.wait_idle()
    first = incident(rig.service)["slack_channel_name"]
    # Someone else made the next incident's name first.
    with rig.service.engine.begin() as conn:
        conn.execute(sa.text("UPDATE incident SET status='resolved', open_scope=NULL"))
    rig.slack.add_channel(first + "-2", creator="UOTHER")
    fire(rig.service, alert("HubHealthCheckFailing", summary="Hub down", pod="hub-2"))
    rig.wait_idle()
    second = incident(rig.service, 2)["slack_channel_name"]
    # The first name is ours already and -2 is someone else's: -3.
    assert second == first + "-3"


def test_a_job_that_runs_twice_still_makes_one_channel(rig: SlackRig):
    fire(rig.service, alert())
    rig.wait_idle()
    name = incident(rig.service)["slack_channel_name"]
    # As if the job had died after Slack made the channel but before the id was saved.
    with rig.service.engine.begin() as conn:
        conn.execute(sa.text("UPDATE incident SET slack_channel_id=NULL, slack_summary_ts=NULL"))
        conn.execute(
            sa.text(
                "UPDATE job SET status='pending', run_at=created_at WHERE kind='slack.open_channel'"
            )
        )
    rig.service.app.state.worker.wake()
    rig.wait_idle()
    assert [c["name"] for c in rig.slack.channels.values()] == [name]
    assert incident(rig.service)["slack_channel_id"] == rig.slack.channel_by_name(name)["id"]


def test_rate_limits_are_waited_out_with_exactly_one_channel(rig: SlackRig):
    rig.slack.fail_next("conversations.create", 429, times=4, headers={"Retry-After": "1"})
    fire(rig.service, alert())
    rig.wait_idle(timeout=20)
    assert len(rig.slack.channels) == 1
    assert len(rig.slack.calls("conversations.create")) == 5
    assert incident(rig.service)["slack_channel_id"] is not None
    with rig.service.client() as c:
        assert 'status="dead"} 0.0' in c.get("/metrics").text


def test_slack_down_mid_flow_is_retried_until_done(rig: SlackRig):
    rig.slack.fail_next("chat.postMessage", 503, times=3)
    fire(rig.service, alert())
    rig.wait_idle(timeout=20)
    channel = incident(rig.service)["slack_channel_id"]
    assert len(rig.slack.channels) == 1
    assert len([m for m in rig.slack.messages(channel) if m.get("blocks")]) == 1


def test_slack_down_at_boot(slack_settings: Settings, fakes: tuple[FakeSlack, FakePagerDuty]):
    slack, pd = fakes
    slack.down = True
    with running(slack_settings) as svc:
        with svc.client() as c:
            assert c.get("/readyz").status_code == 200
        fire(svc, alert())
        slack.wait_for(lambda: len(slack.requests) > 0)
        assert slack.channels == {}
        slack.down = False
        SlackRig(svc, slack, pd).wait_idle(timeout=20)
        assert incident(svc)["slack_channel_id"] is not None


def test_without_an_on_call_person_the_summary_says_so(rig: SlackRig):
    rig.pagerduty.oncall.clear()
    fire(rig.service, alert())
    rig.wait_idle()
    inc = incident(rig.service)
    assert inc["roles"] == {}
    [summary] = [m for m in rig.slack.messages(inc["slack_channel_id"]) if m.get("blocks")]
    assert "nobody is on call for escalation policy P7QK2LM" in str(summary["blocks"])
    assert "incident_take_command" in str(summary["blocks"])


def test_pagerduty_down_does_not_hold_the_channel_up(rig: SlackRig):
    rig.pagerduty.down = True
    fire(rig.service, alert())
    rig.wait_idle(timeout=20)
    inc = incident(rig.service)
    assert inc["slack_channel_id"] is not None and inc["roles"] == {}
    assert "could not ask PagerDuty" in str(rig.slack.messages(inc["slack_channel_id"]))


def test_without_slack_configured_no_job_is_queued(settings: Settings):
    # Slack turned on later opens channels for the incidents still open (tests/test_write_api).
    with running(settings.model_copy(update={"slack_bot_token": SecretStr("")})) as svc:
        fire(svc, alert())
        assert count(svc.engine, "job") == 0
        with svc.client() as c:
            assert c.post("/slack/events", content=b"x").status_code == 401


def test_alerts_joining_later_update_the_summary_in_place(rig: SlackRig):
    fire(rig.service, alert("HubHealthCheckFailing"))
    rig.wait_idle()
    fire(rig.service, alert("ProxyPodRestarts", severity="warning"))
    rig.wait_idle()
    channel = incident(rig.service)["slack_channel_id"]
    [summary] = [m for m in rig.slack.messages(channel) if m.get("blocks")]
    assert "ProxyPodRestarts" in str(summary["blocks"])
    assert "2 firing of 2" in str(summary["blocks"])
