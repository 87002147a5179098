"""The worst day: Slack down and back, failures that last and failures that pass, a process
killed mid-job, replicas sharing a storm. Every effect happens, and happens once."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.config import Settings
from tests.conftest import AM_TOKEN, API_TOKEN, ROOT, count, running
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.server import Recorded, Reply
from tests.fakes.slack import FakeSlack
from tests.payloads import alert, delivery
from tests.rig import ONCALL_EMAIL, PD_TOKEN, SIGNING_SECRET, SLACK_TOKEN, SlackRig

HUBS = [
    ("openscapes", "prod"),
    ("openscapes", "staging"),
    ("leap", "prod"),
    ("leap", "staging"),
    ("2i2c", "demo"),
    ("utoronto", "prod"),
]


def wait_for(predicate: Any, timeout: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not met in {timeout}s"
        time.sleep(0.02)


def storm_on(rig_or_url: Any, hubs: list[tuple[str, str]], per_hub: int = 1) -> None:
    url = rig_or_url if isinstance(rig_or_url, str) else rig_or_url.service.url
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {AM_TOKEN}"}) as c:
        for cluster, hub in hubs:
            alerts = [
                alert(f"HubAlert{n}", cluster=cluster, namespace=hub, severity="critical")
                for n in range(per_hub)
            ]
            r = c.post("/webhooks/alertmanager", json=delivery(*alerts))
            assert r.status_code == 200, r.text


def summaries(slack: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [m for m in slack.messages(channel) if m.get("blocks")]


def channels_ready(rig: SlackRig, n: int) -> bool:
    with rig.service.api as c:
        incidents = c.get("/api/incidents").json()
    return len(incidents) == n and all(
        i["slack_channel_id"] and summaries(rig.slack, i["slack_channel_id"]) for i in incidents
    )


@pytest.fixture
def quick(slack_settings: Settings) -> Settings:
    # Probes of a down integration every 2 s (the worker's default), jobs backing off far
    # beyond the test: only the recovery of the integration can bring them back in time.
    return slack_settings.model_copy(update={"worker_backoff_seconds": 60.0})


def test_slack_down_then_up_every_channel_opens_once_soon_after(
    quick: Settings, fakes: tuple[FakeSlack, FakePagerDuty]
) -> None:
    slack, pd = fakes
    slack.down = True
    with running(quick) as svc:
        rig = SlackRig(svc, slack, pd)
        storm_on(rig, HUBS)
        wait_for(lambda: len(slack.requests) >= 1, what="a first try")
        time.sleep(3)
        during = len(slack.requests)
        with svc.client() as c:
            ready = c.get("/readyz").json()
        assert "slack" in ready["unreachable"]
        # Down: one probe every couple of seconds, not every job retrying at its own pace.
        assert during <= 5, [r.path for r in slack.requests]
        slack.down = False
        back = time.monotonic()
        wait_for(lambda: channels_ready(rig, len(HUBS)), timeout=10, what="channels ready")
        took = time.monotonic() - back
        rig.wait_idle()
        with svc.client() as c:
            assert c.get("/readyz").json()["unreachable"] == {}
    # Within a probe interval or two of Slack answering, not at each job's own backoff (60 s).
    assert took < 6
    # One channel per hub: the attempts Slack refused while down made none.
    assert len(slack.channels) == len(HUBS)


class AppliedThenLost(FakeSlack):
    """A Slack that does the first `bookmarks.add` but whose answer is lost (a 500)."""

    lost = 0

    def handle(self, req: Recorded) -> Reply:
        reply = super().handle(req)
        if req.path.endswith("bookmarks.add") and not self.lost:
            self.lost += 1
            return Reply(500, {"ok": False, "error": "fatal_error"})
        return reply


RUNBOOK = """---
title: Hub alerts
alerts: ["HubAlert.*"]
---
1. Look at the hub.
"""


@pytest.fixture
def with_runbook(quick: Settings, tmp_path: Path) -> Settings:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "hub.md").write_text(RUNBOOK)
    return quick.model_copy(update={"runbooks_dir": folder, "worker_backoff_seconds": 0.05})


def test_a_flaky_bookmark_is_added_once(with_runbook: Settings) -> None:
    with AppliedThenLost(token=SLACK_TOKEN) as slack, FakePagerDuty(token=PD_TOKEN) as pd:
        settings = with_runbook.model_copy(
            update={"slack_api_url": slack.url, "pagerduty_api_url": pd.url}
        )
        with running(settings) as svc:
            rig = SlackRig(svc, slack, pd)
            storm_on(rig, HUBS[:1])
            wait_for(lambda: channels_ready(rig, 1))
            rig.wait_idle()
            [channel] = slack.channels
        assert slack.lost == 1
        assert len(slack.bookmarks(channel)) == 1


def test_a_missing_scope_kills_only_the_bookmark_never_the_summary(
    with_runbook: Settings, fakes: tuple[FakeSlack, FakePagerDuty]
) -> None:
    slack, pd = fakes
    missing = {"ok": False, "error": "missing_scope", "needed": "bookmarks:write"}
    slack.fail_next("bookmarks.add", 200, times=100, body=missing)
    with running(with_runbook) as svc:
        rig = SlackRig(svc, slack, pd)
        storm_on(rig, HUBS[:1])
        wait_for(lambda: channels_ready(rig, 1))
        rig.wait_idle()
        [channel] = slack.channels
        # The incident's later work is not held up by the dead bookmark.
        assert ":warning:" not in rig.reply("note the disk is full", channel=channel)
        rig.wait_idle()
        with svc.client() as c:
            assert c.get("/readyz").json()["dead_jobs"] == 1
        assert count(svc.engine, "job", "status = 'dead' AND kind = 'slack.bookmark'") == 1
        assert count(svc.engine, "timeline_event", "kind = 'note'") == 1
        # A person adds the scope and gives the job another go: the bookmark, once.
        slack._failures.clear()
        env = {**os.environ, "DATABASE_URL": with_runbook.database_url}
        listed = subprocess.run(
            [sys.executable, "-m", "bot", "jobs", "--dead"], env=env, capture_output=True, text=True
        )
        assert "slack.bookmark" in listed.stdout and "missing_scope" in listed.stdout
        # Plain `jobs` lists the dead first too, with their error: what needs a person.
        everything = subprocess.run(
            [sys.executable, "-m", "bot", "jobs"], env=env, capture_output=True, text=True
        )
        first = everything.stdout.splitlines()[1]
        assert "slack.bookmark" in first and "dead" in first and "missing_scope" in first
        job_id = listed.stdout.splitlines()[1].split()[0]
        retried = subprocess.run(
            [sys.executable, "-m", "bot", "jobs", "--retry", job_id],
            env=env,
            capture_output=True,
            text=True,
        )
        assert retried.returncode == 0, retried.stdout + retried.stderr
        again = subprocess.run(
            [sys.executable, "-m", "bot", "jobs", "--retry", job_id],
            env=env,
            capture_output=True,
            text=True,
        )
        assert again.returncode == 1 and not again.stdout
        assert f"job {job_id} is not dead" in again.stderr
        svc.app.state.worker.wake()
        wait_for(lambda: len(slack.bookmarks(channel)) == 1)
    assert len(summaries(slack, channel)) == 1


def test_a_summary_post_that_fails_once_is_posted_once(
    quick: Settings, fakes: tuple[FakeSlack, FakePagerDuty]
) -> None:
    slack, pd = fakes
    slack.fail_next("chat.postMessage", 503)
    settings = quick.model_copy(update={"worker_backoff_seconds": 0.05})
    with running(settings) as svc:
        rig = SlackRig(svc, slack, pd)
        storm_on(rig, HUBS[:1])
        wait_for(lambda: channels_ready(rig, 1))
        rig.wait_idle()
    [channel] = slack.channels
    assert len(summaries(slack, channel)) == 1
    assert len(slack.calls("conversations.create")) == 1
    invites = [r.args for r in slack.calls("conversations.invite")]
    assert [i["users"] for i in invites] == ["UADA"]  # the commander, invited once


# -- a process killed mid-job


class Stalling(FakeSlack):
    """`conversations.create` hangs until released (then does its work: the reply is lost)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = threading.Event()
        self.stalled = threading.Event()

    def _receive(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        if target.endswith("conversations.create") and not self.release.is_set():
            self.stalled.set()
            self.release.wait(20)
        return super()._receive(method, target, headers, body)


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--port", str(port), "--no-access-log"],
            env=env,
            stdout=out,
            stderr=out,
            cwd=ROOT,
        )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def stalling() -> Iterator[tuple[Stalling, FakePagerDuty]]:
    with Stalling(token=SLACK_TOKEN) as slack, FakePagerDuty(token=PD_TOKEN) as pd:
        slack.add_user("UADA", ONCALL_EMAIL, "Ada Lovelace")
        pd.add_user("PUADA", ONCALL_EMAIL, "Ada Lovelace")
        pd.set_oncall("P7QK2LM", "PUADA")
        yield slack, pd
        slack.release.set()


