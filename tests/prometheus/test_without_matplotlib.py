"""matplotlib is an extra (`incident-bot[graphs]`): without it the value is still posted, the
graph skipped, and that said once in the log."""

import logging
import sys
import urllib.parse
from collections.abc import Iterator

import pytest

from bot.config import Settings
from bot.prometheus import context
from tests.conftest import running
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.prometheus import FakePrometheus
from tests.fakes.slack import FakeSlack
from tests.payloads import alert, delivery
from tests.rig import SlackRig

EXPR = 'kubelet_volume_stats_used_bytes{persistentvolumeclaim="home-nfs"} > 0.9'
SAID = "matplotlib is not installed"


@pytest.fixture
def without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # None in sys.modules makes `import matplotlib` raise ImportError, as if not installed,
    # even where another test imported it already.
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    context._pyplot.cache_clear()  # what an earlier test imported is forgotten, and after
    yield
    context._pyplot.cache_clear()


@pytest.fixture
def rig(
    without_matplotlib: None, slack_settings: Settings, fakes: tuple[FakeSlack, FakePagerDuty]
) -> Iterator[tuple[SlackRig, FakePrometheus]]:
    with FakePrometheus() as prometheus:
        prometheus.series = [({"cluster": "openscapes", "persistentvolumeclaim": "home-nfs"}, 0.97)]
        update = {"prometheus_url": prometheus.url}
        with running(slack_settings.model_copy(update=update)) as svc:
            yield SlackRig(svc, *fakes), prometheus


def test_the_value_is_posted_and_the_graph_skipped_once(
    rig: tuple[SlackRig, FakePrometheus], caplog: pytest.LogCaptureFixture
):
    slack_rig, prometheus = rig
    caplog.set_level(logging.WARNING, logger="bot.prometheus.context")
    a = alert("HomeDirectoryDiskNearlyFull", severity="critical")
    a["generatorURL"] = "http://prometheus.example/graph?g0.expr=" + urllib.parse.quote(EXPR)
    with slack_rig.service.am as c:
        assert c.post("/webhooks/alertmanager", json=delivery(a)).status_code == 200
    slack_rig.wait_idle()
    with slack_rig.service.api as c:
        inc = c.get("/api/incidents/1").json()
    [summary] = [m for m in slack_rig.slack.messages(inc["slack_channel_id"]) if m.get("blocks")]
    assert "0.97" in str(summary["blocks"]) and "no context" not in str(summary["blocks"])
    assert slack_rig.slack.uploads == []
    # Asked again, it still says nothing more, and queries no range it cannot draw.
    assert context.PrometheusContext(prometheus.url).graph(EXPR) is None
    assert prometheus.calls("/api/v1/query_range") == []
    said = [r for r in caplog.records if SAID in r.getMessage()]
    assert len(said) == 1 and "incident-bot[graphs]" in said[0].getMessage()
