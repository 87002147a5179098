"""Channel-opening latency: from an Alertmanager alert to its incident channel, ready.

    python bench/channel_latency.py [--incidents 40] [--warmup 2] [--burst 19] [--burst-rounds 2]
                                    [--worker-threads N] [--timeout 20]
                                    [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                                    [--no-sqlite] [--log-level warning] [--keep-logs DIR]

Run it from the repository root: it imports the fakes of tests/fakes (FakeSlack, FakePagerDuty),
which serve in this process on loopback ports, with no rate limits and no injected failures.

One sample is the time from "alert received" (taken just before the webhook POST is sent) to
"channel created with commander invited and summary posted": the later of the moments the fake
Slack received (a) the `conversations.invite` of the incident's channel that names the on-call
person and (b) the summary `chat.postMessage` (the one with blocks) in that channel. Both ends
are read on this process's clock (`time.perf_counter`); the fake's time of a request is when it
starts handling it, once the request is read.

What one run does:

1. Starts the two fakes. Each escalation policy of hubs.yaml (the clusters' own, and
   `defaults.pagerduty_escalation_policy`) gets its own on-call person, known to both fakes by
   the same email, so a sample also checks that the right person was invited.
2. For each database (SQLite in a temp dir; with `--pg-url` also PostgreSQL, whose `public`
   schema is DROPPED and recreated first), starts `incident-bot serve --no-access-log` as a
   subprocess with SLACK_API_URL and PAGERDUTY_API_URL pointing at the fakes, waits for
   /readyz, then:
   - sequential: one alert (severity critical, a new fingerprint and title), wait until the
     channel is ready AND the job queue is empty again (GET /metrics, the trailing invite and
     refresh jobs included), then the next; `--warmup` first samples are not counted;
   - burst: `--burst` alerts for as many different hubs POSTed at once from as many threads
     (an alert storm across hubs), each sample timed from its own POST; `--burst-rounds` times.
   Every sample needs a scope with no open incident: the 19 hubs of hubs.yaml, then one
   cluster-wide scope per cluster (namespace `support`, not a hub). When they run out, the
   bench resolves the open incidents the way a person does, with a signed `/incident resolve`
   in each incident's channel, and waits for the queue to empty (never between the POST and
   the end of a sample).
3. Baseline, once: the same calls made directly and sequentially by a plain slack_sdk
   WebClient and a pdpyras APISession against the same fakes: GET /oncalls, GET /users/{id},
   conversations.create, users.lookupByEmail, conversations.invite, conversations.setTopic,
   chat.postMessage (the text, blocks and topic the bot sent in its first sample), timed the
   same way. It is the floor of this work on this machine; the bot adds the webhook, storage,
   the job queue, its database reads and writes, and the worker's wake-up.

The table's `samples` counts the samples that finished, `failures` those that did not (no
channel, no invite of the right person, or no summary within `--timeout`, or the webhook
refused the alert); percentiles are nearest-rank over the finished ones.

The alerts carry no runbook (runbooks/ matches none of them), so no bookmark is added. The bot
runs with SLACK_RATE_SCALE=100: its Slack pacing and summary edit interval 100 times shorter,
since the fakes have no limits; bench/storm.py measures the pacing against Slack's tiers.
The worker polls the queue every second and is woken when an alert opens an incident: a
sample near 1 s (or a multiple) is the mark of a missed wake-up, and the report says so.
Everything shares the machine's cores (the fakes run in this process), so compare figures
within one run only. Exits 1 if a sample failed, a job failed or died, a fake crashed, or the
server logged an error.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from common import (
    AM_TOKEN,
    HUBS_FILE,
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
    serve_command,
    sign,
    version,
)
from slack_sdk import WebClient

if str(ROOT) not in sys.path:  # for tests.fakes when run as `python bench/channel_latency.py`
    sys.path.insert(0, str(ROOT))

from bot.hubs import Registry  # noqa: E402
from tests.fakes.pagerduty import FakePagerDuty  # noqa: E402
from tests.fakes.server import Recorded, Reply  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pdpyras warns at import that it is deprecated
    import pdpyras

SLACK_TOKEN = "xoxb-bench"
SIGNING_SECRET = "bench-signing-secret"
PD_TOKEN = "bench-pd-token"
PD_FROM = "incident-bot@example.org"
GOAL_MS = 1000.0
# A sample at least this slow looks like the worker's 1 s poll, not like work.
WAKEUP_SUSPECT_MS = 900.0
CLUSTER_WIDE_NAMESPACE = "support"
DISTS = ("fastapi", "uvicorn", "sqlalchemy", "slack_sdk", "slack_bolt", "pdpyras", "httpx")
TOKEN_IN_NAME = re.compile(r"-(lp\d{4})$")


# --- the fake Slack, with the time each request arrived ------------------------------------


@dataclass(frozen=True)
class Stamp:
    """One request a fake handled, and when (time.perf_counter of this process)."""

    at: float
    route: str  # "conversations.create", "GET /oncalls"
    args: dict[str, Any]
    reply: Any


class TimedSlack(FakeSlack):
    """The fake Slack, noting when each request came in."""

    def __init__(self, token: str) -> None:
        super().__init__(token=token)
        self.stamps: list[Stamp] = []
        self.arrived = threading.Condition()

    def handle(self, req: Recorded) -> Reply:
        at = time.perf_counter()
        reply = super().handle(req)
        with self.arrived:
            self.stamps.append(Stamp(at, req.path.lstrip("/"), req.args, reply.body))
            self.arrived.notify_all()
        return reply


# --- scopes and samples ----------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Where an alert lands: a hub, or a cluster as a whole."""

    cluster: str
    namespace: str
    hub: str | None
    policy: str

    @property
    def label(self) -> str:
        return f"{self.cluster}/{self.hub}" if self.hub else f"{self.cluster} (cluster-wide)"


