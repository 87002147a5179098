"""`incident-bot check` and `route`, run as a person would: the real console script."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def run(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("HUBS_FILE", "DATABASE_URL")},
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_passes_on_the_shipped_registry():
    r = run("check")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok: ") and "hubs.yaml" in r.stdout


def test_check_fails_with_a_clear_message(tmp_path: Path):
    bad = tmp_path / "hubs.yaml"
    bad.write_text(
        "clusters:\n  - name: x\n    provider: aws\n    hubs:\n"
        "      - name: a\n        community: nobody\n"
    )
    r = run("check", "--hubs", str(bad))
    assert r.returncode == 1
    assert f"{bad}: clusters[0].hubs[0].community: unknown community 'nobody'" in r.stderr


def test_route_prints_what_an_alert_becomes():
    r = run(
        "route",
        "--label",
        "cluster=openscapes",
        "--label",
        "namespace=prod",
        "--label",
        "severity=critical",
        "--label",
        "alertname=home-nfs has 0% of space left",
    )
    assert r.returncode == 0, r.stderr
    out = dict(line.split(None, 1) for line in r.stdout.splitlines() if "  " in line)
    assert out["hub"].strip() == "prod"
    assert out["domain"].strip() == "openscapes.2i2c.cloud"
    assert out["severity"].startswith("P1 (sev1)")
    assert "opens incident  yes" in r.stdout
    assert "-openscapes-prod-home-nfs-has-0-of-space-left" in r.stdout
    assert "P7QK2LM" in r.stdout
    assert "/runbooks/" in out["runbook"]


def test_route_json_for_scripts():
    r = run(
        "route",
        "--json",
        "-l",
        "alertname=At least two servers failed to start in the last 30m",
        "-l",
        "cluster=cluster=openscapes",
        "-l",
        "namespace=hub=prod",
        "-l",
        "severity=immediate action needed",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {k: out[k] for k in ("cluster", "hub", "community", "severity")} == {
        "cluster": "openscapes",
        "hub": "prod",
        "community": "openscapes",
        "severity": "sev2",
    }
    # Server start failures want same-day action, not a page: no incident, no channel.
    assert out["opens_incident"] is False
    assert (out["channel"], out["pages"]) == (None, None)
    assert out["runbook"] is not None and out["runbook_title"]
    assert out["quiet_channel"] is None  # OBSERVE_CHANNEL is not set


def test_route_says_where_the_quiet_channel_shows_an_alert():
    labels = ["-l", "cluster=openscapes", "-l", "namespace=prod"]
    quiet = {"OBSERVE_CHANNEL": "CQUIET0001", "SLACK_BOT_TOKEN": "xoxb-1"}
    low = run("route", "--json", *labels, "-l", "severity=action needed this week", env=quiet)
    assert json.loads(low.stdout)["quiet_channel"] == "CQUIET0001"
    # An outage opens its own incident instead.
    high = run("route", "--json", *labels, "-l", "severity=take immediate action", env=quiet)
    assert json.loads(high.stdout)["quiet_channel"] is None
    # Without Slack the service shows it nowhere, and route says so.
    unslacked = run("route", "--json", *labels, env={"OBSERVE_CHANNEL": "CQUIET0001"})
    assert json.loads(unslacked.stdout)["quiet_channel"] is None


def test_route_of_an_unknown_cluster_is_unmapped_and_a_warning_does_not_open():
    r = run("route", "-l", "cluster=mystery", "-l", "severity=warning")
    assert r.returncode == 0, r.stderr
    assert "unmapped" in r.stdout
    assert "opens incident  no" in r.stdout


def test_route_rejects_a_label_without_a_value():
    r = run("route", "--label", "cluster")
    assert r.returncode == 2
    assert "KEY=VALUE" in r.stderr


def test_the_bundled_registry_is_used_outside_the_repo(tmp_path: Path):
    r = run("check", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout
