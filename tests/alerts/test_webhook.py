"""POST /webhooks/alertmanager through the real HTTP server: auth, validation, dedup, grouping."""

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pydantic import SecretStr
from sqlmodel import Session

from bot.config import Settings
from bot.incidents import flows
from tests.conftest import Service, count, running
from tests.payloads import alert, delivery, resolved

WEBHOOK = "/webhooks/alertmanager"


def post(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    with service.am as c:
        r = c.post(WEBHOOK, json=body)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def incidents(service: Service, **params: str) -> list[dict[str, Any]]:
    with service.api as c:
        r = c.get("/api/incidents", params=params)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


def incident(service: Service, number: int) -> dict[str, Any]:
    with service.api as c:
        r = c.get(f"/api/incidents/{number}")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def nothing_stored(service: Service) -> bool:
    return all(count(service.engine, t) == 0 for t in ("alert", "incident", "job"))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic YW06YW0="},
        {"Authorization": "Bearer"},
    ],
)
def test_bad_credentials_are_401_and_store_nothing(service: Service, headers: dict[str, str]):
    with service.client() as c:
        r = c.post(WEBHOOK, json=delivery(alert()), headers=headers)
    assert r.status_code == 401
    assert "bearer" in r.json()["detail"].lower()
    assert nothing_stored(service)


def test_without_a_configured_token_everything_is_refused(settings: Settings):
    with running(settings.model_copy(update={"alertmanager_token": SecretStr("")})) as svc:
        with svc.client("anything") as c:
            r = c.post(WEBHOOK, json=delivery(alert()))
        assert r.status_code == 401
        assert "not configured" in r.json()["detail"]
        assert nothing_stored(svc)


def test_a_body_that_is_not_json_is_400(service: Service):
    with service.am as c:
        r = c.post(WEBHOOK, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["detail"]
    assert nothing_stored(service)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": "4", "groupKey": "g", "status": "firing"}, "alerts"),
        ({**delivery(alert()), "version": "3"}, "version"),
        ({**delivery(alert()), "alerts": "nope"}, "alerts"),
        ({**delivery(alert()), "alerts": [{**alert(), "labels": {"a": 1}}]}, "labels"),
        ({**delivery(alert()), "alerts": [{**alert(), "startsAt": "yesterday"}]}, "startsAt"),
        ({**delivery(alert()), "alerts": [{**alert(), "status": "pending"}]}, "status"),
        ([delivery(alert())], ""),
    ],
)
def test_a_wrong_shape_is_422_naming_the_field(service: Service, body: Any, field: str):
    with service.am as c:
        r = c.post(WEBHOOK, json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail
    assert any(field in [str(part) for part in d["loc"]] for d in detail) or not field
    assert nothing_stored(service)


def test_a_firing_alert_opens_an_incident_with_timeline_and_channel_job(settings: Settings):
    # Slack configured, but away (a refused port): the channel job is queued and waits.
    away = settings.model_copy(
        update={"slack_bot_token": SecretStr("xoxb-x"), "slack_api_url": "http://127.0.0.1:9/"}
    )
    with running(away) as service:
        _a_firing_alert_opens_an_incident(service)


def _a_firing_alert_opens_an_incident(service: Service) -> None:
    a = alert("HubHealthCheckFailing", summary="Hub openscapes/prod is down")
    result = post(service, delivery(a))
    assert result["new"] == 1 and len(result["incidents_opened"]) == 1
    [inc] = incidents(service)
    assert inc["title"] == "Hub openscapes/prod is down"
    assert (inc["cluster"], inc["hub"], inc["community"]) == ("openscapes", "prod", "openscapes")
    assert inc["severity"] == "sev1" and inc["status"] == "investigating"
    assert inc["started_at"].endswith("Z")
    full = incident(service, inc["number"])
    assert [x["fingerprint"] for x in full["alerts"]] == [a["fingerprint"]]
    assert full["alerts"][0]["starts_at"] == "2026-11-25T10:00:00Z"
    assert full["alerts"][0]["ends_at"] is None
    kinds = [e["kind"] for e in full["timeline"]]
    assert sorted(kinds) == ["alert_fired", "declared"]
    assert count(service.engine, "job", "kind = 'slack.open_channel'") == 1


def test_a_repeated_delivery_changes_nothing(service: Service):
    body = delivery(alert(), alert("ProxyPodRestarts"))
    first = post(service, body)
    assert first["new"] == 2
    before = {t: count(service.engine, t) for t in ("alert", "incident", "timeline_event", "job")}
    again = post(service, body)
    assert again == {**again, "new": 0, "unchanged": 2, "incidents_opened": [], "incidents": []}
    after = {t: count(service.engine, t) for t in before}
    assert after == before


def test_a_storm_of_300_alerts_over_3_hubs_opens_3_incidents(service: Service):
    hubs = ["staging", "prod", "workshop"]
    alerts = [
        alert(f"Alert{i}", namespace=hubs[i % 3], fingerprint=f"{i:016x}") for i in range(300)
    ]
    # 30 deliveries of 10 alerts, sent concurrently as Alertmanager's groups would be.
    bodies = [delivery(*alerts[i : i + 10], group_key=f"g{i}") for i in range(0, 300, 10)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda b: post(service, b), bodies))
    assert sum(r["new"] for r in results) == 300
    found = incidents(service)
    assert sorted(i["hub"] for i in found) == sorted(hubs)
    assert count(service.engine, "alert") == 300
    assert count(service.engine, "alert", "incident_number IS NULL") == 0
    with service.api as c:
        listed = c.get("/api/alerts").json()
    assert len(listed) == 300
    for inc in found:
        assert len(incident(service, inc["number"])["alerts"]) == 100


def test_concurrent_identical_deliveries_open_one_incident(service: Service):
    body = delivery(alert(), alert("ProxyPodRestarts"))
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: post(service, body), range(20)))
    assert sum(r["new"] for r in results) == 2
    assert len(incidents(service)) == 1
    assert count(service.engine, "alert") == 2
    assert count(service.engine, "timeline_event", "kind = 'declared'") == 1


def test_key_equals_value_labels_are_read_as_the_value(service: Service):
    post(service, delivery(alert(cluster="cluster=leap", namespace="hub=prod")))
    [inc] = incidents(service)
    assert (inc["cluster"], inc["hub"], inc["community"]) == ("leap", "prod", "leap")


def test_an_explicit_hub_label_wins_over_the_namespace(service: Service):
    post(service, delivery(alert(namespace="support", hub="staging")))
    [inc] = incidents(service)
    assert (inc["cluster"], inc["hub"]) == ("openscapes", "staging")


def test_a_known_cluster_with_an_unknown_namespace_is_cluster_wide(service: Service):
    post(service, delivery(alert("NodeDiskFull", cluster="2i2c", namespace="kube-system")))
    post(service, delivery(alert("PodStuckPending", cluster="2i2c", namespace="support")))
    [inc] = incidents(service)
    assert (inc["cluster"], inc["hub"]) == ("2i2c", None)
    assert len(incident(service, inc["number"])["alerts"]) == 2
    # ... and a hub's own alert on that cluster is a separate incident.
    post(service, delivery(alert(cluster="2i2c", namespace="staging")))
    assert len(incidents(service)) == 2


def test_an_alert_that_matches_nothing_is_kept_and_opens_an_unmapped_incident(service: Service):
    post(service, delivery(alert(cluster="nowhere", namespace="x", severity="critical")))
    post(service, delivery(alert(cluster=None, namespace=None, severity="warning")))
    [inc] = incidents(service)
    assert (inc["cluster"], inc["hub"], inc["community"]) == (None, None, None)
    with service.api as c:
        listed = c.get("/api/alerts").json()
    assert len(listed) == 2
    assert {a["incident"] for a in listed} == {inc["number"]}


def test_unknown_severity_is_sev2_and_stored(service: Service):
    post(service, delivery(alert(severity="whatever this means")))
    post(service, delivery(alert("Other", cluster="leap", severity=None)))
    # sev2 does not page: only outages (sev1) open incidents by default.
    assert incidents(service) == []
    with service.api as c:
        found = c.get("/api/alerts").json()
    assert [(a["severity"], a["incident"]) for a in found] == [("sev2", None), ("sev2", None)]


def test_only_take_immediate_action_opens_an_incident(service: Service):
    # 2i2c's documented levels, and `immediate action needed` of their server start rules.
    post(service, delivery(alert("A", severity="Same day action needed")))
    post(service, delivery(alert("B", cluster="leap", severity="action needed this week")))
    post(service, delivery(alert("C", cluster="2i2c", severity="immediate action needed")))
    post(service, delivery(alert("D", hub="staging", severity="to be planned in sprint planning")))
    post(service, delivery(alert("E", cluster="pangeo", severity="take immediate action")))
    with service.api as c:
        by_name = {a["alertname"]: a for a in c.get("/api/alerts").json()}
    assert {n: a["severity"] for n, a in by_name.items()} == {
        "A": "sev2",
        "B": "sev3",
        "C": "sev2",
        "D": "sev4",
        "E": "sev1",
    }
    assert [n for n, a in sorted(by_name.items()) if a["incident"] is not None] == ["E"]


def test_low_severity_alerts_are_stored_then_join_an_open_incident(service: Service):
    warn = alert("HomeDirectoryDiskNearlyFull", severity="warning")
    post(service, delivery(warn))
    assert incidents(service) == []
    assert count(service.engine, "alert") == 1
    post(service, delivery(alert("HubHealthCheckFailing", severity="critical")))
    [inc] = incidents(service)
    info = alert("SlowSpawns", severity="info")
    post(service, delivery(info))
    names = {a["alertname"] for a in incident(service, inc["number"])["alerts"]}
    # The warning came before the incident and stays unattached; the later info alert joins.
    assert names == {"HubHealthCheckFailing", "SlowSpawns"}


def test_a_more_severe_alert_raises_the_incidents_severity(service: Service):
    with Session(service.engine) as session:
        flows.declare_incident(
            session,
            service.app.state.registry,
            cluster="openscapes",
            hub="prod",
            severity="sev3",
            title="Slow logins",
            actor=None,
        )
        session.commit()
    post(service, delivery(alert("A", severity="error")))
    [inc] = incidents(service)
    assert inc["severity"] == "sev2"
    post(service, delivery(alert("B", severity="critical")))
    [inc] = incidents(service)
    assert inc["severity"] == "sev1"
    kinds = [e["kind"] for e in incident(service, inc["number"])["timeline"]]
    assert "severity_changed" in kinds


def test_resolved_alerts_are_recorded_and_the_incident_stays_open(service: Service):
    a = alert()
    post(service, delivery(a))
    result = post(service, delivery(resolved(a)))
    assert result["resolved"] == 1
    [inc] = incidents(service)
    assert inc["status"] == "investigating"
    full = incident(service, inc["number"])
    assert full["alerts"][0]["status"] == "resolved"
    assert full["alerts"][0]["ends_at"] == "2026-11-25T10:30:00Z"
    assert [e["kind"] for e in full["timeline"]].count("alert_resolved") == 1
    # The resolved delivery repeated changes nothing.
    assert post(service, delivery(resolved(a)))["unchanged"] == 1
    assert count(service.engine, "timeline_event", "kind = 'alert_resolved'") == 1
    with service.api as c:
        assert c.get("/api/alerts", params={"status": "firing"}).json() == []
        assert len(c.get("/api/alerts", params={"status": "resolved"}).json()) == 1


def test_an_alert_firing_again_later_is_a_new_firing_in_the_open_incident(service: Service):
    a = alert()
    post(service, delivery(a))
    post(service, delivery(resolved(a)))
    again = alert(starts_at="2026-11-25T11:00:00Z")
    assert post(service, delivery(again))["new"] == 1
    [inc] = incidents(service)
    alerts = incident(service, inc["number"])["alerts"]
    assert [x["status"] for x in alerts] == ["resolved", "firing"]


def test_a_resolved_alert_never_seen_firing_is_kept_without_an_incident(service: Service):
    post(service, delivery(resolved(alert())))
    assert incidents(service) == []
    with service.api as c:
        [a] = c.get("/api/alerts").json()
    assert a["status"] == "resolved" and a["incident"] is None


def test_newer_optional_keys_are_accepted(service: Service):
    body = {
        **delivery(alert()),
        "notification_reason": "new_alerts",
        "routeLabels": {"team": "hubs"},
        "somethingElse": 1,
    }
    assert post(service, body)["new"] == 1


def test_missing_fingerprint_and_end_time_are_derived(service: Service):
    a = alert()
    del a["fingerprint"], a["endsAt"]
    post(service, delivery(a))
    post(service, delivery(a))
    assert count(service.engine, "alert") == 1


def test_the_sample_payloads_shipped_in_the_repo_work(service: Service):
    from tests.conftest import ROOT

    examples = ROOT / "alerts" / "examples"
    storm = post(service, json.loads((examples / "storm.json").read_text()))
    assert len(storm["incidents_opened"]) == 3
    firing = post(service, json.loads((examples / "firing.json").read_text()))
    assert len(firing["incidents_opened"]) == 1
    assert post(service, json.loads((examples / "resolved.json").read_text()))["resolved"] == 1


def test_nul_characters_are_refused_before_they_reach_the_database(service: Service):
    body = delivery(alert(summary="bad\u0000summary"))
    with service.am as c:
        r = c.post(WEBHOOK, json=body)
    assert r.status_code == 422
    assert "NUL" in r.json()["detail"]
    assert nothing_stored(service)


def test_odd_but_valid_values_are_stored_not_500(service: Service):
    a = alert("A" * 5000, starts_at="2026-11-25T10:00:00.123456789", namespace="ünï/cøde")
    a["annotations"]["description"] = "x" * 100_000
    result = post(service, {**delivery(a), "truncatedAlerts": 10**30})
    assert result["new"] == 1
    with service.api as c:
        [stored] = c.get("/api/alerts").json()
    assert stored["starts_at"] == "2026-11-25T10:00:00.123456Z"
    assert len(stored["alertname"]) == 200