@dataclass
class Sample:
    case: str
    token: str  # unique; ends the alert's name and so its channel's
    scope: Scope
    oncall: str  # the Slack user the invite must name
    sent: float = 0.0
    answered: float | None = None
    incident: int | None = None
    channel: str | None = None
    created: float | None = None  # conversations.create received
    invited: float | None = None  # conversations.invite naming the on-call person received
    posted: float | None = None  # the summary chat.postMessage received
    problem: str | None = None

    @property
    def done(self) -> bool:
        return self.invited is not None and self.posted is not None

    @property
    def ok(self) -> bool:
        return self.done and self.problem is None

    @property
    def end(self) -> float:
        assert self.invited is not None and self.posted is not None
        return max(self.invited, self.posted)

    @property
    def latency_ms(self) -> float:
        return (self.end - self.sent) * 1000


class Tracker:
    """Follows the fake Slack's requests and fills in each sample's milestones."""

    def __init__(self, slack: TimedSlack) -> None:
        self.slack = slack
        self.by_token: dict[str, Sample] = {}
        self.by_channel: dict[str, Sample] = {}
        # What the bot sent in its first summary, replayed by the baseline.
        self.summary_text: str | None = None
        self.summary_blocks: Any = None
        self.topics: dict[str, str] = {}
        self._seen = 0

    def add(self, sample: Sample) -> None:
        self.by_token[sample.token] = sample

    def update(self) -> None:
        with self.slack.arrived:
            new = self.slack.stamps[self._seen :]
            self._seen += len(new)
        for stamp in new:
            self._apply(stamp)

    def _apply(self, st: Stamp) -> None:
        args = st.args
        if st.route == "conversations.create":
            reply = st.reply if isinstance(st.reply, dict) else {}
            channel = reply.get("channel") or {}
            found = TOKEN_IN_NAME.search(str(channel.get("name", "")))
            sample = self.by_token.get(found.group(1)) if found else None
            if reply.get("ok") and sample is not None and sample.channel is None:
                sample.channel, sample.created = str(channel["id"]), st.at
                self.by_channel[sample.channel] = sample
            return
        sample = self.by_channel.get(str(args.get("channel", "")))
        if sample is None:
            return
        if st.route == "conversations.invite" and sample.invited is None:
            if sample.oncall in str(args.get("users", "")).split(","):
                sample.invited = st.at
        elif st.route == "chat.postMessage" and sample.posted is None and args.get("blocks"):
            sample.posted = st.at
            if self.summary_blocks is None:
                self.summary_text, self.summary_blocks = str(args.get("text", "")), args["blocks"]
        elif st.route == "conversations.setTopic":
            self.topics.setdefault(sample.channel or "", str(args.get("topic", "")))

    def wait(self, samples: list[Sample], timeout: float) -> None:
        """Until every sample is done, or `timeout` seconds after the last was sent."""
        deadline = max(s.sent for s in samples) + timeout
        while True:
            self.update()
            pending = [s for s in samples if not s.done and s.problem is None]
            if not pending:
                return
            left = deadline - time.perf_counter()
            if left <= 0:
                for s in pending:
                    missing = [
                        what
                        for what, at in (
                            ("channel", s.created),
                            ("invite of the on-call person", s.invited),
                            ("summary", s.posted),
                        )
                        if at is None
                    ]
                    s.problem = f"no {', no '.join(missing)} within {timeout:g}s"
                return
            with self.slack.arrived:
                self.slack.arrived.wait(min(0.05, left))


# --- driving the bot -------------------------------------------------------------------------


def alert_body(sample: Sample) -> bytes:
    """One Alertmanager v4 delivery holding one new critical alert for the sample's scope."""
    scope = sample.scope
    # The bot names a channel for the alert that opened it: the token ends the name.
    alertname = f"JupyterHubUnreachable-{sample.token}"
    labels = {
        "alertname": alertname,
        "cluster": scope.cluster,
        "namespace": scope.namespace,
        "severity": "critical",
        "probe": sample.token,
    }
    fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {
            "summary": f"Hub unreachable {sample.token}",
            "description": f"The hub of {scope.label} has not answered its health check.",
        },
        "startsAt": now,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph?g0.expr=up+%3D%3D+0",
        "fingerprint": fingerprint,
    }
    return json.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="{alertname}", probe="{sample.token}"}}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "incident-bot",
            "groupLabels": {"alertname": alertname},
            "commonLabels": labels,
            "commonAnnotations": alert["annotations"],
            "externalURL": "http://alertmanager.example:9093",
            "alerts": [alert],
        }
    ).encode()


class Bot:
    """One running service, its scopes, and what it was asked to do."""

    def __init__(
        self,
        base: str,
        scopes: list[Scope],
        oncall_of: dict[str, str],
        tracker: Tracker,
        timeout: float,
    ) -> None:
        self.base = base
        self.tracker = tracker
        self.timeout = timeout
        self.oncall_of = oncall_of
        self.order = {s: i for i, s in enumerate(scopes)}
        self.free = list(scopes)
        self.open: list[Sample] = []
        self.problems: list[str] = []
        self.client = httpx.Client(base_url=base, timeout=30)

    def close(self) -> None:
        self.client.close()

    # -- samples

    def new_samples(self, case: str, k: int) -> list[Sample]:
        """`k` samples on `k` scopes without an open incident (resolving old ones if need be)."""
        if len(self.free) < k:
            self.resolve_all()
        if len(self.free) < k:
            fail(f"only {len(self.free)} free scopes for {k} alerts at once")
        scopes, self.free = self.free[:k], self.free[k:]
        samples = []
        for scope in scopes:
            sample = Sample(case, next_token(), scope, self.oncall_of[scope.policy])
            self.tracker.add(sample)
            samples.append(sample)
        return samples

    def send(self, sample: Sample, client: httpx.Client | None = None) -> None:
        body = alert_body(sample)
        headers = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
        client = client or self.client
        sample.sent = time.perf_counter()
        try:
            r = client.post("/webhooks/alertmanager", content=body, headers=headers)
        except httpx.HTTPError as exc:
            sample.problem = f"webhook POST failed: {exc!r}"
            return
        sample.answered = time.perf_counter()
        if r.status_code != 200:
            sample.problem = f"webhook answered HTTP {r.status_code}: {r.text[:200]}"
            return
        opened = r.json().get("incidents_opened", [])
        if len(opened) != 1:
            sample.problem = f"the alert opened {len(opened)} incidents, not 1: {r.text[:200]}"
            return
        sample.incident = int(opened[0])
        self.open.append(sample)

    def sequential(self, case: str, n: int, warmup: int) -> list[Sample]:
        counted = []
        for i in range(warmup + n):
            [sample] = self.new_samples(case, 1)
            self.send(sample)
            if sample.problem is None:
                self.tracker.wait([sample], self.timeout)
            self.wait_idle()
            if i >= warmup:
                counted.append(sample)
        return counted

    def burst(self, case: str, k: int) -> list[Sample]:
        samples = self.new_samples(case, k)
        clients = [httpx.Client(base_url=self.base, timeout=30) for _ in samples]
        try:
            for c in clients:  # connect first, as Alertmanager's kept-alive connections are
                c.get("/healthz")
            start = threading.Barrier(len(samples))

            def go(sample: Sample, client: httpx.Client) -> None:
                start.wait()
                self.send(sample, client)

            threads = [
                threading.Thread(target=go, args=(s, c), daemon=True)
                for s, c in zip(samples, clients, strict=True)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            sent = [s for s in samples if s.problem is None]
            if sent:
                self.tracker.wait(sent, self.timeout)
            self.wait_idle()
        finally:
            for c in clients:
                c.close()
        return samples

    # -- keeping scopes free

    def resolve_all(self) -> None:
        """`/incident resolve` in each open incident's channel, then wait for the jobs."""
        for sample in self.open:
            if sample.channel is None:
                self.problems.append(
                    f"incident {sample.incident} ({sample.scope.label}) has no channel to "
                    "resolve it from; its scope stays busy"
                )
                continue
            form = {
                "token": "legacy",
                "team_id": "T1",
                "channel_id": sample.channel,
                "channel_name": "incident",
                "user_id": "UBENCH",
                "user_name": "bench",
                "command": "/incident",
                "text": "resolve benchmark sample",
                "response_url": "https://hooks.slack.invalid/commands/1",
                "trigger_id": "1.2.3",
            }
            body = urlencode(form).encode()
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                **sign(body, SIGNING_SECRET),
            }
            r = self.client.post("/slack/events", content=body, headers=headers)
            if r.status_code != 200 or "Resolved" not in r.text:
                self.problems.append(
                    f"/incident resolve of incident {sample.incident}: HTTP {r.status_code} "
                    f"{r.text[:200]}"
                )
                continue
            self.free.append(sample.scope)
        self.open = []
        self.free.sort(key=self.order.__getitem__)
        self.wait_idle()

    # -- the job queue, as the service's own /metrics shows it

    def metrics(self) -> dict[str, float]:
        text = self.client.get("/metrics").text
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def queue(self) -> dict[str, int]:
        found = re.compile(r'^incident_bot_job_queue_depth\{status="(\w+)"\}$')
        return {
            m.group(1): int(v)
            for k, v in self.metrics().items()
            if (m := found.match(k)) is not None
        }

    def wait_idle(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            depth = self.queue()
            busy = depth.get("pending", 0) + depth.get("running", 0)
            if not busy:
                return
            if time.monotonic() > deadline:
                self.problems.append(f"the job queue was still busy after {timeout:g}s: {depth}")
                return
            time.sleep(0.02)

    def job_outcomes(self) -> dict[tuple[str, str], int]:
        found = re.compile(r'^incident_bot_jobs_finished_total\{kind="([^"]+)",status="(\w+)"\}$')
        return {
            (m.group(1), m.group(2)): int(v)
            for k, v in self.metrics().items()
            if (m := found.match(k)) is not None
        }


_tokens = iter(range(1, 10_000))


def next_token() -> str:
    return f"lp{next(_tokens):04d}"


# --- the cases -------------------------------------------------------------------------------


@dataclass
class Row:
    case: str
    database: str | None  # None for the baseline
    samples: list[Sample]
    log_problems: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def latencies(self) -> list[float]:
        return sorted(s.latency_ms for s in self.samples if s.ok)

    @property
    def failures(self) -> int:
        return sum(not s.ok for s in self.samples)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return float("nan")
    rank = max(1, min(len(values), round(p / 100 * len(values) + 0.4999)))
    return values[rank - 1]


def scopes_of(registry: Registry) -> list[Scope]:
    """The hubs of the registry, then one cluster-wide scope per cluster."""
    hubs, clusters = [], []
    for cluster in registry.clusters.values():
        for hub in cluster.hubs:
            route = registry.route({"cluster": cluster.name, "namespace": hub.name})
            assert route.hub == hub.name and route.escalation_policy, route
            hubs.append(Scope(cluster.name, hub.name, hub.name, route.escalation_policy))
        route = registry.route({"cluster": cluster.name, "namespace": CLUSTER_WIDE_NAMESPACE})
        assert route.cluster == cluster.name and route.hub is None and route.escalation_policy
        clusters.append(Scope(cluster.name, CLUSTER_WIDE_NAMESPACE, None, route.escalation_policy))
    return hubs + clusters


def staff_oncall(scopes: Iterable[Scope], slack: FakeSlack, pd: FakePagerDuty) -> dict[str, str]:
    """One on-call person per escalation policy, in both fakes; policy -> Slack user id."""
    oncall_of = {}
    for i, policy in enumerate(sorted({s.policy for s in scopes}), start=1):
        email, name = f"oncall-{policy.lower()}@example.org", f"On Call {i}"
        slack.add_user(f"UONCALL{i}", email, name)
        pd.add_user(f"PONCALL{i}", email, name)
        pd.set_oncall(policy, f"PONCALL{i}")
        oncall_of[policy] = f"UONCALL{i}"
    return oncall_of


def run_bot(
    database: str,
    args: argparse.Namespace,
    tmp: Path,
    scopes: list[Scope],
    oncall_of: dict[str, str],
    slack: TimedSlack,
    pd: FakePagerDuty,
    tracker: Tracker,
) -> list[Row]:
    url = fresh_database(database, args.pg_url, tmp / "bot.db")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [*serve_command(port), "--no-access-log", "--log-level", args.log_level]
    env = bot_env(
        url,
        SLACK_BOT_TOKEN=SLACK_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.url,
        PAGERDUTY_API_TOKEN=PD_TOKEN,
        PAGERDUTY_API_URL=pd.url,
        PAGERDUTY_FROM_EMAIL=PD_FROM,
        # The fakes have no rate limits: Slack's windows and the 15 s summary edit interval
        # shrunk 100x, so that 40 channels in a row measure latency, not Slack's Tier 2 pacing
        # (20 creates a minute), and the queue empties between samples.
        SLACK_RATE_SCALE="100",
    )
    if args.worker_threads is not None:
        env["WORKER_THREADS"] = str(args.worker_threads)
    server = Server(cmd, env, tmp, tmp / f"bot-{database}.log")
    rows: list[Row] = []
    bot = Bot(base, scopes, oncall_of, tracker, args.timeout)
    try:
        server.wait_ready(f"{base}/readyz")
        print(f"bot, {database}: sequential ...", file=sys.stderr)
        case = f"bot, {database}, sequential"
        rows.append(Row(case, database, bot.sequential(case, args.incidents, args.warmup)))
        if args.burst > 0 and args.burst_rounds > 0:
            case = f"bot, {database}, burst of {args.burst} at once"
            burst: list[Sample] = []
            for round_ in range(args.burst_rounds):
                print(f"bot, {database}: burst {round_ + 1} of {args.burst} ...", file=sys.stderr)
                burst += bot.burst(case, args.burst)
            rows.append(Row(case, database, burst))
        outcomes = bot.job_outcomes()
        depth = bot.queue()
    finally:
        bot.close()
        server.stop()
    problems = list(bot.problems)
    # A postponed attempt (Slack's pacing, the summary edit interval) is no failure.
    not_done = {k: n for k, n in outcomes.items() if k[1] not in ("done", "postponed")}
    if not_done:
        problems.append(
            "job attempts that did not succeed: "
            + ", ".join(f"{n}x {kind} {status}" for (kind, status), n in sorted(not_done.items()))
        )
    if depth.get("dead"):
        problems.append(f"{depth['dead']} dead jobs in the queue")
    if server.stop_note:
        problems.append(f"server {server.stop_note}")
    logged = log_problems(server.log())
    for row in rows:
        row.log_problems = logged
        row.problems = problems
    if args.keep_logs:
        args.keep_logs.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log_path, args.keep_logs / server.log_path.name)
    return rows


def run_baseline(
    n: int,
    scopes: list[Scope],
    oncall_of: dict[str, str],
    slack: TimedSlack,
    pd: FakePagerDuty,
    tracker: Tracker,
    timeout: float,
) -> Row:
    """The same Slack and PagerDuty calls, made directly one after another."""
    web = WebClient(token=SLACK_TOKEN, base_url=slack.url)
    session = pdpyras.APISession(PD_TOKEN, default_from=PD_FROM)
    session.url = pd.url.rstrip("/")
    text = tracker.summary_text or "Incident: hub unreachable"
    blocks = tracker.summary_blocks or [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Hub unreachable*"}}
    ]
    topic = next(iter(tracker.topics.values()), "sev1 investigating | IC: nobody yet")
    day = datetime.now(UTC).strftime("%Y%m%d")
    samples = []
    case = "baseline: slack_sdk + pdpyras, direct, sequential"
    for i in range(n):
        scope = scopes[i % len(scopes)]
        sample = Sample(case, next_token(), scope, oncall_of[scope.policy])
        tracker.add(sample)
        samples.append(sample)
        sample.sent = time.perf_counter()
        try:
            oncalls = session.list_all(
                "oncalls", params={"escalation_policy_ids[]": [scope.policy], "earliest": True}
            )
            first = min(oncalls, key=lambda o: o.get("escalation_level", 99))
            user = session.rget(f"/users/{first['user']['id']}")
            name = f"inc-{day}-baseline-{scope.cluster}-{scope.namespace}-{sample.token}"
            channel = web.conversations_create(name=name)["channel"]["id"]
            member = web.users_lookupByEmail(email=user["email"])["user"]["id"]
            web.conversations_invite(channel=channel, users=member)
            web.conversations_setTopic(channel=channel, topic=topic)
            web.chat_postMessage(channel=channel, text=text, blocks=blocks)
        except Exception as exc:
            sample.problem = f"{type(exc).__name__}: {exc}"
            continue
        sample.answered = sample.sent
        tracker.wait([sample], timeout)
    return Row(case, None, samples)


