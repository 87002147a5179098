"""The worst day: an alert storm over a whole fleet, against Slack's real rate limits.

    python bench/storm.py [--scale 10] [--alerts 10000] [--hubs 171] [--senders 8]
                          [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/bench]
                          [--no-sqlite] [--timeout S] [--log-level warning] [--keep-logs DIR]

Run it from the repository root: it imports the fakes of tests/fakes (FakeSlack, FakePagerDuty),
which serve in this process on loopback ports. Everything goes to 127.0.0.1.

What one run does, for each database (SQLite in a temp dir; with `--pg-url` also PostgreSQL,
whose `public` schema is DROPPED and recreated first), each with fresh fakes:

1. Writes a hub registry (HUBS_FILE) of `--hubs` hubs over about 30 clusters shaped like
   2i2c's fleet (one shared cluster of ~40 hubs, the others 1 to 20), each cluster with its
   own `pagerduty_escalation_policy` and `pagerduty_service`. FakePagerDuty has one on-call
   person per policy, whom FakeSlack knows by the same email: every incident gets a commander
   to invite.
2. Starts FakeSlack enforcing Slack's per-method tiers (tests/fakes/slack.py `RateLimiter`),
   every window divided by `--scale`: Tier 2 (conversations.create, setTopic, bookmarks.add,
   conversations.list) 20 calls per 60/scale s, Tier 3 (chat.update, conversations.invite,
   users.lookupByEmail, ...) 50, Tier 4 (file uploads) 100, chat.postMessage one per
   1/scale s per channel with bursts of 3. Each method has its own allowance, as on Slack;
   a call over it is answered HTTP 429 with Retry-After (whole seconds) and has no effect,
   and spends none of the allowance.
3. Starts `incident-bot serve --no-access-log` as deployed: Slack, PagerDuty (REST API and
   signed webhooks) configured against the fakes, and SLACK_RATE_SCALE set to the same scale
   (the bot divides Slack's windows and its summary-coalescing interval by it; a bot that does
   not know the setting ignores it).
4. The storm: `--alerts` alerts (unique fingerprints) over the hubs in Alertmanager v4
   deliveries, one group per (cluster, namespace, alertname) as Alertmanager's
   `group_by: [cluster, namespace, alertname]` makes them, 1 to 50 alerts each; a quarter of
   the bigger groups are delivered twice, the second time with all of the first's alerts
   again plus more, as Alertmanager re-notifies a group that grew. Each hub's first delivery
   is one `JupyterHubHealthCheckFailing` alert, severity `critical`, so every hub opens an
   incident; the others use the names and severities of the hub alert rules in alerts/, all
   of which have a runbook (checked against runbooks/ front matter), so channels get
   bookmarks. `--senders` threads POST them on a schedule spread over 250/scale s (first
   deliveries in its first 30 %), each with a 20 s timeout, retrying an unanswered or
   failed delivery twice (1 s, then 2 s later) as Alertmanager would.
5. Meanwhile, from the first alert until max(that schedule, 1.10 x the floor below): signed
   PagerDuty V3 webhooks every 0.5 s (incident.triggered for a PagerDuty incident on a
   cluster's service whose `incident_key` is the sha256 of an answered delivery's group key,
   as Alertmanager's PagerDuty receiver opens them, so each links to its hub's incident; then
   incident.acknowledged by the on-call person and incident.annotated with notes), and a
   signed `/incident list` every second. Each request's latency is measured (30 s timeout).
6. Waits (at most `--timeout` seconds after the first POST) until every incident is ready and
   all is settled, watches 3 s more for stray Slack writes, then reads the bot's incidents
   (GET /api/incidents), the database (alert rows, jobs by status) and the server log.

Definitions (all times on this process's time.monotonic, the fake Slack's clock of receipt,
measured from the moment the first alert POST was sent):
- ready: for every incident the bot opened, its channel created, the summary (the
  chat.postMessage with blocks) posted in it, and its commander invited (the
  conversations.invite naming them; the commander the API reports, else the on-call person);
  "ready at" is the latest of these over all incidents.
- settled: every channel's latest topic mentions its incident's current severity, status and
  commander as the API reports them (so it was set after its last change), and the job table
  holds no job in status pending or running. Looked for only once every incident is ready,
  every delivery answered and the PagerDuty and slash traffic over (so never before that
  traffic's end, 1.10x the floor by default), polled every 0.25 s; "settled at" is when it
  was first seen, or the last change of a topic if later.
- floor: the earliest moment the fake's Tier 2 window lets the Nth conversations.create
  through, N the number of incidents, counted from the first create: 20 at once, then 20
  more each window, so (ceil(N / 20) - 1) x 60/scale s (171 incidents at scale 10: 48 s).
  Ready and settled are printed as ratios of it. Goals: ready <= 1.10x, settled <= 1.50x.
  Also goals (issue 8, "webhooks stay fast during the storm"): Alertmanager deliveries
  p99 <= 250 ms, PagerDuty webhooks p99 <= 1 s, every `/incident list` answered within 3 s.

How to read the report: the first table holds one column per database. Latencies are
nearest-rank percentiles over every request sent (a request unanswered after its timeout
counts at its timeout, and the figure is marked `+`). "redundant setTopic" counts calls that
set a channel's topic to the text it already had. The Slack table counts every call the
fake received by method, and how many it answered 429. Exits 1 if a goal is missed, an alert
is lost, an incident, channel, summary or bookmark is missing or doubled, a request failed,
a job died, a fake crashed, or the server logged an error: the lines marked `!!` say which.
Everything shares the machine's cores (the fakes and the senders run in this process).
"""

import argparse
import hashlib
import json
import math
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import yaml
from common import (
    AM_TOKEN,
    API_TOKEN,
    ROOT,
    Server,
    add_database_args,
    bot_env,
    databases,
    fail,
    free_port,
    fresh_database,
    git_describe,
    log_problems,
    logged_errors,
    pagerduty_signature,
    percentile,
    serve_command,
    serve_supports,
    sign,
    slash_command,
    version,
)

if str(ROOT) not in sys.path:  # for tests.fakes when run as `python bench/storm.py`
    sys.path.insert(0, str(ROOT))

from tests.fakes.pagerduty import FakePagerDuty  # noqa: E402
from tests.fakes.server import Recorded, Reply  # noqa: E402
from tests.fakes.slack import (  # noqa: E402
    BOT_USER,
    POST_BURST,
    TIER_2,
    TIER_3,
    TIER_4,
    FakeSlack,
)

SLACK_TOKEN = "xoxb-bench"
# The quiet channel, configured as deployed: every hub's first alert opens its incident, so
# the storm's other alerts join incidents and none is left for it.
QUIET_CHANNEL = "CQUIET0001"
SIGNING_SECRET = "bench-signing-secret"
PD_TOKEN = "bench-pd-token"
PD_FROM = "incident-bot@example.org"
PD_WEBHOOK_SECRET = "bench-pd-webhook-secret"
DISTS = ("fastapi", "uvicorn", "sqlalchemy", "slack_sdk", "slack_bolt", "httpx")

