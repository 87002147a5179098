"""PagerDuty V3 webhooks, signed as PagerDuty signs them, and the writes back to PagerDuty."""

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.config import Settings
from tests.conftest import count, running
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.payloads import alert, delivery
from tests.rig import SlackRig

SECRET = "pd-webhook-secret"
OPENSCAPES_SERVICE = "PQ4OSC8"


@pytest.fixture
def rig(slack_settings: Settings, fakes: tuple[FakeSlack, FakePagerDuty]) -> Iterator[SlackRig]:
    settings = slack_settings.model_copy(update={"pagerduty_webhook_secret": SecretStr(SECRET)})
    with running(settings) as svc:
        yield SlackRig(svc, *fakes)


def signature(body: bytes, secret: str = SECRET) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send(rig: SlackRig, body: bytes, sig: str | None = "sign") -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if sig is not None:
        headers["X-PagerDuty-Signature"] = signature(body) if sig == "sign" else sig
    with rig.service.client() as c:
        return c.post("/webhooks/pagerduty", content=body, headers=headers)


def event(
    kind: str, data: dict[str, Any], *, event_id: str = "01EV", agent: str | None = None
) -> bytes:
    return json.dumps(
        {
            "event": {
                "id": event_id,
                "event_type": kind,
                "resource_type": "incident",
                "occurred_at": "2026-11-25T10:05:00Z",
                "agent": {"id": agent, "type": "user_reference", "summary": "Ada Lovelace"}
                if agent
                else None,
                "client": None,
                "data": data,
            }
        }
    ).encode()


def pd_incident(
    pd_id: str = "Q1", *, key: str | None = None, service: str = OPENSCAPES_SERVICE, **extra: Any
) -> dict[str, Any]:
    return {
        "id": pd_id,
        "type": "incident",
        "title": "Hub down",
        "number": 7,
        "status": "triggered",
        "incident_key": key,
        "html_url": f"https://example.pagerduty.com/incidents/{pd_id}",
        "service": {"id": service, "type": "service_reference", "summary": "hubs"},
        "assignees": [],
        "urgency": "high",
        **extra,
    }


def deliver(rig: SlackRig, body: bytes) -> dict[str, Any]:
    r = send(rig, body)
    assert r.status_code == 202, r.text
    rig.wait_idle()
    result: dict[str, Any] = r.json()
    return result


def incidents(rig: SlackRig) -> list[dict[str, Any]]:
    with rig.service.api as c:
        found: list[dict[str, Any]] = c.get("/api/incidents").json()
    return found


def detail(rig: SlackRig, number: int) -> dict[str, Any]:
    with rig.service.api as c:
        found: dict[str, Any] = c.get(f"/api/incidents/{number}").json()
    return found


def nothing_stored(rig: SlackRig) -> bool:
    return all(count(rig.service.engine, t) == 0 for t in ("inbound_event", "job", "incident"))


@pytest.mark.parametrize(
    "sig", [None, "", "v1=deadbeef", "v0=" + "0" * 64, signature(b"other body")]
)
def test_bad_or_missing_signatures_are_401(rig: SlackRig, sig: str | None):
    r = send(rig, event("incident.triggered", pd_incident()), sig=sig)
    assert r.status_code == 401
    assert nothing_stored(rig)


def test_any_one_valid_signature_of_several_is_enough(rig: SlackRig):
    body = event("incident.triggered", pd_incident())
    sig = f"v1=0000, {signature(body)}, v1=ffff"
    assert send(rig, body, sig=sig).status_code == 202


def test_without_a_secret_everything_is_refused(slack_settings: Settings):
    with running(slack_settings) as svc:
        body = event("incident.triggered", pd_incident())
        with svc.client() as c:
            r = c.post(
                "/webhooks/pagerduty",
                content=body,
                headers={"X-PagerDuty-Signature": signature(body)},
            )
        assert r.status_code == 401 and "not configured" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{nope", 400),
        (b"[]", 422),
        (b'{"event": {}}', 422),
        (b'{"event": {"id": "x"}}', 422),
    ],
)
def test_bad_bodies_are_400_or_422(rig: SlackRig, body: bytes, status: int):
    r = send(rig, body)
    assert r.status_code == status and r.json()["detail"]
    assert nothing_stored(rig)


def test_other_event_types_are_accepted_and_ignored(rig: SlackRig):
    r = send(rig, event("service.updated", {"id": "PSVC", "type": "service"}))
    assert r.status_code == 202 and r.json()["status"] == "ignored"
    assert nothing_stored(rig)


def test_a_repeated_event_id_changes_nothing(rig: SlackRig):
    body = event("incident.triggered", pd_incident())
    assert deliver(rig, body)["status"] == "accepted"
    assert deliver(rig, body)["status"] == "duplicate"
    assert len(incidents(rig)) == 1
    assert count(rig.service.engine, "job", "kind = 'pagerduty.event'") == 1


def test_a_triggered_incident_on_a_known_service_opens_a_cluster_incident(rig: SlackRig):
    deliver(rig, event("incident.triggered", pd_incident(priority={"summary": "P1"})))
    [inc] = incidents(rig)
    assert (inc["cluster"], inc["hub"], inc["community"]) == ("openscapes", None, "openscapes")
    assert inc["pagerduty_incident_id"] == "Q1" and inc["severity"] == "sev1"
    assert inc["slack_channel_id"]  # a channel like any other incident's


def test_an_unknown_service_is_unmapped_not_dropped(rig: SlackRig):
    deliver(rig, event("incident.triggered", pd_incident(service="PNOPE")))
    [inc] = incidents(rig)
    assert (inc["cluster"], inc["hub"]) == (None, None)
    assert inc["pagerduty_incident_id"] == "Q1"


def test_alertmanager_first_then_its_pagerduty_incident(rig: SlackRig):
    body = delivery(alert(), group_key='{}:{alertname="HubHealthCheckFailing"}')
    with rig.service.am as c:
        c.post("/webhooks/alertmanager", json=body)
    key = hashlib.sha256(body["groupKey"].encode()).hexdigest()
    deliver(rig, event("incident.triggered", pd_incident(key=key)))
    [inc] = incidents(rig)
    assert inc["pagerduty_incident_id"] == "Q1" and inc["hub"] == "prod"


def test_pagerduty_first_then_the_alertmanager_group(rig: SlackRig):
    body = delivery(alert(), group_key='{}:{alertname="HubHealthCheckFailing"}')
    key = hashlib.sha256(body["groupKey"].encode()).hexdigest()
    deliver(rig, event("incident.triggered", pd_incident(key=key)))
    with rig.service.am as c:
        result = c.post("/webhooks/alertmanager", json=body).json()
    assert result["incidents_opened"] == []
    [inc] = incidents(rig)
    assert [a["alertname"] for a in detail(rig, inc["number"])["alerts"]] == [
        "HubHealthCheckFailing"
    ]


def test_acknowledged_names_the_acknowledger_commander(rig: SlackRig):
    rig.pagerduty.oncall.clear()
    deliver(rig, event("incident.triggered", pd_incident()))
    deliver(
        rig,
        event(
            "incident.acknowledged",
            pd_incident(status="acknowledged"),
            event_id="02",
            agent="PUADA",
        ),
    )
    [inc] = incidents(rig)
    assert inc["roles"] == {"commander": "UADA"}
    assert "acknowledged" in [e["kind"] for e in detail(rig, inc["number"])["timeline"]]