# --- output ------------------------------------------------------------------------------------


def ms(values: list[float], p: float | None) -> str:
    if not values:
        return "-"
    return f"{(max(values) if p is None else percentile(values, p)):.0f}"


def print_report(rows: list[Row], args: argparse.Namespace, load: tuple[float, ...]) -> None:
    threads = args.worker_threads if args.worker_threads is not None else "4 (default)"
    print()
    print(
        f"incident-bot {git_describe()}; {os.cpu_count()} cores, load average before: "
        f"{', '.join(f'{x:.2f}' for x in load)}; python {sys.version.split()[0]}, "
        + ", ".join(f"{d} {version(d)}" for d in DISTS)
    )
    print(
        f"worker threads {threads}; log level {args.log_level}, access log off; fakes: "
        "tests.fakes FakeSlack + FakePagerDuty in the bench process (no rate limits, "
        "HTTP/1.0: a new connection per call)"
    )
    burst = (
        f"{args.burst_rounds} x {args.burst} alerts for different scopes POSTed at once"
        if args.burst > 0 and args.burst_rounds > 0
        else "none"
    )
    print(
        f"sequential: {args.incidents} alerts one at a time ({args.warmup} warm-up not counted), "
        f"each after the job queue emptied; burst: {burst}"
    )
    print(
        "latency: alert POST sent -> the later of the fake Slack receiving the on-call "
        "person's conversations.invite and the summary chat.postMessage"
    )
    print()
    print("| case | samples | p50 ms | p95 ms | max ms | failures |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        lat = r.latencies
        bad = f"{r.failures} !!" if r.failures else "0"
        print(
            f"| {r.case} | {len(lat)} | {ms(lat, 50)} | {ms(lat, 95)} | {ms(lat, None)} | {bad} |"
        )
    print()
    print("where the bot's time goes, p50 / p95 / max ms:")
    print()
    print("| case | POST -> answered | answered -> conversations.create | create -> ready |")
    print("|---|---:|---:|---:|")
    for r in rows:
        if r.database is None:
            continue
        ok = [s for s in r.samples if s.ok and s.answered is not None and s.created is not None]
        parts = []
        for a, b in (("sent", "answered"), ("answered", "created"), ("created", "end")):
            vals = sorted((getattr(s, b) - getattr(s, a)) * 1000 for s in ok)
            parts.append(f"{ms(vals, 50)} / {ms(vals, 95)} / {ms(vals, None)}")
        print(f"| {r.case} | {' | '.join(parts)} |")
    print()
    bot_rows = [r for r in rows if r.database is not None]
    for r in bot_rows:
        lat = r.latencies
        p95 = percentile(lat, 95) if lat else float("nan")
        met = bool(lat) and p95 <= GOAL_MS and not r.failures
        verdict = "met" if met else "NOT met"
        print(f"goal p95 <= {GOAL_MS:.0f} ms, {r.case}: {verdict} (p95 {p95:.0f} ms)")
    baseline = next((r for r in rows if r.database is None), None)
    if baseline and baseline.latencies:
        floor = percentile(baseline.latencies, 50)
        for r in bot_rows:
            if r.latencies:
                print(f"bot / baseline p50, {r.case}: {percentile(r.latencies, 50) / floor:.1f}x")
    for r in bot_rows:
        slow = [s for s in r.samples if s.ok and s.latency_ms >= WAKEUP_SUSPECT_MS]
        if slow:
            shown = ", ".join(
                f"{s.scope.label} {s.latency_ms:.0f} ms (queued {queued_ms(s):.0f} ms)"
                for s in slow[:8]
            )
            print(
                f"!! {r.case}: {len(slow)} samples >= {WAKEUP_SUSPECT_MS:.0f} ms, near the "
                f"worker's 1 s poll: a missed wake-up? {shown}"
            )
    for r in rows:
        for s in r.samples:
            if s.problem:
                print(f"!! {r.case}: {s.scope.label} ({s.token}): {s.problem}", file=sys.stderr)
    logged: dict[str, tuple[list[str], list[str]]] = {}
    for r in bot_rows:
        logged.setdefault(r.database or "", (r.log_problems, r.problems))
    for database, (lines, problems) in logged.items():
        print(f"server log, {database}:" + ("" if lines else " no warnings or errors"))
        for line in lines:
            print(f"    {line}")
        for p in problems:
            print(f"!! bot, {database}: {p}", file=sys.stderr)


def queued_ms(s: Sample) -> float:
    if s.answered is None or s.created is None:
        return float("nan")
    return (s.created - s.answered) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Latency from an Alertmanager alert to its Slack channel being ready."
    )
    parser.add_argument("--incidents", type=int, default=40, help="sequential samples (40)")
    parser.add_argument("--warmup", type=int, default=2, help="uncounted sequential first (2)")
    parser.add_argument("--burst", type=int, default=19, help="alerts at once, one per hub (19)")
    parser.add_argument("--burst-rounds", type=int, default=2, help="bursts per database (2)")
    parser.add_argument(
        "--worker-threads", type=int, help="WORKER_THREADS for the bot (default: its own, 4)"
    )
    parser.add_argument(
        "--timeout", type=float, default=20, help="seconds a sample may take before it fails (20)"
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

    measured = databases(args)
    registry = Registry.load(HUBS_FILE)
    scopes = scopes_of(registry)
    if args.burst > len(scopes):
        fail(f"--burst {args.burst}: hubs.yaml has only {len(scopes)} scopes (hubs + clusters)")
    load = os.getloadavg()
    rows: list[Row] = []
    with (
        TimedSlack(SLACK_TOKEN) as slack,
        FakePagerDuty(token=PD_TOKEN) as pd,
        tempfile.TemporaryDirectory(prefix="bench-channel-") as tmp,
    ):
        oncall_of = staff_oncall(scopes, slack, pd)
        tracker = Tracker(slack)
        for i, database in enumerate(measured):
            rows += run_bot(database, args, Path(tmp), scopes, oncall_of, slack, pd, tracker)
            if i == 0:
                print("baseline: direct calls ...", file=sys.stderr)
                rows.insert(
                    0,
                    run_baseline(
                        args.incidents, scopes, oncall_of, slack, pd, tracker, args.timeout
                    ),
                )
        fake_errors = [f"fake Slack crashed: {e!r}" for e in slack.errors]
        fake_errors += [f"fake PagerDuty crashed: {e!r}" for e in pd.errors]
    print_report(rows, args, load)
    for e in fake_errors:
        print(f"!! {e}", file=sys.stderr)
    bad = bool(fake_errors) or any(
        r.failures or r.problems or logged_errors(r.log_problems) for r in rows
    )
    if bad:
        print("!! FAILURES: see the lines marked !! above.", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
