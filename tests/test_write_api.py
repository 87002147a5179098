"""The write API: declare, resolve, notes, updates and roles without Slack, through the same
flows and timeline as the slash commands; jobs only for configured integrations; and Slack
turned on later opening channels for the incidents still open."""

import logging
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.config import Settings
from bot.db import make_engine
from bot.hubs import Registry
from bot.incidents import effects, flows
from bot.incidents.catch_up import open_missing_channels
from bot.jobs import queue
from tests.conftest import ROOT, Service, count, running
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.rig import SlackRig

DECLARE = {"hub": "leap/prod", "severity": "sev2", "title": "Hub is down"}


def declare(svc: Service, **body: Any) -> dict[str, Any]:
    with svc.api as c:
        r = c.post("/api/incidents", json={**DECLARE, **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


def kinds(incident: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in incident["timeline"]]


def test_writes_need_the_token_and_change_nothing(service: Service):
    for token in (None, "wrong"):
        with service.client(token) as c:
            assert c.post("/api/incidents", json=DECLARE).status_code == 401
    number = declare(service)["number"]
    for token in (None, "wrong"):
        with service.client(token) as c:
            for path, body in [
                ("resolve", {"summary": "x"}),
                ("notes", {"text": "x"}),
                ("updates", {"text": "x"}),
                ("roles", {"role": "commander", "user": "U1ADA"}),
            ]:
                r = c.post(f"/api/incidents/{number}/{path}", json=body)
                assert r.status_code == 401, path
    assert count(service.engine, "incident") == 1
    assert count(service.engine, "timeline_event") == 1


def test_declare_answers_201_with_the_incident_as_get_shows_it(service: Service):
    made = declare(service)
    assert made["number"] == 1
    assert (made["cluster"], made["hub"], made["community"]) == ("leap", "prod", "leap")
    assert (made["status"], made["severity"], made["title"]) == (
        "investigating",
        "sev2",
        "Hub is down",
    )
    assert kinds(made) == ["declared"]
    assert made["timeline"][0]["actor"] is None
    with service.api as c:
        assert c.get("/api/incidents/1").json() == made
        # A cluster: cluster-wide. A second incident of a hub stands beside the first.
        r = c.post("/api/incidents", json={**DECLARE, "hub": "leap"})
        assert r.status_code == 201
        assert (r.json()["cluster"], r.json()["hub"]) == ("leap", None)
        assert r.headers["location"] == "/api/incidents/2"
        r = c.post("/api/incidents", json=DECLARE)
        assert r.status_code == 201 and r.headers["x-also-open"] == "1"
        # A title is one line of printable text: control characters, C1 too, are blanks.
        r = c.post("/api/incidents", json={**DECLARE, "title": "Hub\x07down\x9bnow\r\nagain"})
        assert r.json()["title"] == "Hub down now again"


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({**DECLARE, "hub": "nowhere/prod"}, 422, "leap/prod"),
        ({**DECLARE, "hub": ""}, 422, "hub"),
        ({**DECLARE, "severity": "sev9"}, 422, "severity"),
        ({**DECLARE, "title": "   "}, 422, "title"),
        ({**DECLARE, "title": "a\x00b"}, 422, "NUL"),
        ({**DECLARE, "titel": "typo"}, 422, "titel"),
        ({"hub": "leap/prod", "severity": "sev2"}, 422, "title"),
        ([DECLARE], 422, ""),
        ("not an object", 422, ""),
    ],
)
def test_a_bad_declaration_is_refused_and_changes_nothing(
    service: Service, body: Any, status: int, says: str
):
    with service.api as c:
        r = c.post("/api/incidents", json=body)
    assert r.status_code == status, r.text
    assert r.json()["detail"] and says in str(r.json()["detail"])
    assert count(service.engine, "incident") == 0
    assert count(service.engine, "job") == 0


