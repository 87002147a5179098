"""Several deliveries stored in one batch behave as if stored one after another."""

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.alerts.intake import IngestResult, ingest
from bot.alerts.schemas import AlertmanagerPayload
from bot.hubs import Registry
from tests.conftest import ROOT, count
from tests.payloads import alert, delivery, resolved


@pytest.fixture
def registry() -> Registry:
    return Registry.load(ROOT / "hubs.yaml")


def store(engine: Engine, registry: Registry, *bodies: dict[str, Any]) -> list[IngestResult]:
    payloads = [AlertmanagerPayload.model_validate(b) for b in bodies]
    with engine.begin() as conn:
        return ingest(conn, registry, payloads)


def kinds(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT kind FROM timeline_event ORDER BY id")).scalars())


def test_identical_deliveries_in_one_batch(engine: Engine, registry: Registry):
    body = delivery(alert(), alert("B"))
    first, second = store(engine, registry, body, body)
    assert (first.new, second.new, second.unchanged) == (2, 0, 2)
    assert first.incidents_opened == [1] and second.incidents_opened == []
    assert count(engine, "alert") == 2 and count(engine, "incident") == 1


def test_fire_and_resolve_in_one_batch(engine: Engine, registry: Registry):
    a = alert()
    fired, done = store(engine, registry, delivery(a), delivery(resolved(a)))
    assert fired.new == 1 and done.resolved == 1
    assert count(engine, "alert", "status = 'resolved'") == 1
    assert sorted(kinds(engine)) == ["alert_fired", "alert_resolved", "declared"]


def test_order_within_a_batch_is_kept_for_low_severity(engine: Engine, registry: Registry):
    warn = alert("Warn", severity="warning")
    crit = alert("Crit", severity="critical")
    later = alert("Later", severity="warning")
    store(engine, registry, delivery(warn), delivery(crit), delivery(later))
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT alertname, incident_number FROM alert")).all())
    assert rows == {"Warn": None, "Crit": 1, "Later": 1}


def test_a_storm_in_one_batch_opens_one_incident_per_hub(engine: Engine, registry: Registry):
    hubs = ["staging", "prod", "workshop"]
    bodies = [
        delivery(alert(f"A{i}", namespace=hubs[i % 3], fingerprint=f"{i:016x}")) for i in range(60)
    ]
    results = store(engine, registry, *bodies)
    assert sum(len(r.incidents_opened) for r in results) == 3
    assert count(engine, "alert", "incident_number IS NOT NULL") == 60
    assert count(engine, "job") == 3


def test_severity_is_raised_once_per_step(engine: Engine, registry: Registry):
    # A registry where sev2 opens incidents too (the built-in default opens only sev1).
    defaults = registry.defaults.model_copy(update={"open_incident_for": ["sev1", "sev2"]})
    registry = Registry(registry.data.model_copy(update={"defaults": defaults}))
    store(
        engine,
        registry,
        delivery(alert("A", severity="error")),
        delivery(alert("B", severity="critical")),
        delivery(alert("C", severity="critical")),
    )
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT severity FROM incident")).scalar_one() == "sev1"
    assert kinds(engine).count("severity_changed") == 1
    with engine.connect() as conn:
        texts = conn.execute(sa.text("SELECT text FROM timeline_event")).scalars().all()
    # Written as people read severities (the registry's severity_names).
    assert any(t.startswith("Severity raised from P2 to P1") for t in texts)
