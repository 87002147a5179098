"""The real fleet: 2i2c's own alerts get a runbook, and `alerts/` ships them as 2i2c writes them.

The names, severities and label values below are copied from 2i2c's alert rules
(`helm-charts/support/values.jsonnet` in 2i2c-org/infrastructure) and their GCP uptime checks
(`terraform/uptime-checks/`), not from this repository: the test fails when a runbook pattern
or a shipped rule drifts away from what 2i2c's Alertmanager actually sends.
"""

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import rules
from bot.hubs import Registry
from bot.runbooks import Runbooks

ROOT = Path(__file__).resolve().parent.parent

# 2i2c's severities: the four documented levels, and the one two of their rules use.
REAL_SEVERITIES = frozenset(
    {
        "take immediate action",
        "same day action needed",
        "action needed this week",
        "to be planned in sprint planning",
        "immediate action needed",
    }
)


@dataclass(frozen=True)
class RealAlert:
    """One alert as 2i2c's Alertmanager sends it: its name, severity and identifying labels."""

    name: str
    severity: str
    labels: dict[str, str] = field(default_factory=dict)
    runbook: str = ""


# Every alert rule of 2i2c's support chart, with label values as they arrive: `cluster` is the
# cluster's name, except on the server start rule, which writes `key=value` strings.
REAL_ALERTS: tuple[RealAlert, ...] = (
    RealAlert(
        "home-nfs has 10% of space left",
        "same day action needed",
        {"cluster": "openscapes", "namespace": "prod", "persistentvolumeclaim": "home-nfs"},
        "home-directory-disk",
    ),
    RealAlert(
        "home-nfs has 0% of space left",
        "take immediate action",
        {"cluster": "openscapes", "namespace": "prod", "persistentvolumeclaim": "home-nfs"},
        "home-directory-disk",
    ),
    RealAlert(
        "hub-db-dir has 10% of space left",
        "same day action needed",
        {"cluster": "utoronto", "namespace": "r-prod", "persistentvolumeclaim": "hub-db-dir"},
        "hub-database-disk",
    ),
    RealAlert(
        "hub-db-dir has 0% of space left",
        "take immediate action",
        {"cluster": "utoronto", "namespace": "r-prod", "persistentvolumeclaim": "hub-db-dir"},
        "hub-database-disk",
    ),
    RealAlert(
        "support-prometheus-server has 10% of space left",
        "same day action needed",
        {
            "cluster": "leap",
            "namespace": "support",
            "persistentvolumeclaim": "support-prometheus-server",
        },
        "prometheus-disk",
    ),
    RealAlert(
        "support-prometheus-server has 0% of space left",
        "take immediate action",
        {
            "cluster": "leap",
            "namespace": "support",
            "persistentvolumeclaim": "support-prometheus-server",
        },
        "prometheus-disk",
    ),
    RealAlert(
        "At least two servers failed to start in the last 30m",
        "immediate action needed",
        {"cluster": "cluster=leap", "namespace": "hub=prod", "provider": "provider=gcp"},
        "user-server-start-failures",
    ),
    RealAlert(
        "jupyterhub-cost-monitoring pod has restarted",
        "action needed this week",
        {"cluster": "nasa-cryo", "namespace": "support"},
        "cost-monitoring-pod-restarts",
    ),
    RealAlert(
        "jupyterhub-groups-exporter pod has restarted",
        "action needed this week",
        {"cluster": "2i2c", "namespace": "staging"},
        "groups-exporter-pod-restarts",
    ),
    RealAlert(
        "jupyterhub-home-nfs pod has restarted",
        "same day action needed",
        {"cluster": "openscapes", "namespace": "prod"},
        "nfs-server-pod-restarts",
    ),
    RealAlert(
        "support-grafana pod has restarted",
        "action needed this week",
        {"cluster": "pangeo-hubs", "namespace": "support"},
        "grafana-pod-restarts",
    ),
    RealAlert(
        "proxy pod has restarted",
        "immediate action needed",
        {"cluster": "2i2c", "namespace": "demo"},
        "proxy-pod-restarts",
    ),
    RealAlert(
        "support-prometheus-server pod has restarted",
        "same day action needed",
        {"cluster": "leap", "namespace": "support"},
        "prometheus-pod-restarts",
    ),
    RealAlert(
        "Pod stuck in Pending for at least 30m",
        "action needed this week",
        {"cluster": "leap", "namespace": "prod"},
        "pod-stuck-pending",
    ),
    RealAlert(
        "Pod stuck in Terminating for at least 10m",
        "action needed this week",
        {"cluster": "utoronto", "namespace": "prod"},
        "pod-stuck-terminating",
    ),
    RealAlert(
        "Disk IO approaching saturation",
        "action needed this week",
        {"cluster": "nasa-cryo"},
        "disk-io-saturated",
    ),
    RealAlert(
        "Compute usage quotas - At least one fail open detected in the last 30 mins",
        "same day action needed",
        {"cluster": "2i2c", "namespace": "staging"},
        "compute-usage-quotas-failing",
    ),
    # two spaces before "in": 2i2c's name, as is
    RealAlert(
        "Compute usage quotas - At least one Prometheus error detected  in the last 30m",
        "same day action needed",
        {"cluster": "2i2c"},
        "compute-usage-quotas-failing",
    ),
    # the name embeds the cluster (one rule per cluster); alerts/ renders it for `2i2c`
    RealAlert(
        "Compute usage quotas - At least one server launch denied due to exhausted quota"
        " in cluster 2i2c in the last 30 mins",
        "action needed this week",
        {"cluster": "2i2c", "namespace": "staging"},
        "compute-usage-quota-exhausted",
    ),
)

# The same alerts from other clusters, and 2i2c's hub health checks: GCP uptime-check alert
# policies named "<domain> on <cluster>" (P1, no Prometheus labels).
OTHER_REAL_NAMES: tuple[tuple[str, str], ...] = (
    (
        "Compute usage quotas - At least one server launch denied due to exhausted quota"
        " in cluster leap in the last 30 mins",
        "compute-usage-quota-exhausted",
    ),
    (
        "Compute usage quotas - At least one server launch denied due to exhausted quota"
        " in cluster nasa-cryo in the last 30 mins",
        "compute-usage-quota-exhausted",
    ),
    ("leap.2i2c.cloud on leap", "jupyterhub-health-check"),
    ("staging.hub.cryointhecloud.com on nasa-cryo", "jupyterhub-health-check"),
    ("jupyter.utoronto.ca on utoronto", "jupyterhub-health-check"),
)

# incident-bot's own stand-in for 2i2c's uptime checks, evaluated by Prometheus.
HEALTH_CHECK_RULE = RealAlert(
    "JupyterHubHealthCheckFailing",
    "take immediate action",
    {"cluster": "openscapes", "namespace": "prod"},
    "jupyterhub-health-check",
)

EVERY_NAME: tuple[tuple[str, str], ...] = (
    *((a.name, a.runbook) for a in (*REAL_ALERTS, HEALTH_CHECK_RULE)),
    *OTHER_REAL_NAMES,
)


@pytest.fixture(scope="module")
def books() -> Runbooks:
    return Runbooks.load(ROOT / "runbooks")


@pytest.fixture(scope="module")
def shipped() -> dict[str, rules.Rule]:
    return rules.by_name(rules.load(ROOT / "alerts"))


@pytest.mark.parametrize(("name", "slug"), EVERY_NAME, ids=[n for n, _ in EVERY_NAME])
def test_every_real_alert_has_its_runbook(books: Runbooks, name: str, slug: str) -> None:
    book = books.match(name)
    assert book is not None, f"no runbook in runbooks/ matches {name!r}"
    assert book.slug == slug
    assert book.first_steps, f"{book.path} has no first steps to quote in Slack"
    matching = [b.slug for b in books.books if b.matches(name)]
    assert matching == [slug], f"{name!r} matches several runbooks: {matching}"


def test_names_close_to_the_real_ones_have_no_runbook(books: Runbooks) -> None:
    # the patterns match whole names, not a prefix or a neighbour
    for name in (
        "home-nfs has 20% of space left",
        "home-nfs has 0% of space left again",
        "hub pod has restarted",
        "Pod stuck in Pending for at least 10m",
        "Compute usage quotas - At least one server launch denied due to exhausted quota",
    ):
        assert books.match(name) is None, name


def test_the_rules_ship_every_real_alert_as_2i2c_writes_it(
    shipped: dict[str, rules.Rule],
) -> None:
    for real in (*REAL_ALERTS, HEALTH_CHECK_RULE):
        rule = shipped.get(real.name)
        assert rule is not None, f"alerts/ has no rule named {real.name!r}"
        assert rule.labels.get("severity") == real.severity, real.name
        cluster = rule.labels.get("cluster", "")
        assert "$externalLabels.cluster" in cluster, f"{real.name}: cluster label {cluster!r}"
        # the `key=value` quirk, where 2i2c writes it
        expected_prefix = real.labels["cluster"].partition("=")[0] + "="
        if "=" in real.labels["cluster"]:
            assert cluster.startswith(expected_prefix), real.name
            assert rule.labels.get("namespace", "").startswith("hub="), real.name
            assert rule.labels.get("provider", "").startswith("provider="), real.name
        else:
            assert "=" not in cluster.split("{{", 1)[0], real.name
            assert "namespace" not in rule.labels, real.name


