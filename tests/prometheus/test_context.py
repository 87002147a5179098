"""Prometheus context in the channel: the opening alert's value, and a graph of its hour."""

from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from tests.conftest import running
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.prometheus import FakePrometheus
from tests.fakes.slack import FakeSlack
from tests.payloads import alert, delivery
from tests.rig import SlackRig

EXPR = (
    'kubelet_volume_stats_used_bytes{persistentvolumeclaim="home-nfs"} / '
    "kubelet_volume_stats_capacity_bytes > 0.9"
)


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    with FakePrometheus() as fake:
        fake.series = [
            (
                {"cluster": "openscapes", "namespace": "prod", "persistentvolumeclaim": "home-nfs"},
                0.9734,
            )
        ]
        yield fake


@pytest.fixture
def rig(
    slack_settings: Settings, fakes: tuple[FakeSlack, FakePagerDuty], prometheus: FakePrometheus
) -> Iterator[SlackRig]:
    with running(slack_settings.model_copy(update={"prometheus_url": prometheus.url})) as svc:
        yield SlackRig(svc, *fakes)


def fire(rig: SlackRig) -> dict[str, Any]:
    a = alert("HomeDirectoryDiskNearlyFull", severity="critical")
    a["generatorURL"] = (
        "http://prometheus.example/graph?g0.expr="
        + __import__("urllib.parse").parse.quote(EXPR)
        + "&g0.tab=1"
    )
    with rig.service.am as c:
        c.post("/webhooks/alertmanager", json=delivery(a))
    rig.wait_idle()
    with rig.service.api as c:
        found: dict[str, Any] = c.get("/api/incidents/1").json()
    return found


def test_the_summary_shows_the_value_and_the_graph_is_uploaded(
    rig: SlackRig, prometheus: FakePrometheus
):
    inc = fire(rig)
    [query] = prometheus.calls("/api/v1/query")
    assert query.args["query"] == EXPR
    [summary] = [m for m in rig.slack.messages(inc["slack_channel_id"]) if m.get("blocks")]
    text = str(summary["blocks"])
    assert "Prometheus" in text and "0.9734" in text and "home-nfs" in text
    [upload] = rig.slack.uploads
    assert upload["filename"].endswith(".png") and upload["bytes"].startswith(b"\x89PNG")
    assert upload["channel_id"] == inc["slack_channel_id"]


def test_prometheus_down_only_means_no_context(rig: SlackRig, prometheus: FakePrometheus):
    prometheus.down = True
    inc = fire(rig)
    [summary] = [m for m in rig.slack.messages(inc["slack_channel_id"]) if m.get("blocks")]
    assert "no context" in str(summary["blocks"])
    assert rig.slack.uploads == []
    assert inc["slack_channel_id"] and inc["roles"] == {"commander": "UADA"}
