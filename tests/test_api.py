"""The read API, health endpoints, metrics and OpenAPI docs."""

from pathlib import Path

import pytest

from bot.config import Settings
from tests.conftest import ROOT, Service, running
from tests.payloads import alert, delivery, resolved


@pytest.mark.parametrize("path", ["/api/incidents", "/api/incidents/1", "/api/alerts"])
@pytest.mark.parametrize("token", [None, "wrong"])
def test_the_api_needs_its_token(service: Service, path: str, token: str | None):
    with service.client(token) as c:
        r = c.get(path)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_listing_filters_and_orders_newest_first(service: Service):
    with service.am as c:
        c.post("/webhooks/alertmanager", json=delivery(alert(namespace="prod")))
        c.post("/webhooks/alertmanager", json=delivery(alert("X", cluster="leap")))
        c.post("/webhooks/alertmanager", json=delivery(resolved(alert("Y", cluster="leap"))))
    with service.api as c:
        everything = c.get("/api/incidents").json()
        assert [i["number"] for i in everything] == [2, 1]
        assert [
            i["hub"] for i in c.get("/api/incidents", params={"hub": "openscapes/prod"}).json()
        ] == ["prod"]
        assert [i["cluster"] for i in c.get("/api/incidents", params={"hub": "leap"}).json()] == [
            "leap"
        ]
        assert c.get("/api/incidents", params={"status": "resolved"}).json() == []
        assert len(c.get("/api/incidents", params={"status": "open"}).json()) == 2
        assert len(c.get("/api/incidents", params={"limit": 1}).json()) == 1
        assert "alerts" not in everything[0] and "timeline" not in everything[0]
        alerts = c.get("/api/alerts", params={"hub": "leap"}).json()
        assert {a["alertname"] for a in alerts} == {"X", "Y"}
        assert set(alerts[0]) >= {
            "fingerprint",
            "alertname",
            "status",
            "severity",
            "cluster",
            "hub",
            "community",
            "incident",
            "labels",
            "starts_at",
            "ends_at",
        }


def test_a_full_page_links_the_next_one(service: Service):
    with service.am as c:
        for cluster in ("leap", "2i2c", "openscapes"):
            c.post("/webhooks/alertmanager", json=delivery(alert("X", cluster=cluster)))
    with service.api as c:
        for path in ("/api/incidents", "/api/alerts"):
            seen: list[object] = []
            url: str | None = f"{path}?status=open&limit=2" if "inc" in path else f"{path}?limit=2"
            pages = 0
            while url:
                r = c.get(url)
                assert r.status_code == 200
                seen += [row.get("number") or row["fingerprint"] for row in r.json()]
                pages += 1
                url = r.links.get("next", {}).get("url")
                if url:
                    assert url.startswith(f"{path}?") and "limit=2" in url
                    assert "status=open" in url or "alerts" in path  # filters kept
            assert (len(seen), len(set(seen)), pages) == (3, 3, 2)
        # The last page links nothing, full or not: everything has been read.
        assert "link" not in c.get("/api/incidents").headers
        exactly = c.get("/api/incidents?limit=3")
        assert len(exactly.json()) == 3 and "link" not in exactly.headers
        assert "link" not in c.get("/api/incidents?offset=2147483647&limit=1").headers


@pytest.mark.parametrize(
    "query",
    ["status=closed", "hub=a/b/c", "limit=0", "limit=abc", "offset=-1"],
)
def test_bad_query_parameters_are_422(service: Service, query: str):
    with service.api as c:
        r = c.get(f"/api/incidents?{query}")
    assert r.status_code == 422
    assert r.json()["detail"]


def test_an_unknown_incident_is_404_and_a_bad_number_422(service: Service):
    with service.api as c:
        assert c.get("/api/incidents/99").status_code == 404
        assert c.get("/api/incidents/abc").status_code == 422


def test_health_ready_metrics_and_docs(service: Service):
    with service.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").status_code == 200
        metrics = c.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert 'incident_bot_job_queue_depth{status="pending"} 0.0' in metrics.text
        assert c.get("/docs").status_code == 200
        paths = c.get("/openapi.json").json()["paths"]
    assert {"/webhooks/alertmanager", "/api/incidents", "/api/alerts"} <= set(paths)


def test_metrics_count_alerts_incidents_and_latency(service: Service):
    with service.am as c:
        c.post("/webhooks/alertmanager", json=delivery(alert(), alert("B")))
    with service.client() as c:
        text = c.get("/metrics").text
    assert 'incident_bot_alerts_received_total{status="firing"} 2.0' in text
    assert 'incident_bot_incidents_opened_total{source="alertmanager"} 1.0' in text
    assert 'incident_bot_webhook_duration_seconds_count{source="alertmanager"} 1.0' in text
    # Nothing is configured here, so no job was queued for the incident.
    assert 'incident_bot_job_queue_depth{status="pending"} 0.0' in text


def test_when_the_database_goes_away_ready_and_intake_say_503(tmp_path: Path):
    # SQLite on purpose, whatever TEST_DATABASE_URL says: its file can really be taken away.
    folder = tmp_path / "db"
    folder.mkdir()
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{folder / 'bot.db'}",
        hubs_file=ROOT / "hubs.yaml",
        alertmanager_token="t",
        api_token="a",
    )
    with running(settings) as svc:
        svc.engine.dispose()
        folder.rename(tmp_path / "gone")
        with svc.client("t") as c:
            assert c.get("/healthz").status_code == 200
            assert c.get("/readyz").status_code == 503
            r = c.post("/webhooks/alertmanager", json=delivery(alert()))
            assert r.status_code == 503 and "retry" in r.json()["detail"]
        with svc.client("a") as c:
            r = c.get("/api/incidents")
            assert r.status_code == 503
        (tmp_path / "gone").rename(folder)
        with svc.client("t") as c:
            assert c.post("/webhooks/alertmanager", json=delivery(alert())).status_code == 200
            assert c.get("/readyz").status_code == 200


def test_if_the_intake_writer_stops_ready_and_intake_say_503(service: Service):
    service.app.state.intake.stop()
    with service.am as c:
        r = c.post("/webhooks/alertmanager", json=delivery(alert()))
        assert r.status_code == 503
        assert c.get("/readyz").status_code == 503
