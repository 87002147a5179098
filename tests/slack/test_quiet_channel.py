"""The quiet channel (OBSERVE_CHANNEL): alerts that open no incident, one message per hub per
day, edited in place, with a Declare incident button; against the fake Slack."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bot.alerts.intake import Extras, ingest
from bot.alerts.schemas import AlertmanagerPayload
from bot.config import Settings
from bot.hubs import Registry
from tests.conftest import ROOT, Service, count, running
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import BOT_USER, FakeSlack
from tests.payloads import alert, delivery, resolved
from tests.rig import SlackRig

QUIET = "CQUIET0001"
# 2i2c's levels, as their rules write them: none of these opens an incident by default.
SAME_DAY = "same day action needed"
THIS_WEEK = "action needed this week"
NFS = "home-nfs has 10% of space left"
PENDING = "Pod stuck in Pending for at least 30m"


@pytest.fixture
def quiet_settings(slack_settings: Settings, fakes: tuple[FakeSlack, FakePagerDuty]) -> Settings:
    slack, _ = fakes
    # A channel the team made and invited the bot to.
    slack.add_channel("incident-bot-quiet", channel_id=QUIET, members=("UADA", BOT_USER))
    return slack_settings.model_copy(update={"observe_channel": QUIET})


@pytest.fixture
def rig(quiet_settings: Settings, fakes: tuple[FakeSlack, FakePagerDuty]) -> Iterator[SlackRig]:
    with running(quiet_settings) as svc:
        yield SlackRig(svc, *fakes)


def fire(service: Service, *alerts: dict[str, Any], group: str = "g") -> None:
    with service.am as c:
        r = c.post("/webhooks/alertmanager", json=delivery(*alerts, group_key=group))
    assert r.status_code == 200, r.text


def api(service: Service, path: str) -> Any:
    with service.api as c:
        r = c.get(path)
    assert r.status_code == 200, r.text
    return r.json()


def quiet_messages(slack: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in slack.messages(QUIET) if m.get("blocks")]


def shown(message: dict[str, Any]) -> str:
    """Every text a message's blocks show."""
    return json.dumps(message["blocks"])


def button(message: dict[str, Any]) -> dict[str, Any] | None:
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == "observe_declare":
                found: dict[str, Any] = element
                return found
    return None


def press_declare(rig: SlackRig, value: str, user: str = "UBOB") -> Any:
    return rig.press("observe_declare", value, user=user, channel=QUIET, block_id="quiet_actions")


def quiet_alerts() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    # 2i2c's alert names are sentences.
    nfs = alert(
        NFS,
        severity=SAME_DAY,
        summary="home-nfs has 10% of space left",
        fingerprint="f-nfs",
    )
    pending = alert(
        PENDING,
        severity=THIS_WEEK,
        summary="Pod stuck in Pending for at least 30m",
        fingerprint="f-pending",
    )
    other_hub = alert(
        PENDING,
        namespace="staging",
        severity=THIS_WEEK,
        summary="Pod stuck in Pending for at least 30m",
        fingerprint="f-staging",
    )
    return nfs, pending, other_hub


def test_quiet_alerts_get_one_message_per_hub_and_day(rig: SlackRig):
    nfs, pending, other_hub = quiet_alerts()
    fire(rig.service, nfs, pending)
    fire(rig.service, other_hub, group="g2")
    rig.wait_idle()
    assert api(rig.service, "/api/incidents") == []  # nothing here pages
    messages = quiet_messages(rig.slack)
    assert len(messages) == 2
    [prod] = [m for m in messages if "openscapes/prod" in m["text"]]
    text = shown(prod)
    # What an engineer needs at a glance: place, severity as the team names it, counts, runbook.
    assert "openscapes.2i2c.cloud" in text and "Openscapes" in text
    assert f"*P2* `{NFS}`: 1 firing" in text
    assert f"*P3* `{PENDING}`: 1 firing" in text
    assert "/runbooks/home-directory-disk|runbook>" in text
    assert text.index(NFS) < text.index(PENDING)  # worst first
    assert button(prod) is not None
    # Marked, so a retry whose answer was lost can find it.
    assert prod["metadata"]["event_type"] == "incident_bot_quiet_alerts"
    # Without the button pressed, the alerts are stored and listed, in no incident.
    listed = api(rig.service, "/api/alerts")
    assert len(listed) == 3 and all(a["incident"] is None for a in listed)


def test_the_message_is_edited_in_place_as_alerts_fire_and_resolve(rig: SlackRig):
    nfs, pending, _ = quiet_alerts()
    fire(rig.service, nfs)
    rig.wait_idle()
    [first] = quiet_messages(rig.slack)
    fire(rig.service, pending, group="g2")
    rig.wait_idle()
    fire(rig.service, resolved(nfs))
    rig.wait_idle()
    [message] = quiet_messages(rig.slack)
    assert message["ts"] == first["ts"] and "edited" in message
    text = shown(message)
    assert f"`{NFS}`: 1 resolved" in text
    assert f"`{PENDING}`: 1 firing" in text
    assert "1 firing, 1 resolved" in message["text"]
    # Still the one message: nothing was posted twice.
    assert len(rig.slack.calls("chat.postMessage")) == 1


def test_a_burst_of_changes_is_coalesced_into_few_edits(
    quiet_settings: Settings, fakes: tuple[FakeSlack, FakePagerDuty]
):
    # Slack's clock 10 times faster, not 100: an edit interval of 1.5 s.
    settings = quiet_settings.model_copy(update={"slack_rate_scale": 10.0})
    slack, pd = fakes
    with running(settings) as svc:
        rig = SlackRig(svc, slack, pd)
        for i in range(20):
            fire(svc, alert(f"PodRestarts{i}", severity=THIS_WEEK), group=f"g{i}")
        rig.wait_idle(timeout=20)
        [message] = quiet_messages(slack)
        assert message["text"].startswith("Quiet alerts on openscapes/prod")
        assert "20 firing" in message["text"]
        # 20 deliveries: one post and a handful of edits, not twenty writes.
        writes = len(slack.calls("chat.postMessage")) + len(slack.calls("chat.update"))
        assert writes <= 4, writes


def test_declare_opens_an_incident_for_the_hub_with_those_alerts(rig: SlackRig):
    nfs, pending, other_hub = quiet_alerts()
    fire(rig.service, nfs, pending)
    fire(rig.service, other_hub, group="g2")
    rig.wait_idle()
    [prod] = [m for m in quiet_messages(rig.slack) if "openscapes/prod" in m["text"]]
    found = button(prod)
    assert found is not None

    assert press_declare(rig, found["value"]).status_code == 200
    rig.wait_idle()
    [listed] = api(rig.service, "/api/incidents")
    inc = api(rig.service, f"/api/incidents/{listed['number']}")
    # The hub's incident, as severe as its worst alert, titled and named for that alert.
    assert (inc["cluster"], inc["hub"], inc["severity"]) == ("openscapes", "prod", "sev2")
    assert inc["title"] == "home-nfs has 10% of space left"
    assert inc["slack_channel_name"].endswith("-openscapes-prod-home-nfs-has-10-of-space-left")
    assert sorted(a["alertname"] for a in inc["alerts"]) == [PENDING, NFS]
    kinds = [e["kind"] for e in inc["timeline"]]
    assert kinds.count("alert_fired") == 2 and "declared" in kinds
    declared = next(e for e in inc["timeline"] if e["kind"] == "declared")
    assert "<@UBOB> from the quiet channel (P2)" in declared["text"]
    # The other hub's alert stays where it was.
    staging = [a for a in api(rig.service, "/api/alerts") if a["hub"] == "staging"]
    assert [a["incident"] for a in staging] == [None]
    # The message says where its alerts went, and offers nothing more to declare.
    [prod] = [m for m in quiet_messages(rig.slack) if "openscapes/prod" in m["text"]]
    text = shown(prod)
    assert f"Declared as incident #{inc['number']} <#{inc['slack_channel_id']}>" in text
    assert "by <@UBOB>" in text and button(prod) is None
    # The channel's summary shows the alerts it was opened with.
    summary = next(m for m in rig.slack.messages(inc["slack_channel_id"]) if m.get("blocks"))
    assert NFS in shown(summary)

    # Pressed again (a second engineer, a stale message): told where, nothing opened.
    slack_posts = len(rig.slack.calls("chat.postEphemeral"))
    assert press_declare(rig, found["value"], user="UCAROL").status_code == 200
    rig.wait_idle()
    assert len(api(rig.service, "/api/incidents")) == 1
    [told] = rig.slack.calls("chat.postEphemeral")[slack_posts:]
    assert f"in incident #{inc['number']} already" in told.args["text"]

    # The hub's incident is open: its next low alert joins it, not the quiet channel.
    fire(rig.service, alert("PodStuckTerminating", severity=THIS_WEEK, fingerprint="f-t"))
    rig.wait_idle()
    inc = api(rig.service, f"/api/incidents/{inc['number']}")
    assert "PodStuckTerminating" in {a["alertname"] for a in inc["alerts"]}
    [prod] = [m for m in quiet_messages(rig.slack) if "openscapes/prod" in m["text"]]
    assert "PodStuckTerminating" not in shown(prod)