def test_alerts_ship_the_real_fleet_and_nothing_else(shipped: dict[str, rules.Rule]) -> None:
    expected = {a.name for a in (*REAL_ALERTS, HEALTH_CHECK_RULE)}
    assert set(shipped) == expected


def test_every_rule_carries_a_real_severity_a_summary_and_a_runbook(books: Runbooks) -> None:
    found = rules.load(ROOT / "alerts")
    assert found
    for rule in found:
        assert rule.labels.get("severity") in REAL_SEVERITIES, (rule.name, rule.labels)
        assert rule.annotations.get("summary"), rule.name
        assert rule.annotations.get("runbook_url") or books.match(rule.name), rule.name


def test_every_real_severity_has_an_incident_severity() -> None:
    registry = Registry.load(ROOT / "hubs.yaml")
    severity_map = {k.strip().lower() for k in registry.defaults.severity_map}
    assert {a.severity for a in REAL_ALERTS} <= severity_map


@pytest.mark.parametrize("real", REAL_ALERTS, ids=[a.name for a in REAL_ALERTS])
def test_the_real_labels_route_to_their_cluster_and_hub(real: RealAlert) -> None:
    registry = Registry.load(ROOT / "hubs.yaml")
    route = registry.route({"alertname": real.name, "severity": real.severity, **real.labels})
    cluster = real.labels["cluster"].rpartition("=")[2]
    assert route.cluster == cluster
    namespace = real.labels.get("namespace", "").rpartition("=")[2]
    hub = namespace if registry.hub(cluster, namespace) else None
    assert route.hub == hub


@pytest.mark.parametrize("real", REAL_ALERTS, ids=[a.name for a in REAL_ALERTS])
def test_with_the_built_in_defaults_only_outages_open_incidents(real: RealAlert) -> None:
    # An empty `defaults:` gets the built-in severity policy: 2i2c's four levels, and only
    # `take immediate action` opens an incident (a channel, a commander) by itself.
    registry = Registry.parse(yaml.safe_dump({"clusters": [], "communities": []}))
    route = registry.route({"alertname": real.name, "severity": real.severity, **real.labels})
    assert route.opens_incident is (real.severity == "take immediate action")
    expected = {
        "take immediate action": "sev1",
        "immediate action needed": "sev2",
        "same day action needed": "sev2",
        "action needed this week": "sev3",
        "to be planned in sprint planning": "sev4",
    }
    assert route.severity == expected[real.severity]


def _unit_tests() -> dict[str, list[list[Any]]]:
    """The expected alerts of every `alert_rule_test` in alerts/tests/, by alert name."""
    found: dict[str, list[list[Any]]] = {}
    for path in sorted((ROOT / "alerts" / "tests").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in data["tests"]:
            for case in group.get("alert_rule_test") or []:
                found.setdefault(str(case["alertname"]), []).append(case.get("exp_alerts") or [])
    return found


def test_every_rule_is_unit_tested_firing_and_not_firing() -> None:
    cases = _unit_tests()
    for rule in rules.load(ROOT / "alerts"):
        expected = cases.get(rule.name, [])
        assert any(expected), f"no promtool test sees {rule.name!r} fire"
        assert not all(expected), f"no promtool test sees {rule.name!r} stay quiet"


def _tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which(name)
    if binary is None:
        pytest.skip(f"{name} is not installed (Debian: prometheus, prometheus-alertmanager)")
    return subprocess.run(
        [binary, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_checks_and_unit_tests_pass() -> None:
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "alerts").glob("*.yaml"))
    checked = _tool("promtool", "check", "rules", *files)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tests = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "alerts" / "tests").glob("*.yaml"))
    tested = _tool("promtool", "test", "rules", *tests)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_alertmanager_example_is_valid() -> None:
    r = _tool("amtool", "check-config", "alerts/alertmanager.yml")
    assert r.returncode == 0, r.stdout + r.stderr


def test_incident_bot_check_passes_on_the_shipped_tree() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HUBS_FILE", "RUNBOOKS_DIR", "ALERTS_DIR", "DATABASE_URL")
    }
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "check",
            "--hubs",
            str(ROOT / "hubs.yaml"),
            "--runbooks",
            str(ROOT / "runbooks"),
            "--alerts",
            str(ROOT / "alerts"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    counts = re.search(r"(\d+) runbooks, (\d+) alert rules", r.stdout)
    assert counts is not None, r.stdout
    assert int(counts.group(2)) == len(REAL_ALERTS) + 1