def test_kill_9_mid_job_another_process_takes_over_within_seconds(
    settings: Settings, stalling: tuple[Stalling, FakePagerDuty], tmp_path: Path
) -> None:
    slack, pd = stalling
    env = {k: v for k, v in os.environ.items() if k.upper() not in _setting_names()}
    env.update(
        DATABASE_URL=settings.database_url,
        HUBS_FILE=str(ROOT / "hubs.yaml"),
        RUNBOOKS_DIR=str(ROOT / "runbooks"),
        ALERTMANAGER_TOKEN=AM_TOKEN,
        API_TOKEN=API_TOKEN,
        SLACK_BOT_TOKEN=SLACK_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.url,
        PAGERDUTY_API_TOKEN=PD_TOKEN,
        PAGERDUTY_API_URL=pd.url,
        PAGERDUTY_FROM_EMAIL="bot@example.org",
        WORKER_LEASE_SECONDS="2",
        SLACK_RATE_SCALE="100",
    )
    log = tmp_path / "serve.log"
    port = _free_port()
    first = _serve(env, port, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url), timeout=30, what="first process up")
        storm_on(url, HUBS[:1])
        assert slack.stalled.wait(10), "the channel job never called Slack"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    # Slack did create the channel; the answer went to a dead process.
    slack.release.set()
    second = _serve(env, port, log)
    try:
        wait_for(lambda: _ready(url), timeout=30, what="second process up")
        started = time.monotonic()
        wait_for(lambda: _channel_ready(url, slack), timeout=15, what="channel ready")
        took = time.monotonic() - started
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    # Within the 2 s lease and a poll, not the old 600 s.
    assert took < 6, log.read_text()
    assert "taken over" in log.read_text()
    # The channel the dead process had Slack create is adopted, not made twice.
    assert len(slack.channels) == 1
    [channel] = slack.channels
    assert len(summaries(slack, channel)) == 1


