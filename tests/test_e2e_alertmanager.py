"""End to end with Debian's real Alertmanager, configured from the shipped example: an alert
posted to Alertmanager's API becomes an incident with a channel on the fake Slack."""

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import AM_TOKEN, ROOT
from tests.rig import SlackRig

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = pytest.mark.skipif(
    BINARY is None, reason="Debian's prometheus-alertmanager is not installed (.ci/run installs it)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def first_incident(rig: SlackRig, timeout: float, alive: Any = None) -> dict[str, Any]:
    """The first incident, once its channel is open; `alive()` may fail the wait early."""
    deadline = time.monotonic() + timeout
    while True:
        if alive is not None:
            alive()
        with rig.service.api as c:
            found = c.get("/api/incidents").json()
        if found and found[0]["slack_channel_id"]:
            rig.wait_idle()
            incident: dict[str, Any] = found[0]
            return incident
        assert time.monotonic() < deadline, "no incident with a channel in time"
        time.sleep(0.2)


def example_config(service_url: str, token_file: Path) -> dict[str, Any]:
    """alerts/alertmanager.yml, pointed at this test's service, with short group waits."""
    config: dict[str, Any] = yaml.safe_load((ROOT / "alerts" / "alertmanager.yml").read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{service_url}/webhooks/alertmanager"
            auth = hook["http_config"]["authorization"]
            assert auth.get("type", "Bearer") == "Bearer"
            auth["credentials_file"] = str(token_file)

    def hurry(route: dict[str, Any]) -> None:
        route.update(group_wait="1s", group_interval="1s")
        for child in route.get("routes", []):
            hurry(child)

    hurry(config["route"])
    return config


@pytest.fixture
def alertmanager(rig: SlackRig, tmp_path: Path) -> Iterator[str]:
    token = tmp_path / "token"
    token.write_text(AM_TOKEN)
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(example_config(rig.service.url, token)))
    port = free_port()
    assert BINARY is not None
    log = (tmp_path / "am.log").open("wb")
    proc = subprocess.Popen(
        [
            BINARY,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "am.log").read_text()
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "Alertmanager did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_an_alert_posted_to_alertmanager_becomes_an_incident_with_a_channel(
    rig: SlackRig, alertmanager: str
):
    now = datetime.now(UTC).isoformat()
    alert = {
        "labels": {
            "alertname": "JupyterHubHealthCheckFailing",
            "cluster": "openscapes",
            "namespace": "prod",
            "severity": "take immediate action",
        },
        "annotations": {"summary": "Hub openscapes/prod is not answering its health check"},
        "startsAt": now,
        "generatorURL": "http://prometheus.example/graph?g0.expr=up%3D%3D0",
    }
    r = httpx.post(f"{alertmanager}/api/v2/alerts", json=[alert], timeout=10)
    assert r.status_code == 200, r.text
    incident = first_incident(rig, timeout=30)
    assert (incident["cluster"], incident["hub"], incident["severity"]) == (
        "openscapes",
        "prod",
        "sev1",
    )
    channel = rig.slack.channels[incident["slack_channel_id"]]
    assert channel["name"].startswith("inc-") and "openscapes-prod" in channel["name"]
    [summary] = [m for m in rig.slack.messages(channel["id"]) if m.get("blocks")]
    assert "not answering its health check" in str(summary["blocks"])


PROMETHEUS = shutil.which("prometheus")
METRICS = (
    'kubelet_volume_stats_available_bytes{namespace="prod",persistentvolumeclaim="home-nfs"} '
    "0.5\n"
    'kubelet_volume_stats_capacity_bytes{namespace="prod",persistentvolumeclaim="home-nfs"} '
    "100\n"
)


@pytest.fixture
def exporter() -> Iterator[str]:
    """A node's kubelet, reduced to one nearly full home directory volume."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = METRICS.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(PROMETHEUS is None, reason="Debian's prometheus is not installed")
def test_a_shipped_rule_evaluated_by_prometheus_opens_an_incident(
    rig: SlackRig, alertmanager: str, exporter: str, tmp_path: Path
):
    rules = yaml.safe_load((ROOT / "alerts" / "storage.yaml").read_text())
    [rule] = [
        r
        for g in rules["groups"]
        for r in g["rules"]
        if r.get("alert") == "home-nfs has 0% of space left"
    ]
    rule["for"] = "0s"  # the shipped rule waits 5 minutes; the expression is what is tested
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "e2e", "interval": "1s", "rules": [rule]}]})
    )
    am_host = alertmanager.removeprefix("http://")
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {
                    "scrape_interval": "1s",
                    "evaluation_interval": "1s",
                    "external_labels": {"cluster": "openscapes"},
                },
                "rule_files": [str(tmp_path / "rules.yaml")],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am_host]}]}]},
                "scrape_configs": [
                    {"job_name": "kubelet", "static_configs": [{"targets": [exporter]}]}
                ],
            }
        )
    )
    log = (tmp_path / "prometheus.log").open("wb")
    assert PROMETHEUS is not None
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{free_port()}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )

    def running() -> None:
        assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()

    try:
        incident = first_incident(rig, timeout=60, alive=running)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
    assert (incident["cluster"], incident["hub"], incident["severity"]) == (
        "openscapes",
        "prod",
        "sev1",
    )
    assert incident["title"] == "Home Directory Disk is full: cluster:openscapes hub:prod"
    channel = incident["slack_channel_id"]
    [summary] = [m for m in rig.slack.messages(channel) if m.get("blocks")]
    assert "/runbooks/home-directory-disk" in str(summary["blocks"])
