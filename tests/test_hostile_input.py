"""Inputs that once answered 500 (issue 8): each is a 4xx now, on SQLite and on PostgreSQL,
and stores nothing."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from bot.config import Settings
from tests.conftest import Service, count, running
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.pagerduty.test_webhook import SECRET, event, pd_incident, signature
from tests.payloads import ZERO, alert, delivery, resolved
from tests.rig import SlackRig

BIG = [2**31, 2**63 - 1, 2**63, 99999999999999999999]


# -- the API


@pytest.mark.parametrize("path", ["/api/incidents", "/api/alerts"])
@pytest.mark.parametrize(
    "query",
    [f"limit={n}" for n in BIG]
    + [f"offset={n}" for n in BIG]
    + ["limit=-1", "offset=-1", "limit=0", "offset=1e3", "limit=%00"],
)
def test_paging_past_the_integer_range_is_422(service: Service, path: str, query: str):
    with service.api as c:
        r = c.get(f"{path}?{query}")
    assert r.status_code in (400, 422), r.text


@pytest.mark.parametrize("path", ["/api/incidents", "/api/alerts"])
def test_the_largest_offset_allowed_is_an_empty_page(service: Service, path: str):
    with service.api as c:
        r = c.get(path, params={"offset": 2**31 - 1})
    assert (r.status_code, r.json()) == (200, [])


@pytest.mark.parametrize("number", [*BIG, 0, -1, "1e3", "0x10"])
@pytest.mark.parametrize("suffix", ["", "/postmortem"])
def test_incident_numbers_past_the_integer_range_are_422(
    service: Service, number: object, suffix: str
):
    with service.api as c:
        r = c.get(f"/api/incidents/{number}{suffix}")
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("suffix", ["", "/postmortem"])
def test_the_largest_incident_number_is_just_not_found(service: Service, suffix: str):
    with service.api as c:
        assert c.get(f"/api/incidents/{2**31 - 1}{suffix}").status_code == 404


@pytest.mark.parametrize("path", ["/api/incidents", "/api/alerts"])
@pytest.mark.parametrize(
    "query", ["hub=%00", "hub=leap%00", "hub=leap/%00prod", "status=%00", "other=%00"]
)
def test_a_nul_in_the_query_string_is_400(service: Service, path: str, query: str):
    with service.api as c:
        r = c.get(f"{path}?{query}")
    assert r.status_code == 400
    assert "NUL" in r.json()["detail"]


@pytest.mark.parametrize("path", ["/runbooks/a%00b", "/api/incidents/%00", "/api/incidents/1%00"])
def test_a_nul_in_the_path_is_400(service: Service, path: str):
    with service.api as c:
        assert c.get(path).status_code == 400


@pytest.mark.parametrize("hub", ["x" * 101, f"leap/{'x' * 101}", "a/b/c", "/prod", "leap/"])
def test_hub_filters_longer_than_any_name_or_malformed_are_422(service: Service, hub: str):
    with service.api as c:
        assert c.get("/api/alerts", params={"hub": hub}).status_code == 422


# -- Alertmanager


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "field"),
    [
        ("9999-12-31T23:59:59-05:00", ZERO, "startsAt"),
        ("9999-12-31T23:59:59Z", ZERO, "startsAt"),
        ("0001-01-01T00:00:00+05:00", ZERO, "startsAt"),
        ("0001-01-01T00:00:00Z", ZERO, "startsAt"),
        ("1969-12-31T23:59:59Z", ZERO, "startsAt"),
        ("2026-11-25T10:00:00Z", "9999-12-31T23:59:59-05:00", "endsAt"),
        ("2026-11-25T10:00:00Z", "0002-01-01T00:00:00+05:00", "endsAt"),
    ],
)
def test_times_outside_the_datetime_range_are_422(
    service: Service, starts_at: str, ends_at: str, field: str
):
    a = alert(starts_at=starts_at, ends_at=ends_at)
    with service.am as c:
        r = c.post("/webhooks/alertmanager", json=delivery(a))
    assert r.status_code == 422, r.text
    assert [e["loc"][-1] for e in r.json()["detail"]] == [field]
    assert count(service.engine, "alert") == 0


@pytest.mark.parametrize(
    "ends_at", ["0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00-05:00", "0001-01-01T23:59:59"]
)
def test_the_zero_time_in_any_zone_means_not_ended(service: Service, ends_at: str):
    with service.am as c:
        r = c.post("/webhooks/alertmanager", json=delivery(alert(ends_at=ends_at)))
    assert r.status_code == 200, r.text
    with service.api as c:
        (stored,) = c.get("/api/alerts").json()
    assert stored["ends_at"] is None


@pytest.mark.parametrize(
    ("starts_at", "zone"),
    [("8999-12-31T23:59:59Z", "Pacific/Kiritimati"), ("1970-01-01T00:00:00Z", "Etc/GMT+12")],
)
def test_the_extreme_times_allowed_still_render_a_postmortem(
    settings: Settings, starts_at: str, zone: str
):
    # UTC+14 and UTC-12 are the furthest any zone is from UTC.
    with running(settings.model_copy(update={"timezone": zone})) as svc:
        a = alert(starts_at=starts_at)
        with svc.am as c:
            assert c.post("/webhooks/alertmanager", json=delivery(a)).status_code == 200
            body = delivery(resolved(a, ends_at=starts_at))
            assert c.post("/webhooks/alertmanager", json=body).status_code == 200
        with svc.api as c:
            assert c.get("/api/incidents/1").status_code == 200
            assert c.get("/api/incidents/1/postmortem").status_code == 200


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul(service: Service):
    # JSON "C:\\u0000" is the seven characters C:\u0000; only "\u0000" is a NUL.
    body = json.dumps(delivery(alert(summary="C:\\u0000 is fine"))).encode()
    with service.am as c:
        r = c.post("/webhooks/alertmanager", content=body)
    assert r.status_code == 200, r.text
    with service.api as c:
        (stored,) = c.get("/api/alerts").json()
    assert stored["annotations"]["summary"] == "C:\\u0000 is fine"


# -- PagerDuty


@pytest.fixture
def pd(slack_settings: Settings, fakes: tuple[FakeSlack, FakePagerDuty]) -> Iterator[SlackRig]:
    settings = slack_settings.model_copy(update={"pagerduty_webhook_secret": SecretStr(SECRET)})
    with running(settings) as svc:
        yield SlackRig(svc, *fakes)


def send(rig: SlackRig, body: bytes, sig: str | bytes | None = None) -> int:
    with rig.service.client() as c:
        r = c.post(
            "/webhooks/pagerduty",
            content=body,
            headers={"X-PagerDuty-Signature": signature(body) if sig is None else sig},
        )
    return r.status_code


def nothing_stored(rig: SlackRig) -> bool:
    return all(count(rig.service.engine, t) == 0 for t in ("inbound_event", "job", "incident"))


@pytest.mark.parametrize(
    ("kind", "data", "event_id"),
    [
        pytest.param("incident.triggered", pd_incident("P" * 101), "01EV", id="id-101"),
        pytest.param("incident.triggered", pd_incident("P" * 41), "01EV", id="id-41"),
        pytest.param("incident.triggered", pd_incident(5), "01EV", id="id-not-a-string"),
        pytest.param(
            "incident.annotated",
            {"incident": {"id": "P" * 101, "type": "incident_reference"}, "content": "hi"},
            "01EV",
            id="annotated-incident-id-101",
        ),
        pytest.param(
            "incident.triggered", pd_incident(key="k" * 256), "01EV", id="incident-key-256"
        ),
        pytest.param("incident.triggered", pd_incident(), "E" * 91, id="event-id-91"),
        pytest.param(
            "incident.escalated", pd_incident(assignees=[5]), "01EV", id="assignee-not-a-ref"
        ),
        pytest.param("incident.triggered", pd_incident(title="a\x00b"), "01EV", id="nul-in-title"),
    ],
)
def test_strings_past_their_columns_or_malformed_data_are_422(
    pd: SlackRig, kind: str, data: dict[str, Any], event_id: str
):
    assert send(pd, event(kind, data, event_id=event_id)) == 422
    assert nothing_stored(pd)


def test_ids_as_long_as_their_columns_are_accepted(pd: SlackRig):
    assert send(pd, event("incident.triggered", pd_incident("P" * 40), event_id="E" * 90)) == 202
    pd.wait_idle()
    with pd.service.api as c:
        (incident,) = c.get("/api/incidents").json()
    assert incident["pagerduty_incident_id"] == "P" * 40


@pytest.mark.parametrize("sig", ["v1=é".encode(), b"v1=\xff\xfe", "v1=ü, v1=00".encode()])
def test_non_ascii_signatures_are_401(pd: SlackRig, sig: bytes):
    assert send(pd, event("incident.triggered", pd_incident()), sig=sig) == 401
    assert nothing_stored(pd)