def _setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _channel_ready(url: str, slack: FakeSlack) -> bool:
    found = httpx.get(
        f"{url}/api/incidents/1", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=5
    ).json()
    channel = found.get("slack_channel_id")
    return bool(channel and summaries(slack, channel))


# -- replicas sharing one PostgreSQL under a storm


def test_replicas_share_a_storm_and_do_every_slack_write_once(
    slack_settings: Settings, fakes: tuple[FakeSlack, FakePagerDuty]
) -> None:
    if not slack_settings.database_url.startswith("postgresql"):
        pytest.skip("replicas share one PostgreSQL")
    slack, pd = fakes
    hubs = [
        (c, h)
        for c, names in {
            "openscapes": ["prod", "staging", "workshop"],
            "leap": ["prod", "staging"],
            "2i2c": ["staging", "dask-staging", "demo"],
            "utoronto": ["staging", "prod", "r-prod"],
            "pangeo-hubs": ["staging", "prod", "binder"],
        }.items()
        for h in names
    ]
    with (
        running(slack_settings) as one,
        running(slack_settings) as two,
        running(slack_settings) as three,
    ):
        urls = [one.url, two.url, three.url]
        errors: list[BaseException] = []

        def send(i: int) -> None:
            try:
                # Every replica gets every hub's alerts, as behind a load balancer that
                # spreads Alertmanager's retries and its HA peers' duplicates.
                for round_ in range(3):
                    for cluster, hub in hubs:
                        with httpx.Client(
                            base_url=urls[(i + round_) % 3],
                            headers={"Authorization": f"Bearer {AM_TOKEN}"},
                        ) as c:
                            a = alert(
                                f"HubAlert{round_}",
                                cluster=cluster,
                                namespace=hub,
                                severity="critical",
                            )
                            assert (
                                c.post("/webhooks/alertmanager", json=delivery(a)).status_code
                                == 200
                            )
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        rig = SlackRig(one, slack, pd)
        wait_for(lambda: channels_ready(rig, len(hubs)), timeout=30, what="channels ready")
        rig.wait_idle(30)
    assert count(one.engine, "incident") == len(hubs)
    created = Counter(r.args.get("name") for r in slack.calls("conversations.create"))
    assert len(slack.channels) == len(hubs) and set(created.values()) == {1}
    for channel in slack.channels:
        assert len(summaries(slack, channel)) == 1
    topics = Counter(r.args.get("channel") for r in slack.calls("conversations.setTopic"))
    assert set(topics.values()) == {1}, topics


def test_someone_slack_will_not_invite_never_keeps_the_summary_out(
    quick: Settings, fakes: tuple[FakeSlack, FakePagerDuty], caplog: pytest.LogCaptureFixture
) -> None:
    slack, pd = fakes
    refused = {"ok": False, "error": "user_is_restricted"}
    slack.fail_next("conversations.invite", 200, times=100, body=refused)
    with running(quick) as svc:
        rig = SlackRig(svc, slack, pd)
        storm_on(rig, HUBS[:1])
        wait_for(lambda: channels_ready(rig, 1))
        rig.wait_idle()
        assert count(svc.engine, "job", "status = 'dead'") == 0
    [channel] = slack.channels
    assert len(summaries(slack, channel)) == 1
    assert len(slack.calls("conversations.invite")) == 1  # said once, not retried for an hour
    assert any("could not invite" in r.getMessage() for r in caplog.records)
