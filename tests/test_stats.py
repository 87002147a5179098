"""Time to acknowledge and to resolve: in the API, on /metrics, and `incident-bot stats`."""

import csv
import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.hubs import Registry
from bot.incidents import flows
from bot.incidents.models import Incident
from tests.conftest import ROOT, Service

NOW = datetime.now(UTC).replace(microsecond=0)


def scripted(engine: Engine) -> list[int]:
    """Four incidents with known times: (hub, severity, acknowledged after, resolved after)."""
    registry = Registry.load(ROOT / "hubs.yaml")
    plan = [
        ("openscapes", "prod", "sev1", 120, 3600),
        ("openscapes", "prod", "sev1", 600, 7200),
        ("leap", "prod", "sev2", None, 1800),
        ("leap", None, "sev2", 60, None),  # cluster-wide, still open
    ]
    numbers = []
    for i, (cluster, hub, severity, ack, resolve) in enumerate(plan):
        with Session(engine) as session:
            incident, _ = flows.declare_incident(
                session,
                registry,
                cluster=cluster,
                hub=hub,
                severity=severity,  # type: ignore[arg-type]
                title=f"scripted {i}",
                actor="UALICE",
            )
            # The bot called the on-call person in; someone else acknowledged.
            flows.assign_role(
                session, registry, incident, role="commander", user="UADA", actor=None
            )
            if ack is not None:
                flows.acknowledge(session, registry, incident, actor="UBOB")
            if resolve is not None:
                flows.resolve_incident(session, incident, summary="", actor="UBOB")
            assert incident.number is not None
            numbers.append(incident.number)
        started = NOW - timedelta(days=1)
        with engine.begin() as conn:
            conn.execute(
                sa.update(Incident.__table__)  # type: ignore[attr-defined]
                .where(sa.column("number") == incident.number)
                .values(
                    started_at=started,
                    acknowledged_at=started + timedelta(seconds=ack) if ack else None,
                    resolved_at=started + timedelta(seconds=resolve) if resolve else None,
                )
            )
    return numbers


def test_the_api_gives_each_incidents_times(service: Service):
    numbers = scripted(service.engine)
    with service.api as c:
        first = c.get(f"/api/incidents/{numbers[0]}").json()
        listed = {i["number"]: i for i in c.get("/api/incidents").json()}
    assert first["time_to_acknowledge_seconds"] == 120
    assert first["time_to_resolve_seconds"] == 3600
    assert first["acknowledged_at"] is not None
    assert listed[numbers[2]]["time_to_acknowledge_seconds"] is None
    assert listed[numbers[3]]["time_to_resolve_seconds"] is None


def test_metrics_has_histograms_by_severity(service: Service):
    scripted(service.engine)
    with service.client() as c:
        text = c.get("/metrics").text
    lines = set(text.splitlines())
    # sev1: acknowledged after 120 s and 600 s; resolved after 1 h and 2 h.
    assert (
        'incident_bot_time_to_acknowledge_seconds_bucket{le="300.0",severity="sev1"} 1.0' in lines
    )
    assert (
        'incident_bot_time_to_acknowledge_seconds_bucket{le="900.0",severity="sev1"} 2.0' in lines
    )
    assert 'incident_bot_time_to_acknowledge_seconds_sum{severity="sev1"} 720.0' in lines
    assert 'incident_bot_time_to_resolve_seconds_count{severity="sev1"} 2.0' in lines
    assert 'incident_bot_time_to_resolve_seconds_bucket{le="3600.0",severity="sev1"} 1.0' in lines
    # sev2: one acknowledged (60 s), one resolved (30 min).
    assert 'incident_bot_time_to_acknowledge_seconds_count{severity="sev2"} 1.0' in lines
    assert 'incident_bot_time_to_resolve_seconds_sum{severity="sev2"} 1800.0' in lines


def stats(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "HUBS_FILE": str(ROOT / "hubs.yaml")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "stats", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_stats_for_people_and_spreadsheets(engine: Engine, database_url: str):
    scripted(engine)
    r = stats(database_url, "--days", "7", "--csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    by = {
        (row["metric"], row["place"], row["severity"], row["person"]): row["value"] for row in rows
    }
    # Per hub and severity, as the registry names severities.
    assert by[("incidents", "openscapes/prod", "P1", "")] == "2"
    assert by[("incidents", "leap/prod", "P2", "")] == "1"
    assert by[("incidents", "leap (cluster-wide)", "P2", "")] == "1"
    # p50 and p90 of 120, 600 and 60 s (all); of 3600, 7200 and 1800 s to resolve.
    assert by[("mtta_p50_seconds", "", "all", "")] == "120.0"
    assert by[("mtta_p90_seconds", "", "all", "")] == "504.0"
    assert by[("mttr_p50_seconds", "", "all", "")] == "3600.0"
    assert by[("mttr_p50_seconds", "", "P1", "")] == "5400.0"
    assert by[("acknowledged", "", "P2", "")] == "1"
    # The on-call commander the bot called in four times; UBOB acknowledged three.
    assert by[("commander", "", "", "UADA")] == "4"
    assert by[("acknowledgements", "", "", "UBOB")] == "3"

    text = stats(database_url, "--days", "7")
    assert text.returncode == 0, text.stderr
    assert "openscapes/prod" in text.stdout and "P1" in text.stdout
    assert "2m" in text.stdout  # MTTA p50, written as durations are
    # Nothing in a window before them all.
    assert "scripted" not in text.stdout


def test_stats_refuses_a_bad_window(engine: Engine, database_url: str):
    r = stats(database_url, "--days", "0")
    assert r.returncode == 2 and "--days" in r.stderr