def test_declare_adds_the_alerts_to_the_hubs_open_incident(rig: SlackRig):
    nfs, _, _ = quiet_alerts()
    fire(rig.service, nfs)
    rig.wait_idle()
    # Then an outage opens the hub's incident; the earlier quiet alert is not in it.
    fire(rig.service, alert("HubHealthCheckFailing", fingerprint="f-down"), group="g2")
    rig.wait_idle()
    [opened] = api(rig.service, "/api/incidents")
    [message] = quiet_messages(rig.slack)
    found = button(message)
    assert found is not None
    press_declare(rig, found["value"])
    rig.wait_idle()
    assert len(api(rig.service, "/api/incidents")) == 1
    inc = api(rig.service, f"/api/incidents/{opened['number']}")
    assert {a["alertname"] for a in inc["alerts"]} == {"HubHealthCheckFailing", NFS}
    assert any(
        e["kind"] == "note" and "1 alert added from the quiet channel by <@UBOB>" in e["text"]
        for e in inc["timeline"]
    )


def test_a_bad_button_changes_nothing(rig: SlackRig):
    for value in ("not-a-number", "0", "99999999999", "12345"):
        assert press_declare(rig, value).status_code == 200
    rig.wait_idle()
    assert api(rig.service, "/api/incidents") == []
    told = [c.args["text"] for c in rig.slack.calls("chat.postEphemeral")]
    assert len(told) == 4 and all("quiet channel" in t or "names no" in t for t in told)


def test_a_post_whose_answer_was_lost_is_not_posted_twice(rig: SlackRig):
    # Slack posts the message, but its answer never comes back (a gateway timing out).
    rig.slack.fail_next("chat.postMessage", 503, applied=True)
    nfs, _, _ = quiet_alerts()
    fire(rig.service, nfs)
    rig.wait_idle()
    assert len(rig.slack.calls("chat.postMessage")) == 1
    [message] = quiet_messages(rig.slack)
    # The retry found it by its metadata and keeps editing that one.
    fire(rig.service, resolved(nfs))
    rig.wait_idle()
    [edited] = quiet_messages(rig.slack)
    assert edited["ts"] == message["ts"] and "1 resolved" in edited["text"]


def test_a_restart_with_slack_down_posts_each_message_once(
    quiet_settings: Settings, fakes: tuple[FakeSlack, FakePagerDuty]
):
    slack, pd = fakes
    nfs, pending, other_hub = quiet_alerts()
    slack.down = True
    with running(quiet_settings) as svc:
        fire(svc, nfs, pending)
        fire(svc, other_hub, group="g2")
        slack.wait_for(lambda: slack.calls("chat.postMessage") or slack.calls("auth.test"))
    assert quiet_messages(slack) == []
    slack.down = False
    with running(quiet_settings) as svc:
        rig = SlackRig(svc, slack, pd)
        rig.wait_idle(timeout=20)
        # A delivery repeated after the restart (Alertmanager resends) changes nothing.
        fire(svc, nfs, pending)
        rig.wait_idle()
        assert count(svc.engine, "observation") == 2
    assert len(quiet_messages(slack)) == 2
    assert sorted(m["text"].split(",")[0] for m in quiet_messages(slack)) == [
        "Quiet alerts on openscapes/prod",
        "Quiet alerts on openscapes/staging",
    ]


def test_without_the_setting_nothing_is_queued_for_quiet_alerts(rig_plain: SlackRig):
    nfs, _, _ = quiet_alerts()
    fire(rig_plain.service, nfs)
    rig_plain.wait_idle()
    assert count(rig_plain.service.engine, "job", "kind = 'slack.observe'") == 0
    assert rig_plain.slack.calls("chat.postMessage") == []


@pytest.fixture
def rig_plain(slack_settings: Settings, fakes: tuple[FakeSlack, FakePagerDuty]):
    with running(slack_settings) as svc:
        yield SlackRig(svc, *fakes)


def test_an_alert_stays_on_the_day_it_was_first_seen(engine: sa.Engine):
    # Fired just before midnight (UTC), resolved the next morning: the first day's message
    # is the one brought up to date.
    registry = Registry.load(ROOT / "hubs.yaml")
    nfs, _, _ = quiet_alerts()
    evening = datetime(2026, 11, 25, 23, 59, tzinfo=UTC)
    for payload, now in (
        (delivery(nfs), evening),
        (delivery(resolved(nfs, "2026-11-26T06:00:00Z")), evening + timedelta(hours=6)),
    ):
        with engine.begin() as conn:
            ingest(
                conn,
                registry,
                [AlertmanagerPayload.model_validate(payload)],
                now=now,
                extras=Extras(quiet_channel=True),
            )
        with engine.begin() as conn:
            jobs = conn.execute(sa.text("SELECT payload FROM job")).scalars().all()
            conn.execute(sa.text("DELETE FROM job"))
        payloads = [json.loads(j) if isinstance(j, str) else j for j in jobs]
        assert payloads == [{"day": "2026-11-25", "cluster": "openscapes", "hub": "prod"}]


def test_a_lost_answer_and_a_newer_change_still_make_one_message(rig: SlackRig):
    # The post goes through but its answer is lost, and the hub's alerts change meanwhile:
    # whichever job comes next finds that post before it makes one.
    rig.slack.fail_next("chat.postMessage", 503, applied=True)
    nfs, pending, _ = quiet_alerts()
    fire(rig.service, nfs)
    fire(rig.service, pending, group="g2")
    rig.wait_idle()
    [message] = quiet_messages(rig.slack)
    assert "2 firing" in message["text"]


def test_a_deleted_message_is_posted_again(rig: SlackRig):
    nfs, pending, _ = quiet_alerts()
    fire(rig.service, nfs)
    rig.wait_idle()
    with rig.slack.lock:
        rig.slack.channels[QUIET]["messages"].clear()  # someone deleted it
    fire(rig.service, pending, group="g2")
    rig.wait_idle()
    [message] = quiet_messages(rig.slack)
    assert "2 firing" in message["text"]
    assert count(rig.service.engine, "job", "status = 'dead'") == 0


def test_a_cluster_wide_alert_gets_the_clusters_message(rig: SlackRig):
    fire(rig.service, alert("Disk IO approaching saturation", namespace=None, severity=THIS_WEEK))
    rig.wait_idle()
    [message] = quiet_messages(rig.slack)
    assert message["text"].startswith("Quiet alerts on openscapes (cluster-wide)")
    found = button(message)
    assert found is not None
    press_declare(rig, found["value"])
    rig.wait_idle()
    [inc] = api(rig.service, "/api/incidents")
    assert (inc["cluster"], inc["hub"], inc["severity"]) == ("openscapes", None, "sev3")


def test_many_alert_names_and_hostile_text_fit_one_message(rig: SlackRig):
    noisy = [
        alert(
            f"Noisy{i}",
            severity=THIS_WEEK,
            summary=f"<!here> {'very long words ' * 30}\nsecond line {i}",
        )
        for i in range(25)
    ]
    fire(rig.service, *noisy)
    rig.wait_idle()
    [message] = quiet_messages(rig.slack)
    [listing] = [b for b in message["blocks"] if "Noisy" in json.dumps(b)]
    text = listing["text"]["text"]
    assert len(text) <= 3000
    assert "more alert names" in text.splitlines()[-1]
    assert "<!here>" not in json.dumps(message["blocks"]) and "&lt;!here&gt;" in text
    assert "25 firing" in message["text"]


def test_after_the_declared_incident_resolves_new_quiet_alerts_can_be_declared(rig: SlackRig):
    nfs, pending, _ = quiet_alerts()
    fire(rig.service, nfs)
    rig.wait_idle()
    first = button(quiet_messages(rig.slack)[0])
    assert first is not None
    press_declare(rig, first["value"])
    rig.wait_idle()
    [inc] = api(rig.service, "/api/incidents")
    channel = api(rig.service, f"/api/incidents/{inc['number']}")["slack_channel_id"]
    assert "resolved" in rig.reply("resolve fixed", channel=channel).lower()
    rig.wait_idle()
    fire(rig.service, pending, group="g2")
    rig.wait_idle()
    [message] = quiet_messages(rig.slack)
    text = shown(message)
    assert f"Declared as incident #{inc['number']}" in text and PENDING in text
    again = button(message)
    assert again is not None and again["value"] == first["value"]
    press_declare(rig, again["value"])
    rig.wait_idle()
    second = api(rig.service, "/api/incidents")[0]
    assert second["number"] != inc["number"] and second["status"] == "investigating"
    assert [
        a["alertname"] for a in api(rig.service, f"/api/incidents/{second['number']}")["alerts"]
    ] == [PENDING]