GOAL_READY, GOAL_SETTLED = 1.10, 1.50
GOAL_DELIVERY_P99_MS, GOAL_PD_P99_MS, GOAL_SLASH_MAX_MS = 250.0, 1000.0, 3000.0
DELIVERY_TIMEOUT, REQUEST_TIMEOUT = 20.0, 30.0
DELIVERY_ATTEMPTS = 3
PD_PERIOD, SLASH_PERIOD = 0.5, 1.0
STORM_SECONDS = 250.0  # how long the alerts take to arrive in real time; divided by the scale
QUIET_SECONDS = 3.0
POLL = 0.25
# Jobs still to do; any other status (done, dead) is final.
BUSY_STATUSES = ("pending", "running")
FIRST_ALERT = ("JupyterHubHealthCheckFailing", "take immediate action")
# The hub-level rules of alerts/*.yaml (2i2c's real names) and their severities; cluster-wide
# ones, like Prometheus' and Grafana's, would open cluster incidents, not hub ones.
HUB_ALERTS = (
    ("At least two servers failed to start in the last 30m", "immediate action needed"),
    ("proxy pod has restarted", "immediate action needed"),
    ("jupyterhub-home-nfs pod has restarted", "same day action needed"),
    ("Pod stuck in Pending for at least 30m", "action needed this week"),
    ("Pod stuck in Terminating for at least 10m", "action needed this week"),
    ("home-nfs has 10% of space left", "same day action needed"),
    ("home-nfs has 0% of space left", "take immediate action"),
    ("hub-db-dir has 10% of space left", "same day action needed"),
    ("hub-db-dir has 0% of space left", "take immediate action"),
    ("Disk IO approaching saturation", "action needed this week"),
)
# 2i2c's fleet, roughly: clusters and their number of hubs (171 in all, 30 clusters).
FLEET = (
    ("2i2c", 40),
    ("cloudbank", 19),
    ("2i2c-aws-us", 13),
    ("catalyst-africa", 11),
    ("catalyst-latam", 9),
    ("2i2c-uk", 8),
    ("awi-ciroh", 7),
    ("nasa-veda", 6),
    ("earthscope", 6),
    ("openscapes", 5),
    ("leap", 5),
    ("nasa-cryo", 4),
    ("utoronto", 4),
    ("pangeo-hubs", 4),
    ("smithsonian", 3),
    ("hhmi", 3),
    ("victor", 3),
    ("ubc-eoas", 3),
    ("jupyter-health", 2),
    ("nasa-ghg", 2),
    ("projectpythia", 2),
    ("opensci", 2),
    ("bican", 2),
    ("dubois", 2),
    ("maap", 1),
    ("strudel", 1),
    ("gridsst", 1),
    ("linked-earth", 1),
    ("qcl", 1),
    ("nmfs", 1),
)
HUB_NAMES = (
    "staging prod dask-staging demo showcase workshop ucmerced climatematch temple aup "
    "bcc ccsf csulb csum elcamino glendale howard lacc mills miracosta mission palomar "
    "pasadena sbcc sjcc skyline tuskegee ucla-r avc fresno humboldt ohlone sacramento "
    "santiago saddleback cuesta chaffey imperial merced moorpark norco oxnard"
).split()


def fleet(n_hubs: int) -> list[tuple[str, int]]:
    """About FLEET's shape for `n_hubs` hubs: clusters and their sizes."""
    total = sum(size for _, size in FLEET)
    sizes = [(name, max(1, round(size * n_hubs / total))) for name, size in FLEET]
    while sum(s for _, s in sizes) > n_hubs and len(sizes) > 1 and sizes[-1][1] == 1:
        sizes.pop()
    biggest = sizes[0][0], sizes[0][1] + n_hubs - sum(s for _, s in sizes)
    if biggest[1] < 1:
        fail(f"cannot shape a fleet of {n_hubs} hubs")
    return [biggest, *sizes[1:]]


def hub_names(size: int) -> list[str]:
    return [HUB_NAMES[i] if i < len(HUB_NAMES) else f"hub{i:02d}" for i in range(size)]


@dataclass(frozen=True)
class Hub:
    cluster: str
    name: str
    policy: str
    service: str


def write_registry(path: Path, n_hubs: int) -> list[Hub]:
    clusters, communities, hubs = [], [], []
    for i, (cluster, size) in enumerate(fleet(n_hubs), start=1):
        policy, service = f"PEP{i:04d}X", f"PSV{i:04d}X"
        communities.append(
            {"id": cluster, "name": f"Community of {cluster}", "visibility": "public"}
        )
        clusters.append(
            {
                "name": cluster,
                "provider": ("gcp", "aws", "azure")[i % 3],
                "pagerduty_escalation_policy": policy,
                "pagerduty_service": service,
                "hubs": [
                    {"name": name, "community": cluster, "domain": f"{name}.{cluster}.example.org"}
                    for name in hub_names(size)
                ],
            }
        )
        hubs += [Hub(cluster, name, policy, service) for name in hub_names(size)]
    path.write_text(
        "# Written by bench/storm.py: a fleet shaped like 2i2c's.\n"
        + yaml.safe_dump({"communities": communities, "clusters": clusters}, sort_keys=False)
    )
    return hubs


def check_runbooks() -> int:
    """Every alert name the storm uses must have a runbook; returns how many runbooks."""
    patterns = []
    for book in sorted((ROOT / "runbooks").glob("*.md")):
        text = book.read_text()
        if book.name == "README.md" or not text.startswith("---"):
            continue
        front = yaml.safe_load(text.split("---", 2)[1]) or {}
        patterns += [re.compile(p) for p in front.get("alerts") or []]
    for name, _ in (FIRST_ALERT, *HUB_ALERTS):
        if not any(p.fullmatch(name) for p in patterns):
            fail(f"no runbook in runbooks/ matches {name}: the storm would not bookmark it")
    return len(patterns)


# --- the storm: deliveries -----------------------------------------------------------------


@dataclass
class Delivery:
    hub: Hub
    alertname: str
    group_key: str
    body: bytes
    alerts: int
    at: float  # seconds after the start of the storm
    first_of_hub: bool
    attempts: list[tuple[float, float, str]] = field(default_factory=list)  # sent, took, outcome
    answered_ok: bool = False


def alert_json(hub: Hub, alertname: str, severity: str, n: int, starts: str) -> dict[str, Any]:
    labels = {
        "alertname": alertname,
        "cluster": hub.cluster,
        "namespace": hub.name,
        "severity": severity,
        "pod": f"{re.sub(r'[^a-z0-9]+', '-', alertname.lower())}-{n:03d}",
    }
    fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "status": "firing",
        "labels": labels,
        "annotations": {
            "summary": f"{alertname} on {hub.cluster}/{hub.name}",
            "description": f"{alertname} fired for pod {labels['pod']} of {hub.name}.",
        },
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph?g0.expr=up+%3D%3D+0",
        "fingerprint": fingerprint,
    }


def delivery_body(hub: Hub, alertname: str, group_key: str, alerts: list[dict[str, Any]]) -> bytes:
    common = {"alertname": alertname, "cluster": hub.cluster, "namespace": hub.name}
    return json.dumps(
        {
            "version": "4",
            "groupKey": group_key,
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "incident-bot",
            "groupLabels": common,
            "commonLabels": common,
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.example:9093",
            "alerts": alerts,
        }
    ).encode()


def plan_storm(
    hubs: list[Hub], n_alerts: int, seconds: float, rng: random.Random
) -> list[Delivery]:
    """The deliveries of the storm, in the order they are due."""
    if n_alerts < len(hubs):
        fail(f"--alerts {n_alerts}: at least one per hub ({len(hubs)}) is needed")
    weights = [rng.uniform(0.3, 1.7) for _ in hubs]
    counts = [1 + int((n_alerts - len(hubs)) * w / sum(weights)) for w in weights]
    for i in range(n_alerts - sum(counts)):
        counts[i % len(hubs)] += 1
    starts = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    deliveries = []
    for hub, count in zip(hubs, counts, strict=True):
        first_at = rng.uniform(0, 0.3 * seconds)
        name, severity = FIRST_ALERT
        key = f'{{}}/{{}}:{{alertname="{name}", cluster="{hub.cluster}", namespace="{hub.name}"}}'
        first = [alert_json(hub, name, severity, 0, starts)]
        deliveries.append(
            Delivery(hub, name, key, delivery_body(hub, name, key, first), 1, first_at, True)
        )
        left = count - 1
        names = list(HUB_ALERTS)
        rng.shuffle(names)
        groups: list[tuple[str, str, int]] = []
        while left > 0:
            size = min(left, rng.randint(1, 50))
            if len(groups) < len(names):
                groups.append((*names[len(groups)], size))
            else:  # more alerts than names can hold 50 of: spread the rest
                i = rng.randrange(len(groups))
                groups[i] = (groups[i][0], groups[i][1], groups[i][2] + size)
            left -= size
        for name, severity, size in groups:
            key = (
                f'{{}}/{{}}:{{alertname="{name}", cluster="{hub.cluster}", namespace="{hub.name}"}}'
            )
            alerts = [alert_json(hub, name, severity, n, starts) for n in range(size)]
            at = rng.uniform(first_at + 1.0, max(first_at + 1.0, seconds))
            if size >= 4 and rng.random() < 0.25:
                # Delivered twice: part, then (group_interval later) all of it.
                half = size // 2
                later = rng.uniform(min(at + 0.2 * seconds, seconds), seconds)
                deliveries.append(
                    Delivery(
                        hub,
                        name,
                        key,
                        delivery_body(hub, name, key, alerts[:half]),
                        half,
                        at,
                        False,
                    )
                )
                deliveries.append(
                    Delivery(
                        hub, name, key, delivery_body(hub, name, key, alerts), size, later, False
                    )
                )
            else:
                deliveries.append(
                    Delivery(hub, name, key, delivery_body(hub, name, key, alerts), size, at, False)
                )
    deliveries.sort(key=lambda d: d.at)
    return deliveries


# --- the fake Slack, noting what happened when ------------------------------------------------


class StormSlack(FakeSlack):
    """The fake Slack, noting each call that had an effect, and when it came in."""

    def __init__(self, scale: float) -> None:
        super().__init__(token=SLACK_TOKEN, rate_scale=scale)
        # (time.monotonic of receipt, method, channel id, detail)
        self.effects: list[tuple[float, str, str, Any]] = []

    def handle(self, req: Recorded) -> Reply:
        at = time.monotonic()
        reply = super().handle(req)
        body = reply.body if isinstance(reply.body, dict) else {}
        if reply.status != 200 or not body.get("ok"):
            return reply
        method, args = req.path.lstrip("/"), req.args
        if method == "conversations.create":
            self.effects.append((at, method, body["channel"]["id"], body["channel"]["name"]))
        elif method == "chat.postMessage":
            self.effects.append((at, method, str(body["channel"]), bool(args.get("blocks"))))
        elif method == "conversations.invite":
            users = [u for u in str(args.get("users", "")).split(",") if u]
            self.effects.append((at, method, str(args.get("channel")), users))
        elif method == "conversations.setTopic":
            self.effects.append((at, method, str(args.get("channel")), str(args.get("topic", ""))))
        elif method in ("chat.update", "bookmarks.add"):
            channel = args.get("channel") or args.get("channel_id")
            self.effects.append((at, method, str(channel), None))
        return reply


@dataclass
class Channel:
    id: str
    name: str
    created: float
    summaries: list[float] = field(default_factory=list)
    posts: int = 0
    invited: dict[str, float] = field(default_factory=dict)  # user -> first invite
    topics: list[tuple[float, str]] = field(default_factory=list)
    updates: int = 0
    bookmarks: int = 0

    def ready_for(self, user: str | None) -> float | None:
        if not self.summaries or user is None or user not in self.invited:
            return None
        return max(self.created, self.summaries[0], self.invited[user])

    @property
    def topic(self) -> str | None:
        return self.topics[-1][1] if self.topics else None

    @property
    def topic_changed(self) -> float | None:
        """When the topic got its final text (the last call that changed it)."""
        changed, previous = None, None
        for at, text in self.topics:
            if text != previous:
                changed, previous = at, text
        return changed

    @property
    def redundant_topics(self) -> int:
        previous, n = None, 0
        for _, text in self.topics:
            n += text == previous
            previous = text
        return n


class Tracker:
    """What the fake Slack saw, by channel."""

    def __init__(self, slack: StormSlack) -> None:
        self.slack = slack
        self.channels: dict[str, Channel] = {}
        self.first_create: float | None = None
        self.last_write = 0.0
        self._seen = 0

    def update(self) -> None:
        with self.slack.lock:
            new = self.slack.effects[self._seen :]
        self._seen += len(new)
        for at, method, channel_id, detail in new:
            self.last_write = max(self.last_write, at)
            if method == "conversations.create":
                self.channels[channel_id] = Channel(channel_id, detail, at)
                self.first_create = at if self.first_create is None else self.first_create
                continue
            channel = self.channels.get(channel_id)
            if channel is None:
                continue  # e.g. a community's channel
            if method == "chat.postMessage":
                channel.posts += 1
                if detail:
                    channel.summaries.append(at)
            elif method == "conversations.invite":
                for user in detail:
                    channel.invited.setdefault(user, at)
            elif method == "conversations.setTopic":
                channel.topics.append((at, detail))
            elif method == "chat.update":
                channel.updates += 1
            elif method == "bookmarks.add":
                channel.bookmarks += 1

    def ready_count(self, commanders: set[str]) -> int:
        """Channels with a summary and one of the on-call people invited."""
        return sum(
            1
            for c in self.channels.values()
            if c.summaries and any(u in commanders for u in c.invited)
        )


# --- traffic -----------------------------------------------------------------------------------


@dataclass
class Request:
    kind: str
    sent: float  # seconds after the first alert POST
    took: float  # seconds; the timeout if unanswered
    status: int | None  # None: unanswered
    detail: str = ""


@dataclass
class PdIncident:
    id: str
    hub: Hub
    key: str
    data: dict[str, Any]
    answered: bool = False  # its incident.triggered was answered 2xx
    acknowledged: bool = False  # incident.acknowledged sent
    ack_answered: bool = False  # ... and answered 2xx
    notes: list[str] = field(default_factory=list)  # incident.annotated sent
    notes_answered: list[str] = field(default_factory=list)  # ... and answered 2xx


class Storm:
    """One run: the bot, the fakes, the traffic and what was measured."""

    def __init__(
        self,
        base: str,
        args: argparse.Namespace,
        hubs: list[Hub],
        deliveries: list[Delivery],
        slack: StormSlack,
        pd: FakePagerDuty,
        oncall: dict[str, tuple[str, str, str]],  # policy -> (PD user, Slack user, name)
        engine: sa.Engine,
        server: Server,
    ) -> None:
        self.base = base
        self.args = args
        self.hubs = hubs
        self.deliveries = deliveries
        self.slack = slack
        self.pd = pd
        self.oncall = oncall
        self.engine = engine
        self.server = server
        self.tracker = Tracker(slack)
        self.rng = random.Random(args.seed + 1)
        self.t0 = 0.0
        self.traffic_end = 0.0
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.answered_groups: list[Delivery] = []
        self.pd_incidents: dict[Hub, PdIncident] = {}
        self.pd_step = 0
        self.problems: list[str] = []
        self.ready_seen: float | None = None
        self.settled_seen: float | None = None
        self.stray_writes = 0
        self.incidents: list[dict[str, Any]] = []
        self.senders_done = threading.Event()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def record(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)

    # -- Alertmanager

    def send_alerts(self) -> None:
        queue = iter(self.deliveries)
        take = threading.Lock()

        def sender() -> None:
            with httpx.Client(base_url=self.base, timeout=DELIVERY_TIMEOUT) as client:
                client.get("/healthz")  # connected first, as Alertmanager's kept-alive ones are
                while True:
                    with take:
                        d = next(queue, None)
                    if d is None or self.now() > self.args.timeout:
                        return
                    self.deliver(client, d)

        threads = [
            threading.Thread(target=sender, name=f"sender-{i}", daemon=True)
            for i in range(self.args.senders)
        ]
        self.t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.senders_done.set()

    def deliver(self, client: httpx.Client, d: Delivery) -> None:
        wait = d.at - self.now()
        if wait > 0:
            time.sleep(wait)
        headers = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
        for attempt in range(DELIVERY_ATTEMPTS):
            if attempt:
                time.sleep(2 ** (attempt - 1))
            sent = self.now()
            try:
                r = client.post("/webhooks/alertmanager", content=d.body, headers=headers)
            except httpx.HTTPError as exc:
                took = self.now() - sent
                d.attempts.append((sent, took, type(exc).__name__))
                self.record(Request("alertmanager", sent, took, None, type(exc).__name__))
                continue
            took = self.now() - sent
            d.attempts.append((sent, took, str(r.status_code)))
            self.record(Request("alertmanager", sent, took, r.status_code, r.text[:200]))
            if r.is_success:
                d.answered_ok = True
                with self.lock:
                    self.answered_groups.append(d)
                return

    # -- PagerDuty and Slack, meanwhile

    def background(self) -> None:
        """PagerDuty webhooks and slash commands on a schedule until `traffic_end`."""
        # Enough threads that a slow bot does not slow the schedule down.
        pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="background")
        client = httpx.Client(
            base_url=self.base,
            timeout=REQUEST_TIMEOUT,
            limits=httpx.Limits(max_connections=64),
        )
        try:
            due = {"pagerduty": 0.0, "slash": 0.5}
            while True:
                kind = min(due, key=due.__getitem__)
                at = due[kind]
                if at >= self.traffic_end:
                    break
                wait = at - self.now()
                if wait > 0:
                    time.sleep(wait)
                if kind == "pagerduty":
                    event, answered = self.next_pd_event()
                    if event is not None:
                        pool.submit(self.send_pd, client, event, answered)
                    due[kind] += PD_PERIOD
                else:
                    pool.submit(self.send_slash, client)
                    due[kind] += SLASH_PERIOD
        finally:
            pool.shutdown(wait=True)
            client.close()

    def next_pd_event(self) -> tuple[dict[str, Any] | None, Callable[[], None]]:
        """The next PagerDuty event: trigger, acknowledge, annotate, in turn as possible, and
        what to note once it is answered 2xx (the bot then owes its effect). An incident is
        acknowledged or annotated only once its incident.triggered was answered, as
        PagerDuty's own order would have it."""
        with self.lock:
            untriggered = [d for d in self.answered_groups if d.hub not in self.pd_incidents]
            known = [p for p in self.pd_incidents.values() if p.answered]
        unacked = [p for p in known if not p.acknowledged]
        wanted = ("triggered", "acknowledged", "annotated", "triggered", "annotated")
        self.pd_step += 1
        for kind in (wanted[self.pd_step % len(wanted)], "triggered", "annotated"):
            if kind == "triggered" and untriggered:
                event, p = self.pd_triggered(self.rng.choice(untriggered))
                return event, partial(setattr, p, "answered", True)
            if kind == "acknowledged" and unacked:
                p = unacked[0]
                return self.pd_acknowledged(p), partial(setattr, p, "ack_answered", True)
            if kind == "annotated" and known:
                p = self.rng.choice(known)
                event = self.pd_annotated(p)
                text = event["event"]["data"]["content"]
                return event, partial(p.notes_answered.append, text)
        return None, lambda: None

    def _agent(self, hub: Hub) -> dict[str, Any]:
        pd_user, _, name = self.oncall[hub.policy]
        return {"id": pd_user, "type": "user_reference", "summary": name}

    def _event(
        self, kind: str, data: dict[str, Any], agent: dict[str, Any] | None
    ) -> dict[str, Any]:
        return {
            "event": {
                "id": f"01STORM{self.rng.getrandbits(64):016X}",
                "event_type": kind,
                "resource_type": "incident",
                "occurred_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "agent": agent,
                "client": None,
                "data": data,
            }
        }

    def pd_triggered(self, d: Delivery) -> tuple[dict[str, Any], PdIncident]:
        key = hashlib.sha256(d.group_key.encode()).hexdigest()
        title = f"[FIRING] {d.alertname} on {d.hub.cluster}/{d.hub.name}"
        made = self.pd.add_incident(
            title, service_id=d.hub.service, escalation_policy_id=d.hub.policy, incident_key=key
        )
        data = {
            k: made.get(k)
            for k in (
                "id",
                "type",
                "self",
                "html_url",
                "status",
                "incident_key",
                "title",
                "service",
                "escalation_policy",
                "urgency",
                "created_at",
            )
        }
        data["number"] = made.get("incident_number")
        data["assignees"] = [a["assignee"] for a in made.get("assignments") or []]
        data["priority"] = None
        incident = PdIncident(made["id"], d.hub, key, data)
        with self.lock:
            self.pd_incidents[d.hub] = incident
        return self._event("incident.triggered", data, None), incident

    def pd_acknowledged(self, p: PdIncident) -> dict[str, Any]:
        p.acknowledged = True
        with self.pd.lock:
            self.pd.incidents[p.id]["status"] = "acknowledged"
        return self._event(
            "incident.acknowledged", {**p.data, "status": "acknowledged"}, self._agent(p.hub)
        )

    def pd_annotated(self, p: PdIncident) -> dict[str, Any]:
        text = f"storm note {len(p.notes) + 1} on {p.id}: checked the node pool"
        p.notes.append(text)
        data = {
            "incident": {"id": p.id, "type": "incident_reference", "html_url": p.data["html_url"]},
            "id": f"PNOTE{self.rng.getrandbits(32):08X}",
            "content": text,
            "trimmed": False,
            "type": "incident_note",
        }
        return self._event("incident.annotated", data, self._agent(p.hub))

    def send_pd(
        self, client: httpx.Client, event: dict[str, Any], answered: Callable[[], None]
    ) -> None:
        body = json.dumps(event).encode()
        headers = {
            "Content-Type": "application/json",
            **pagerduty_signature(body, PD_WEBHOOK_SECRET),
        }
        what = event["event"]["event_type"]
        if self._send(client, "pagerduty", "/webhooks/pagerduty", body, headers, what):
            with self.lock:
                answered()

    def send_slash(self, client: httpx.Client) -> None:
        body = slash_command("list")
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            **sign(body, SIGNING_SECRET),
        }
        self._send(client, "slash", "/slack/events", body, headers, "/incident list")

    def _send(
        self,
        client: httpx.Client,
        kind: str,
        path: str,
        body: bytes,
        headers: dict[str, str],
        what: str,
    ) -> bool:
        """POST, and note how long it took; whether it was answered 2xx."""
        sent = self.now()
        try:
            r = client.post(path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self.record(
                Request(kind, sent, self.now() - sent, None, f"{what}: {type(exc).__name__}")
            )
            return False
        self.record(
            Request(kind, sent, self.now() - sent, r.status_code, f"{what}: {r.text[:200]}")
        )
        return r.is_success

    # -- waiting for ready and settled

    def queue_busy(self) -> dict[str, int] | None:
        """Jobs pending or running, by kind (None if the table cannot be read)."""
        query = sa.text(
            "SELECT kind, count(*) FROM job WHERE status IN :busy GROUP BY kind"
        ).bindparams(sa.bindparam("busy", expanding=True))
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query, {"busy": list(BUSY_STATUSES)})
                return {str(kind): int(n) for kind, n in rows}
        except sa.exc.SQLAlchemyError as exc:
            if len(self.problems) < 20:
                self.problems.append(f"reading the job table: {exc!r}"[:300])
            return None

    def jobs_by_status(self) -> dict[str, int]:
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT status, count(*) FROM job GROUP BY status"))
                return {str(s): int(n) for s, n in rows}
        except sa.exc.SQLAlchemyError as exc:
            return {f"unreadable: {exc!r}"[:200]: 0}

    def count(self, table: str) -> int | None:
        try:
            with self.engine.connect() as conn:
                return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
        except sa.exc.SQLAlchemyError:
            return None

    def fetch_incidents(self, timeout: float = REQUEST_TIMEOUT) -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = []
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        try:
            for offset in range(0, 100_000, 1000):
                r = httpx.get(
                    f"{self.base}/api/incidents",
                    params={"limit": 1000, "offset": offset},
                    headers=headers,
                    timeout=timeout,
                )
                if r.status_code != 200:
                    return None
                page = r.json()
                found += page
                if len(page) < 1000:
                    return found
        except (httpx.HTTPError, ValueError):
            return None
        return found

    def commander_of(self, incident: dict[str, Any]) -> str | None:
        roles = incident.get("roles") or {}
        if roles.get("commander"):
            return str(roles["commander"])
        hub = self.hub_of(incident)
        return self.oncall[hub.policy][1] if hub else None

    def hub_of(self, incident: dict[str, Any]) -> Hub | None:
        return next(
            (
                h
                for h in self.hubs
                if h.cluster == incident.get("cluster") and h.name == incident.get("hub")
            ),
            None,
        )

    def topic_current(self, incident: dict[str, Any]) -> bool:
        channel = self.tracker.channels.get(str(incident.get("slack_channel_id")))
        if channel is None or channel.topic is None:
            return False
        topic = channel.topic.lower()
        commander = (incident.get("roles") or {}).get("commander")
        return (
            str(incident.get("severity", "")).lower() in topic
            and str(incident.get("status", "")).lower() in topic
            and (commander is None or f"<@{commander.lower()}>" in topic)
        )

    def wait(self) -> None:
        """Until ready and settled, or the timeout; then a quiet period."""
        commanders = {slack_user for _, slack_user, _ in self.oncall.values()}
        expected = len(self.hubs)
        asked, told = -1.0, 0.0
        busy: dict[str, int] | None = None
        stale: int | None = None
        while self.now() < self.args.timeout:
            self.tracker.update()
            if self.server.proc.poll() is not None:
                self.problems.append(
                    f"the bot exited ({self.server.proc.returncode}) during the storm"
                )
                return
            ready = self.tracker.ready_count(commanders)
            if self.ready_seen is None and ready >= expected:
                self.ready_seen = self.now()
            if self.now() - told >= 30:
                told = self.now()
                answered = sum(d.answered_ok for d in self.deliveries)
                print(
                    f"  {told:4.0f} s: {ready} of {expected} channels ready, "
                    f"{answered} of {len(self.deliveries)} deliveries answered"
                    + (f", jobs pending or running: {describe(busy)}" if busy is not None else "")
                    + (f", {stale} topics not current" if stale is not None else ""),
                    file=sys.stderr,
                )
            if (
                self.ready_seen is not None
                and self.senders_done.is_set()
                and self.now() >= self.traffic_end
            ):
                seen = self.now()
                busy = self.queue_busy()
                # The API is asked at most once a second, when the queue is empty.
                if busy == {} and seen - asked >= 1.0:
                    asked = seen
                    incidents = self.fetch_incidents(timeout=5)
                    self.tracker.update()
                    if incidents is not None:
                        stale = sum(not self.topic_current(i) for i in incidents)
                        if not stale:
                            self.settled_seen = seen
                            self.incidents = incidents
                            break
            time.sleep(POLL)
        if self.settled_seen is None:
            return
        settled_at = self.t0 + self.settled_seen
        time.sleep(QUIET_SECONDS)
        with self.slack.lock:
            self.stray_writes = sum(1 for at, *_ in self.slack.effects if at > settled_at)


# --- one database -----------------------------------------------------------------------------


@dataclass
class Result:
    database: str
    scale: float
    hubs: int
    alerts_sent: int
    deliveries: int
    figures: dict[str, str] = field(default_factory=dict)
    slack: dict[str, dict[str, int]] = field(default_factory=dict)
    goals: list[tuple[str, bool, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    log_problems: list[str] = field(default_factory=list)


def staff_oncall(
    hubs: list[Hub], slack: FakeSlack, pd: FakePagerDuty
) -> dict[str, tuple[str, str, str]]:
    oncall = {}
    for i, policy in enumerate(sorted({h.policy for h in hubs}), start=1):
        email, name = f"oncall-{i}@example.org", f"On Call {i}"
        slack.add_user(f"UONCALL{i:03d}", email, name)
        pd.add_user(f"PONCALL{i:03d}", email, name)
        pd.set_oncall(policy, f"PONCALL{i:03d}")
        oncall[policy] = (f"PONCALL{i:03d}", f"UONCALL{i:03d}", name)
    return oncall


def run(database: str, args: argparse.Namespace, tmp: Path) -> Result:
    hubs_file = tmp / "storm-hubs.yaml"
    hubs = write_registry(hubs_file, args.hubs)
    rng = random.Random(args.seed)
    send_seconds = STORM_SECONDS / args.scale
    deliveries = plan_storm(hubs, args.alerts, send_seconds, rng)
    window = 60 / args.scale
    floor = (math.ceil(len(hubs) / TIER_2) - 1) * window
    result = Result(database, args.scale, len(hubs), args.alerts, len(deliveries))

    url = fresh_database(database, args.pg_url, tmp / "storm.db")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [*serve_command(port), "--log-level", args.log_level]
    if serve_supports("--no-access-log"):
        cmd.append("--no-access-log")
    with StormSlack(args.scale) as slack, FakePagerDuty(token=PD_TOKEN) as pd:
        oncall = staff_oncall(hubs, slack, pd)
        slack.add_channel("quiet-alerts", channel_id=QUIET_CHANNEL, members=(BOT_USER,))
        env = bot_env(
            url,
            SLACK_BOT_TOKEN=SLACK_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack.url,
            PAGERDUTY_API_TOKEN=PD_TOKEN,
            PAGERDUTY_API_URL=pd.url,
            PAGERDUTY_FROM_EMAIL=PD_FROM,
            PAGERDUTY_WEBHOOK_SECRET=PD_WEBHOOK_SECRET,
            SLACK_RATE_SCALE=f"{args.scale:g}",
            OBSERVE_CHANNEL=QUIET_CHANNEL,
        )
        env["HUBS_FILE"] = str(hubs_file)
        server = Server(cmd, env, tmp, tmp / f"bot-{database}.log")
        engine = sa.create_engine(url)
        storm = Storm(base, args, hubs, deliveries, slack, pd, oncall, engine, server)
        storm.traffic_end = max(send_seconds, GOAL_READY * floor)
        try:
            server.wait_ready(f"{base}/readyz")
            print(
                f"{database}: {args.alerts:,} alerts in {len(deliveries)} deliveries over "
                f"{len(hubs)} hubs; floor {floor:g} s; waiting at most {args.timeout:g} s ...",
                file=sys.stderr,
            )
            senders = threading.Thread(target=storm.send_alerts, name="senders", daemon=True)
            senders.start()
            started = time.monotonic()
            while storm.t0 == 0.0 and time.monotonic() - started < 10:
                time.sleep(0.001)
            background = threading.Thread(target=storm.background, name="background", daemon=True)
            background.start()
            storm.wait()
            senders.join(DELIVERY_TIMEOUT * DELIVERY_ATTEMPTS + 5)
            background.join(REQUEST_TIMEOUT + 5)
            if not storm.incidents:
                storm.incidents = storm.fetch_incidents() or []
                if not storm.incidents:
                    storm.problems.append("GET /api/incidents failed after the storm")
            details = incident_details(storm)
            jobs = ", ".join(f"{s} {n:,}" for s, n in sorted(storm.jobs_by_status().items()))
            stored, incident_rows = storm.count("alert"), storm.count("incident")
        finally:
            server.stop()
            engine.dispose()
        storm.tracker.update()
        result.slack = slack.stats()
        fake_errors = [f"fake Slack crashed: {e!r}" for e in slack.errors]
        fake_errors += [f"fake PagerDuty crashed: {e!r}" for e in pd.errors]
    if args.keep_logs:
        args.keep_logs.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log_path, args.keep_logs / server.log_path.name)
    result.log_problems = log_problems(server.log())
    result.problems += storm.problems + fake_errors
    if server.stop_note:
        result.problems.append(f"server {server.stop_note}")
    if logged_errors(result.log_problems):
        result.problems.append("the server logged errors (see its log above)")
    analyse(storm, result, floor, send_seconds, stored, incident_rows, details)
    result.figures["jobs at the end, by status"] = jobs
    if "dead" in jobs:
        result.problems.append(f"dead jobs in the queue: {jobs}")
    return result


def incident_details(storm: Storm) -> dict[int, list[tuple[str, str]]]:
    """The timelines (kind, text) of the incidents PagerDuty notes or acknowledgements were
    sent to."""
    wanted = {p.hub for p in storm.pd_incidents.values() if p.notes or p.acknowledged}
    texts: dict[int, list[tuple[str, str]]] = {}
    for incident in storm.incidents:
        hub = storm.hub_of(incident)
        if hub not in wanted:
            continue
        try:
            r = httpx.get(
                f"{storm.base}/api/incidents/{incident['number']}",
                headers={"Authorization": f"Bearer {API_TOKEN}"},
                timeout=REQUEST_TIMEOUT,
            )
            if r.status_code == 200:
                texts[incident["number"]] = [
                    (str(e.get("kind", "")), str(e.get("text", "")))
                    for e in r.json().get("timeline", [])
                ]
        except (httpx.HTTPError, ValueError):
            pass
    return texts


# --- the figures -------------------------------------------------------------------------------


def describe(counts: dict[str, int] | None) -> str:
    """`7 (slack.refresh 5, pagerduty.event 2)`."""
    if counts is None:
        return "?"
    top = sorted(counts.items(), key=lambda kv: -kv[1])
    return f"{sum(counts.values())}" + (
        " (" + ", ".join(f"{k} {n}" for k, n in top[:4]) + ")" if top else ""
    )


def ms(values: list[float], p: float | None, unanswered: bool) -> str:
    if not values:
        return "-"
    v = max(values) if p is None else percentile(values, p)
    return f"{v * 1000:,.0f}" + ("+" if unanswered and v >= DELIVERY_TIMEOUT - 0.5 else "")


def latency_figures(requests: list[Request], kind: str) -> tuple[str, list[float], int, int]:
    mine = [r for r in requests if r.kind == kind]
    took = [r.took for r in mine]
    unanswered = sum(r.status is None for r in mine)
    failed = sum(r.status is not None and not 200 <= r.status < 300 for r in mine)
    text = " / ".join(ms(took, p, unanswered > 0) for p in (50, 99, None))
    return text, took, unanswered, failed


def analyse(
    storm: Storm,
    result: Result,
    floor: float,
    send_seconds: float,
    stored: int | None,
    incident_rows: int | None,
    details: dict[int, list[tuple[str, str]]],
) -> None:
    f, problems, goals = result.figures, result.problems, result.goals
    tracker, incidents = storm.tracker, storm.incidents
    t0 = storm.t0

    # -- alerts and deliveries
    f["alerts stored / sent"] = (
        f"{stored if stored is not None else '?':,} / {result.alerts_sent:,}"
    )
    if stored is None:
        problems.append("could not count the alert table")
    elif stored < result.alerts_sent:
        problems.append(
            f"LOST: {result.alerts_sent - stored:,} of {result.alerts_sent:,} alerts not stored"
        )
    elif stored > result.alerts_sent:
        problems.append(
            f"DOUBLED: {stored - result.alerts_sent:,} more alert rows than alerts sent"
        )
    ds = storm.deliveries
    sent = [d for d in ds if d.attempts]
    never = [d for d in ds if not d.answered_ok]
    text, took, unanswered, failed = latency_figures(storm.requests, "alertmanager")
    f["deliveries: sent / answered 2xx / retried"] = (
        f"{len(sent)} of {len(ds)} / {len(ds) - len(never)} / "
        f"{sum(len(d.attempts) > 1 for d in ds)}"
    )
    f["deliveries unanswered (20 s) / failed (non-2xx)"] = f"{unanswered} / {failed}"
    f["delivery ms p50 / p99 / max"] = text
    last_answer = max((s + t for d in ds for s, t, o in d.attempts if o.startswith("2")), default=0)
    f["last delivery answered at"] = f"{last_answer:.1f} s (schedule: {send_seconds:g} s)"
    if never:
        problems.append(
            f"{len(never)} deliveries never answered 2xx after {DELIVERY_ATTEMPTS} attempts"
        )
    if unanswered or failed:
        problems.append(
            f"deliveries: {unanswered} attempts unanswered after 20 s, {failed} non-2xx"
        )
    p99 = percentile(took, 99) * 1000 if took else float("nan")
    goals.append(
        ("Alertmanager deliveries p99 <= 250 ms", p99 <= GOAL_DELIVERY_P99_MS, f"{p99:,.0f} ms")
    )

    # -- PagerDuty and slash commands
    text, took, unanswered, failed = latency_figures(storm.requests, "pagerduty")
    pd_sent = Counter(r.detail.split(":")[0] for r in storm.requests if r.kind == "pagerduty")
    f["PagerDuty webhooks sent"] = (
        f"{sum(pd_sent.values())} ("
        + ", ".join(f"{k.removeprefix('incident.')} {n}" for k, n in sorted(pd_sent.items()))
        + ")"
    )
    f["PagerDuty unanswered (30 s) / failed"] = f"{unanswered} / {failed}"
    f["PagerDuty ms p50 / p99 / max"] = text
    if unanswered or failed:
        problems.append(f"PagerDuty webhooks: {unanswered} unanswered, {failed} non-2xx")
    p99 = percentile(took, 99) * 1000 if took else float("nan")
    goals.append(("PagerDuty webhooks p99 <= 1 s", p99 <= GOAL_PD_P99_MS, f"{p99:,.0f} ms"))
    text, took, unanswered, failed = latency_figures(storm.requests, "slash")
    late = sum(t > GOAL_SLASH_MAX_MS / 1000 for t in took)
    f["/incident list sent / unanswered / failed / over 3 s"] = (
        f"{len(took)} / {unanswered} / {failed} / {late}"
    )
    f["/incident list ms p50 / p99 / max"] = text
    if unanswered or failed:
        problems.append(f"/incident list: {unanswered} unanswered, {failed} non-2xx")
    top = max(took) * 1000 if took else float("nan")
    goals.append(
        ("every /incident list answered within 3 s", top <= GOAL_SLASH_MAX_MS, f"max {top:,.0f} ms")
    )

    # -- incidents and channels
    by_hub = Counter((i.get("cluster"), i.get("hub")) for i in incidents)
    hubs = {(h.cluster, h.name) for h in storm.hubs}
    other = [i for i in incidents if (i.get("cluster"), i.get("hub")) not in hubs]
    doubled = {k: n for k, n in by_hub.items() if n > 1 and k in hubs}
    missing = hubs - set(by_hub)
    ours = list(tracker.channels.values())
    f["incidents: hubs / other / rows"] = (
        f"{len(incidents) - len(other)} of {len(hubs)} / {len(other)} / {incident_rows}"
    )
    f["channels created by the bot"] = str(len(ours))
    if missing:
        problems.append(f"LOST: {len(missing)} hubs have no incident, e.g. {sorted(missing)[:3]}")
    if doubled:
        problems.append(
            f"DOUBLED: {len(doubled)} hubs have several incidents, e.g. {list(doubled.items())[:3]}"
        )
    if other:
        problems.append(
            f"{len(other)} incidents on no hub of the storm, e.g. "
            + ", ".join(
                f"#{i['number']} {i.get('cluster')}/{i.get('hub')} {i.get('title')}"
                for i in other[:3]
            )
        )
    channel_ids = [i.get("slack_channel_id") for i in incidents]
    without = [i for i in incidents if not i.get("slack_channel_id")]
    if without:
        problems.append(f"{len(without)} incidents have no channel")
    if len(ours) > len(incidents) or len(set(channel_ids)) < len(channel_ids):
        problems.append(
            f"DOUBLED: {len(ours)} channels created for {len(incidents)} incidents "
            f"({len(channel_ids) - len(set(channel_ids))} shared)"
        )

    # -- ready
    ready: list[float] = []
    not_ready = []
    wrong_commander = 0
    summaries: Counter[int] = Counter()
    bookmarks: Counter[int] = Counter()
    for i in incidents:
        channel = tracker.channels.get(str(i.get("slack_channel_id")))
        commander = storm.commander_of(i)
        hub = storm.hub_of(i)
        if hub and commander != storm.oncall[hub.policy][1]:
            wrong_commander += 1
        at = channel.ready_for(commander) if channel else None
        if at is None:
            not_ready.append(i)
        else:
            ready.append(at - t0)
        if channel:
            summaries[len(channel.summaries)] += 1
            bookmarks[channel.bookmarks] += 1
    first_create = tracker.first_create - t0 if tracker.first_create is not None else None
    f["first conversations.create at"] = (
        f"{first_create:.2f} s" if first_create is not None else "-"
    )
    if incidents and not not_ready:
        ready_at = max(ready)
        f["ready at (x floor)"] = f"{ready_at:.1f} s ({ready_at / floor:.2f}x)"
        goals.append(
            (
                f"ready <= {GOAL_READY:.2f}x floor",
                ready_at <= GOAL_READY * floor,
                f"{ready_at / floor:.2f}x",
            )
        )
    else:
        ready_at = None
        f["ready at (x floor)"] = (
            f"{len(not_ready)} of {len(incidents)} incidents not ready after "
            f"{storm.args.timeout:g} s (> {storm.args.timeout / floor:.1f}x)"
        )
        goals.append((f"ready <= {GOAL_READY:.2f}x floor", False, "not ready"))
    if ready:
        f["incidents ready by 1x / 1.1x / 2x floor"] = " / ".join(
            str(sum(r <= k * floor for r in ready)) for k in (1.0, GOAL_READY, 2.0)
        )
    if wrong_commander:
        problems.append(f"{wrong_commander} incidents' commander is not their hub's on-call person")
    f["channels by summaries posted"] = ", ".join(f"{k}: {n}" for k, n in sorted(summaries.items()))
    f["channels by bookmarks added"] = ", ".join(f"{k}: {n}" for k, n in sorted(bookmarks.items()))
    if any(k > 1 for k in summaries):
        problems.append(
            "DOUBLED: a channel got more than one summary (chat.postMessage with blocks)"
        )
    if any(k > 1 for k in bookmarks):
        problems.append("DOUBLED: a channel got its runbook bookmarked more than once")
    if bookmarks.get(0):
        problems.append(f"LOST: {bookmarks[0]} channels have no runbook bookmark")

    # -- settled
    topics = sum(len(c.topics) for c in ours)
    redundant = sum(c.redundant_topics for c in ours)
    stale = [i for i in incidents if not storm.topic_current(i)]
    f["setTopic calls (redundant)"] = (
        f"{topics:,} ({redundant:,}, {redundant / max(topics, 1):.0%})"
    )
    updates = [c.updates for c in ours]
    f["chat.update per incident: mean / max (total)"] = (
        f"{sum(updates) / max(len(incidents), 1):.1f} / {max(updates, default=0)} "
        f"({sum(updates):,})"
    )
    f["other chat.postMessage in channels"] = str(sum(c.posts - len(c.summaries) for c in ours))
    if storm.settled_seen is not None:
        last_topic = max((c.topic_changed or 0) - t0 for c in ours) if ours else 0
        settled_at = max(storm.settled_seen, last_topic)
        f["settled at (x floor)"] = f"{settled_at:.1f} s ({settled_at / floor:.2f}x)"
        goals.append(
            (
                f"settled <= {GOAL_SETTLED:.2f}x floor",
                settled_at <= GOAL_SETTLED * floor,
                f"{settled_at / floor:.2f}x",
            )
        )
        if storm.stray_writes:
            problems.append(
                f"{storm.stray_writes} Slack writes within {QUIET_SECONDS:g} s after settling"
            )
    else:
        busy = storm.queue_busy()
        f["settled at (x floor)"] = (
            f"not settled after {storm.args.timeout:g} s (> {storm.args.timeout / floor:.1f}x): "
            f"jobs pending or running: {describe(busy)}; {len(stale)} topics not current"
        )
        goals.append((f"settled <= {GOAL_SETTLED:.2f}x floor", False, "not settled"))
    if stale and storm.settled_seen is None:
        problems.append(f"{len(stale)} channels' topics do not show their incident's state")

    # -- PagerDuty's effects
    # What the bot owes: the effects of the webhooks it answered 2xx (PagerDuty would retry
    # the others).
    by_number = {i["number"]: i for i in incidents}
    owed = [p for p in storm.pd_incidents.values() if p.answered]
    unlinked = 0
    for p in owed:
        incident = next((i for i in incidents if storm.hub_of(i) == p.hub), None)
        if incident is None or incident.get("pagerduty_incident_id") != p.id:
            unlinked += 1
    notes_sent = sum(len(p.notes_answered) for p in owed)
    acks_sent = sum(p.ack_answered for p in owed)
    notes_found = acks_found = 0
    for number, timeline in details.items():
        hub = storm.hub_of(by_number[number])
        pd_incident = storm.pd_incidents.get(hub) if hub else None
        if pd_incident:
            notes_found += sum(any(n in t for _, t in timeline) for n in pd_incident.notes_answered)
            acks_found += pd_incident.ack_answered and any(
                k == "acknowledged" or "acknowledged on pagerduty" in t.lower() for k, t in timeline
            )
    f["PagerDuty incidents linked / acks, notes on timelines (of those answered)"] = (
        f"{len(owed) - unlinked} of {len(owed)} / "
        f"{acks_found} of {acks_sent}, {notes_found} of {notes_sent}"
    )
    if acks_found < acks_sent:
        problems.append(
            f"LOST: {acks_sent - acks_found} PagerDuty acknowledgements are not on their "
            "incident's timeline"
        )
    if unlinked:
        problems.append(
            f"LOST: {unlinked} PagerDuty incidents are not linked to their hub's incident"
        )
    if notes_found < notes_sent:
        problems.append(
            f"LOST: {notes_sent - notes_found} PagerDuty notes are not on their incident's timeline"
        )
    for name, met, figure in goals:
        if not met:
            problems.append(f"goal missed: {name} ({figure})")


# --- output ------------------------------------------------------------------------------------


def print_report(results: list[Result], args: argparse.Namespace, load: tuple[float, ...]) -> None:
    window = 60 / args.scale
    n = results[0].hubs
    floor = (math.ceil(n / TIER_2) - 1) * window
    print()
    print(
        f"incident-bot {git_describe()}; {os.cpu_count()} cores, load average before: "
        f"{', '.join(f'{x:.2f}' for x in load)}; python {sys.version.split()[0]}, "
        + ", ".join(f"{d} {version(d)}" for d in DISTS)
    )
    sizes = [s for _, s in fleet(args.hubs)]
    print(
        f"storm: {args.alerts:,} alerts over {n} hubs in {len(sizes)} clusters ({min(sizes)}-"
        f"{max(sizes)} hubs each), {results[0].deliveries} Alertmanager deliveries of 1-50 alerts "
        f"POSTed by {args.senders} senders over {STORM_SECONDS / args.scale:g} s (seed {args.seed})"
    )
    print(
        f"fake Slack: Slack's tiers, time scaled {args.scale:g}x "
        f"(SLACK_RATE_SCALE={args.scale:g}): Tier 2 {TIER_2}, Tier 3 {TIER_3}, Tier 4 {TIER_4} "
        f"calls per {window:g} s sliding window; "
        f"chat.postMessage 1 per {1 / args.scale:g} s per channel, bursts of {POST_BURST}"
    )
    traffic = max(STORM_SECONDS / args.scale, GOAL_READY * floor)
    print(
        f"meanwhile, until {traffic:.1f} s: a signed PagerDuty webhook every {PD_PERIOD:g} s, "
        f"a signed /incident list every {SLASH_PERIOD:g} s; timeouts {DELIVERY_TIMEOUT:g} s "
        f"(deliveries, {DELIVERY_ATTEMPTS} attempts), {REQUEST_TIMEOUT:g} s (the others)"
    )
    print(
        f"floor: (ceil(N / {TIER_2}) - 1) x {window:g} s = (ceil({n} / {TIER_2}) - 1) "
        f"x {window:g} s = {floor:g} s, when the fake's Tier 2 window first lets the Nth "
        "conversations.create through, counted from the first create; N = incidents (one per "
        "hub). Times are from the "
        "first alert POST; ready = every incident's channel created, summary posted, commander "
        "invited; settled = every topic shows its incident's state and no job pending or running."
    )
    print()
    print("| | " + " | ".join(r.database for r in results) + " |")
    print("|---|" + "---:|" * len(results))
    keys = list(dict.fromkeys(k for r in results for k in r.figures))
    for key in keys:
        print(f"| {key} | " + " | ".join(r.figures.get(key, "-") for r in results) + " |")
    print()
    methods = sorted({m for r in results for m in r.slack})
    print("Slack calls by method (429s):")
    print()
    print("| method | " + " | ".join(r.database for r in results) + " |")
    print("|---|" + "---:|" * len(results))
    for m in methods:
        cells = []
        for r in results:
            s = r.slack.get(m)
            cells.append(f"{s['calls']:,} ({s['ratelimited']:,})" if s else "-")
        print(f"| {m} | " + " | ".join(cells) + " |")
    print()
    for r in results:
        for name, met, figure in r.goals:
            print(f"goal {name}, {r.database}: {'met' if met else 'NOT met'} ({figure})")
    for r in results:
        print(f"server log, {r.database}:" + ("" if r.log_problems else " no warnings or errors"))
        for line in r.log_problems:
            print(f"    {line}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description="An alert storm over a fleet against a fake Slack enforcing Slack's tiers."
    )
    parser.add_argument(
        "--scale", type=float, default=10, help="divide Slack's windows by this (10)"
    )
    parser.add_argument("--alerts", type=int, default=10_000, help="alerts in the storm (10000)")
    parser.add_argument("--hubs", type=int, default=171, help="hubs in the fleet (171)")
    parser.add_argument(
        "--senders", type=int, default=8, help="concurrent Alertmanager senders (8)"
    )
    parser.add_argument("--seed", type=int, default=1, help="of the storm's shape (1)")
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds after the first alert to wait for ready and settled (15x the floor)",
    )
    add_database_args(parser)
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="the bot's log level (warning)",
    )
    parser.add_argument("--keep-logs", type=Path, metavar="DIR", help="copy the server logs here")
    args = parser.parse_args()
    if args.hubs <= TIER_2:
        fail(f"--hubs {args.hubs}: more than {TIER_2} are needed for a floor above zero")
    if args.scale < 1:
        fail("--scale must be at least 1")
    floor = (math.ceil(args.hubs / TIER_2) - 1) * 60 / args.scale
    if args.timeout is None:
        args.timeout = 15 * floor
    traffic = max(STORM_SECONDS / args.scale, GOAL_READY * floor)
    if traffic > GOAL_SETTLED * floor:
        print(
            f"warning: traffic lasts {traffic:g} s, past {GOAL_SETTLED:g}x the floor "
            f"({GOAL_SETTLED * floor:g} s): the settled goal cannot be met with these options",
            file=sys.stderr,
        )
    measured = databases(args)
    runbooks = check_runbooks()
    print(f"{runbooks} runbook patterns cover the storm's alert names", file=sys.stderr)
    load = os.getloadavg()
    results = []
    for database in measured:
        with tempfile.TemporaryDirectory(prefix="bench-storm-") as tmp:
            results.append(run(database, args, Path(tmp)))
    print_report(results, args, load)
    bad = False
    for r in results:
        for p in r.problems:
            print(f"!! {r.database}: {p}", file=sys.stderr)
            bad = True
    if bad:
        print("!! FAILURES: see the lines marked !! above.", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