def test_escalated_and_reassigned_invite_the_new_assignees(rig: SlackRig):
    rig.slack.add_user("UBOB", "bob@example.org", "Bob")
    rig.pagerduty.add_user("PUBOB", "bob@example.org", "Bob")
    deliver(rig, event("incident.triggered", pd_incident()))
    assignees = [{"id": "PUBOB", "type": "user_reference", "summary": "Bob"}]
    deliver(rig, event("incident.escalated", pd_incident(assignees=assignees), event_id="02"))
    deliver(rig, event("incident.reassigned", pd_incident(assignees=assignees), event_id="03"))
    [inc] = incidents(rig)
    assert "UBOB" in rig.slack.channels[inc["slack_channel_id"]]["members"]
    texts = [e["text"] for e in detail(rig, inc["number"])["timeline"] if e["kind"] == "escalated"]
    assert texts == ["Escalated on PagerDuty to Bob", "Reassigned on PagerDuty to Bob"]


def test_annotations_and_priority_go_on_the_timeline_and_not_back(rig: SlackRig):
    deliver(rig, event("incident.triggered", pd_incident()))
    deliver(
        rig,
        event(
            "incident.annotated",
            {
                "incident": {"id": "Q1", "type": "incident_reference"},
                "id": "N1",
                "content": "Restarted the NFS server",
                "type": "incident_note",
            },
            event_id="02",
            agent="PUADA",
        ),
    )
    deliver(
        rig,
        event("incident.priority_updated", pd_incident(priority={"summary": "P2"}), event_id="03"),
    )
    [inc] = incidents(rig)
    texts = [e["text"] for e in detail(rig, inc["number"])["timeline"] if e["kind"] == "note"]
    assert texts == [
        "Restarted the NFS server (Ada Lovelace, on PagerDuty)",
        "PagerDuty priority set to P2 by PagerDuty",
    ]
    assert rig.pagerduty.calls("POST /incidents/*/notes") == []


def test_resolved_on_pagerduty_resolves_here_without_a_loop(rig: SlackRig):
    deliver(rig, event("incident.triggered", pd_incident()))
    deliver(
        rig,
        event("incident.resolved", pd_incident(status="resolved"), event_id="02", agent="PUADA"),
    )
    [inc] = incidents(rig)
    assert inc["status"] == "resolved"
    assert rig.pagerduty.calls("PUT /incidents/*") == []


def test_resolved_in_slack_resolves_on_pagerduty_once(rig: SlackRig):
    deliver(rig, event("incident.triggered", pd_incident()))
    # The incident exists on the fake PagerDuty too, as it would.
    rig.pagerduty.incidents["Q1"] = {**pd_incident(), "status": "triggered"}
    rig.pagerduty.notes["Q1"] = []
    [inc] = incidents(rig)
    channel = inc["slack_channel_id"]
    rig.reply("note checking the proxy", channel=channel)
    rig.reply("update users can log in again", channel=channel)
    assert rig.reply("resolve fixed", channel=channel) == "Resolved."
    rig.wait_idle()
    [put] = rig.pagerduty.calls("PUT /incidents/Q1")
    assert put.json["incident"]["status"] == "resolved"
    notes = [r.json["note"]["content"] for r in rig.pagerduty.calls("POST /incidents/Q1/notes")]
    assert notes == ["checking the proxy", "Update for the community: users can log in again"]
    # PagerDuty then tells us it is resolved: nothing more happens.
    deliver(rig, event("incident.resolved", pd_incident(status="resolved"), event_id="09"))
    assert len(rig.pagerduty.calls("PUT /incidents/*")) == 1


def test_pagerduty_down_during_a_page_pages_once_when_back(rig: SlackRig):
    with rig.service.am as c:
        c.post("/webhooks/alertmanager", json=delivery(alert()))
    rig.wait_idle()
    [inc] = incidents(rig)
    rig.pagerduty.fail_next("POST /incidents", 503, times=4)
    assert "P7QK2LM" in rig.reply("page", channel=inc["slack_channel_id"])
    rig.wait_idle(timeout=30)
    assert len(rig.pagerduty.incidents) == 1
    assert detail(rig, inc["number"])["pagerduty_incident_id"] in rig.pagerduty.incidents
