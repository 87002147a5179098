"""Pacing Slack ourselves: at its per-method tiers, a storm opens every channel without one 429,
as fast as the tier allows."""

import math
import time
from pathlib import Path
from typing import Any

import httpx

from bot.config import Settings
from bot.jobs.attempt import current_job
from bot.slack import pacing
from bot.slack.pacing import SlackPacer
from tests.conftest import AM_TOKEN, running
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.payloads import alert, delivery
from tests.rig import ONCALL_EMAIL, PD_TOKEN, SLACK_TOKEN, SlackRig

SCALE = 30.0  # a minute of Slack's allowance every 2 s

RUNBOOK = """---
title: Hub alerts
alerts: ["HubAlert.*"]
---
1. Look at the hub.
"""


def test_a_job_keeps_its_place_in_line() -> None:
    pacer = SlackPacer(scale=60)  # Tier 2: 20 calls a second
    for n in range(20):
        assert pacer.reserve("conversations.create", ticket=f"job-{n}")[0] == 0
    # The 21st and 22nd book the next free slots, in the order they asked.
    first, _ = pacer.reserve("conversations.create", ticket="job-20")
    second, _ = pacer.reserve("conversations.create", ticket="job-21")
    assert 0.9 < first < 1.2 and 0.9 < second < 1.2
    # Back early, it is told to wait for its slot again; on time, it goes.
    assert pacer.reserve("conversations.create", ticket="job-20")[0] > 0.8
    # A call for a person (no job) is never refused; it is counted.
    assert pacer.reserve("conversations.create", ticket=None)[0] == 0
    # Methods of other tiers and unknown methods are not held up by this one.
    assert pacer.reserve("chat.update", ticket="job-99")[0] == 0
    assert pacer.reserve("api.test", ticket="job-99")[0] == 0


def test_a_call_counts_from_its_answer() -> None:
    pacer = SlackPacer(scale=1)  # one message a second in a channel
    _, started = pacer.reserve("chat.postMessage", channel="C1", ticket="a")
    time.sleep(0.3)  # the answer came late: Slack may have seen the call late too
    pacer.answered("chat.postMessage", started, channel="C1")
    wait, _ = pacer.reserve("chat.postMessage", channel="C1", ticket="b")
    assert wait > 0.95  # a whole second from the answer, not 0.7 from the call


def test_messages_are_paced_per_channel_and_a_429_holds_the_method() -> None:
    pacer = SlackPacer(scale=1)
    assert pacer.reserve("chat.postMessage", channel="C1", ticket="a")[0] == 0
    assert pacer.reserve("chat.postMessage", channel="C1", ticket="b")[0] > 0.9
    assert pacer.reserve("chat.postMessage", channel="C2", ticket="c")[0] == 0
    pacer.hold("chat.update", 5)
    assert pacer.reserve("chat.update", ticket="d")[0] > 4.5


def test_the_tiers_are_slacks() -> None:
    assert pacing.PER_MINUTE["conversations.create"] == 20
    assert pacing.PER_MINUTE["conversations.setTopic"] == 20
    assert pacing.PER_MINUTE["bookmarks.add"] == 20
    assert pacing.PER_MINUTE["chat.update"] == 50
    assert pacing.PER_MINUTE["conversations.invite"] == 50
    assert pacing.PER_MINUTE["users.lookupByEmail"] == 50
    assert current_job.get() is None


def test_a_storm_past_tier_2_opens_every_channel_without_a_429(
    slack_settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "hub.md").write_text(RUNBOOK)
    with (
        FakeSlack(token=SLACK_TOKEN, rate_scale=SCALE) as slack,
        FakePagerDuty(token=PD_TOKEN) as pd,
    ):
        slack.add_user("UADA", ONCALL_EMAIL, "Ada Lovelace")
        pd.add_user("PUADA", ONCALL_EMAIL, "Ada Lovelace")
        for policy in ("P7QK2LM", "PDEFAULT1", "PL3AP9X", "PCRY0N4", "PUT0R5B", "PPG8H2D"):
            pd.set_oncall(policy, "PUADA")
        settings = slack_settings.model_copy(
            update={
                "slack_api_url": slack.url,
                "pagerduty_api_url": pd.url,
                "slack_rate_scale": SCALE,
                "runbooks_dir": folder,
                "worker_threads": 4,
            }
        )
        with running(settings) as svc:
            rig = SlackRig(svc, slack, pd)
            scopes = _scopes(svc)
            started = time.monotonic()
            with httpx.Client(
                base_url=svc.url, headers={"Authorization": f"Bearer {AM_TOKEN}"}
            ) as c:
                for cluster, hub in scopes:
                    a = alert("HubAlert1", cluster=cluster, namespace=hub, severity="critical")
                    assert c.post("/webhooks/alertmanager", json=delivery(a)).status_code == 200
            slack.wait_for(lambda: _ready(slack, len(scopes)), timeout=30)
            ready = time.monotonic() - started
            rig.wait_idle(30)
        stats = slack.stats()
    assert len(scopes) > 20  # more than one window's worth of conversations.create
    assert {m: s["ratelimited"] for m, s in stats.items() if s["ratelimited"]} == {}
    assert stats["conversations.create"]["ok"] == len(scopes)
    assert stats["conversations.setTopic"]["ok"] == len(scopes)
    assert stats["bookmarks.add"]["ok"] == len(scopes)
    # No faster than Slack allows (the fake would have said 429), and not much slower.
    floor = (math.ceil(len(scopes) / 20) - 1) * 60 / SCALE
    assert floor <= ready < floor * 1.5 + 2, (floor, ready)


def _scopes(svc: Any) -> list[tuple[str, str]]:
    registry = svc.app.state.registry
    hubs = [(c.name, h.name) for c in registry.clusters.values() for h in c.hubs]
    # And one cluster-wide scope per cluster (a namespace that is no hub).
    return hubs + [(c.name, "support") for c in registry.clusters.values()]


def _ready(slack: FakeSlack, n: int) -> bool:
    channels = list(slack.channels)
    return len(channels) == n and all(
        any(m.get("blocks") for m in slack.messages(c)) for c in channels
    )