@pytest.mark.parametrize(
    "raw", [b"{not json", b"", b'{"hub": "leap/prod", "severity": "sev2", "title": "\\ud800"}']
)
def test_a_body_that_is_not_json_or_not_storable_is_refused(service: Service, raw: bytes):
    with service.api as c:
        r = c.post("/api/incidents", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert r.json()["detail"]
    assert count(service.engine, "incident") == 0


def test_notes_updates_roles_and_resolve_write_the_timeline(service: Service):
    number = declare(service)["number"]
    with service.api as c:
        r = c.post(f"/api/incidents/{number}/notes", json={"text": "  looked at the logs "})
        assert r.status_code == 200, r.text
        r = c.post(f"/api/incidents/{number}/updates", json={"text": "We are on it."})
        assert r.status_code == 200
        r = c.post(f"/api/incidents/{number}/roles", json={"role": "commander", "user": "<@U1ADA>"})
        assert r.status_code == 200 and r.json()["roles"] == {"commander": "U1ADA"}
        # The same role to the same person: nothing new.
        r = c.post(f"/api/incidents/{number}/roles", json={"role": "commander", "user": "U1ADA"})
        assert r.status_code == 200
        r = c.post(f"/api/incidents/{number}/resolve", json={"summary": "restarted the hub"})
        assert r.status_code == 200
        done = r.json()
    assert done["status"] == "resolved" and done["resolved_at"]
    assert kinds(done) == ["declared", "note", "update", "role_assigned", "resolved"]
    shown = {e["kind"]: e for e in done["timeline"]}
    assert shown["note"]["text"] == "looked at the logs"
    assert shown["note"]["visibility"] == "internal"
    assert shown["update"]["visibility"] == "partner"
    assert shown["resolved"]["text"] == "Resolved by the API: restarted the hub"
    assert shown["role_assigned"]["text"].startswith("<@U1ADA> is ")


def test_a_resolved_incident_is_a_409_and_stays_as_it_was(service: Service):
    number = declare(service)["number"]
    with service.api as c:
        # No body at all: resolved without a summary.
        assert c.post(f"/api/incidents/{number}/resolve").status_code == 200
        before = c.get(f"/api/incidents/{number}").json()
        r = c.post(f"/api/incidents/{number}/resolve", json={"summary": "again"})
        assert r.status_code == 409
        assert "resolved" in r.json()["detail"]
        assert c.get(f"/api/incidents/{number}").json() == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("notes", {"text": ""}),
        ("notes", {"text": "   "}),
        ("notes", {}),
        ("updates", {"text": "x\x00"}),
        ("roles", {"role": "chef", "user": "U1ADA"}),
        ("roles", {"role": "scribe", "user": "ada"}),
        ("roles", {"role": "scribe"}),
        ("resolve", {"summary": 3}),
        ("resolve", {"sumary": "typo"}),
    ],
)
def test_bad_bodies_on_an_incident_are_422_and_change_nothing(
    service: Service, path: str, body: dict[str, Any]
):
    number = declare(service)["number"]
    with service.api as c:
        before = c.get(f"/api/incidents/{number}").json()
        r = c.post(f"/api/incidents/{number}/{path}", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["detail"]
        assert c.get(f"/api/incidents/{number}").json() == before


@pytest.mark.parametrize("path", ["resolve", "notes", "updates", "roles"])
def test_an_unknown_incident_is_404(service: Service, path: str):
    body = {"text": "x", "summary": "x", "role": "sme", "user": "U1ADA"}
    wanted = {
        "resolve": ["summary"],
        "notes": ["text"],
        "updates": ["text"],
        "roles": ["role", "user"],
    }[path]
    with service.api as c:
        r = c.post(f"/api/incidents/99/{path}", json={k: body[k] for k in wanted})
        assert r.status_code == 404 and r.json()["detail"] == "no incident 99"
        assert c.post(f"/api/incidents/0/{path}", json={}).status_code == 422


def test_without_integrations_no_job_is_queued(service: Service):
    number = declare(service)["number"]
    with service.api as c:
        for path, body in [
            ("notes", {"text": "n"}),
            ("updates", {"text": "u"}),
            ("roles", {"role": "scribe", "user": "U1ADA"}),
            ("resolve", {"summary": "s"}),
        ]:
            assert c.post(f"/api/incidents/{number}/{path}", json=body).status_code == 200
    assert count(service.engine, "job") == 0


def test_with_slack_the_declared_incident_gets_its_channel(rig: SlackRig):
    made = declare(rig.service, title="Declared by API")
    rig.wait_idle()
    with rig.service.api as c:
        shown = c.get(f"/api/incidents/{made['number']}").json()
    assert shown["slack_channel_name"].startswith("inc-")
    assert shown["slack_channel_name"].endswith("-leap-prod-declared-by-api")
    assert rig.slack.channel_by_name(shown["slack_channel_name"]) is not None


def test_enqueue_skips_the_integrations_not_configured(engine: Engine):
    ref = effects.IncidentRef(incident=1)
    with engine.begin() as conn:
        # Never configured: everything is queued (as before).
        assert queue.enqueue(conn, effects.REFRESH, ref)
    queue.configure(engine, ["pagerduty", None])
    with engine.begin() as conn:
        assert not queue.enqueue(conn, effects.OPEN_CHANNEL, ref)
        assert queue.enqueue(conn, effects.RESOLVE_PAGERDUTY, ref)
        assert queue.enqueue(conn, effects.PAGERDUTY_EVENT, effects.PagerDutyEvent(event={}))
    assert count(engine, "job") == 3


def test_slack_turned_on_later_opens_channels_for_open_incidents_newest_first(
    settings: Settings,
    slack_settings: Settings,
    fakes: tuple[FakeSlack, FakePagerDuty],
    caplog: pytest.LogCaptureFixture,
):
    with running(settings) as svc:
        numbers = [declare(svc, hub=hub)["number"] for hub in ("leap/prod", "leap", "leap/prod")]
        with svc.api as c:
            assert c.post(f"/api/incidents/{numbers[1]}/resolve").status_code == 200
        assert count(svc.engine, "job") == 0
    caplog.set_level(logging.INFO, logger="bot.incidents.catch_up")
    with running(slack_settings) as svc:
        rig = SlackRig(svc, *fakes)
        with svc.engine.connect() as conn:
            opened = conn.exec_driver_sql(
                "SELECT queue_key FROM job WHERE kind = 'slack.open_channel' ORDER BY id"
            ).all()
        assert [r[0] for r in opened] == ["incident:3", "incident:1"]
        rig.wait_idle()
        with svc.api as c:
            channels = {i["number"]: i["slack_channel_id"] for i in c.get("/api/incidents").json()}
        assert channels[1] and channels[3] and channels[2] is None
        assert "opening Slack channels for 2 open incidents" in caplog.messages
    # Started again: every open incident has its channel, nothing more is queued.
    engine = make_engine(settings.database_url)
    try:
        queue.configure(engine, ["slack"])
        assert open_missing_channels(engine) == 0
    finally:
        engine.dispose()


def test_catch_up_skips_an_incident_whose_channel_job_waits_or_died(engine: Engine):
    registry = Registry.load(ROOT / "hubs.yaml")
    with Session(engine) as session:
        for _ in range(3):
            flows.declare_incident(
                session,
                registry,
                cluster="leap",
                hub="prod",
                severity="sev2",
                title="t",
                actor=None,
            )
    # Never configured: each declaration queued its channel; #1's died, #2's is done.
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE job SET status = 'dead' WHERE queue_key = 'incident:1'")
        conn.exec_driver_sql(
            "UPDATE job SET status = 'done', dedup_key = NULL WHERE queue_key = 'incident:2'"
        )
    queue.configure(engine, ["slack"])
    assert open_missing_channels(engine) == 1
    assert count(engine, "job", "kind = 'slack.open_channel' AND status = 'pending'") == 2
    assert open_missing_channels(engine) == 0
