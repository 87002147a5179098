"""Alertmanager ingest benchmark: the bot as deployed, beside a bare FastAPI app, in one run.

    python bench/ingest.py [--cases joining-1,joining-50,bare-1] [--rounds 1]
                           [--duration 10] [--warmup 2] [--connections 32] [--threads 2]
                           [--worker-threads N] [--pg-url postgresql+psycopg://...] [--no-sqlite]
                           [--no-access-log] [--log-level info] [--json FILE] [--keep-logs DIR]
                           [--setup-timeout 60] [--py-spy FILE] [--py-spy-rate 200]
                           [--py-spy-args '--gil']

Run it from the repository root (it imports the fakes of tests/fakes, started afresh for
each bot server and serving in this process on loopback ports). Everything is over
loopback, loaded with `wrk` (Debian: `apt-get install wrk`) running bench/alertmanager.lua.

The cases (`--cases`, comma-separated; the first given is the main one):

- `joining-1` (the main case, issue 8's goal): the bot as deployed, with Slack, PagerDuty
  and Prometheus configured (SLACK_*, PAGERDUTY_*, PROMETHEUS_URL pointing at the fakes of
  tests/fakes, which serve in this process; OBSERVE_CHANNEL set) and its worker running
  (WORKER_THREADS: the bot's default unless `--worker-threads`). First one incident is
  opened per hub on six hubs, each by a critical alert, and the bench waits until their
  channels are open in the fake Slack (created, summary posted) and the job queue is
  empty. Then wrk POSTs 1-alert deliveries, every alert new (its own fingerprint and label
  set), severity `warning` and `critical` in turn, over the same six hubs: every one joins
  an open incident.
- `joining-50`: the same with 50 alerts per delivery (~48 KB).
- `bare-1`, `bare-50`: nothing configured (no Slack, PagerDuty or Prometheus; the worker
  runs all the same), severity critical only, on a fresh database: the storm opens one
  incident per hub, then joins them (the bench's only case before the integrations).

The baseline: bench/noop_app.py (a bare FastAPI app, one `async def POST /noop` that never
reads the body) served the way `incident-bot serve` serves the bot (same uvicorn options,
same logging, same access-log setting), loaded with the same bodies, just before the first
bot case of each body size. `x baseline` is the bot's req/s over the baseline's, same size,
same round. With `--rounds N` the whole sequence runs N times, and the ratios' median is
printed as well.

Every bot case runs on its own server and a fresh database: SQLite in a temp dir and, with
`--pg-url`, PostgreSQL too (its `public` schema is DROPPED and recreated first). Checks:
every alert answered 2xx is in the database (rows counted once the count stops moving);
GET /api/alerts?limit=1 returns one of this run's alerts; in the joining cases no incident
was opened by the load and every measured alert is linked to an incident; no job failed or
died (a failed attempt is retried and logged as a warning); the server log holds no
errors. It also reports, for the measured seconds, the servers' CPU time per request (from
/proc, all threads; the least noisy figure here) and the CPU the fakes (this process) and
wrk used, so it shows when they, not the bot, would be the bottleneck; and, over the whole
load (warm-up included), the calls the fakes received (the worker coalesces its Slack
edits: a few at most).

`--py-spy FILE` attaches py-spy (`pip install py-spy`) to the main case's server for its
measured seconds (sampling, --nonblocking: the server is never paused), writes the
collapsed stacks to FILE and prints where its CPU went. py-spy's own sampling costs CPU on
the same cores: take figures from a run without it.

Figures are only comparable within one run: wrk shares the machine's cores with the server,
and run-to-run noise is about 30 %. Exits 1 if any request failed, an acknowledged alert is
missing, a check above failed, or the server logged an error.
"""

import argparse
import importlib.util
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import sqlalchemy as sa
from common import (
    AM_TOKEN,
    API_TOKEN,
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
    incident_bot_command,
    log_problems,
    logged_errors,
    serve_command,
    version,
)

if str(ROOT) not in sys.path:  # for tests.fakes when run as `python bench/ingest.py`
    sys.path.insert(0, str(ROOT))

from bot.hubs import Registry  # noqa: E402
from tests.fakes.pagerduty import FakePagerDuty  # noqa: E402
from tests.fakes.prometheus import FakePrometheus  # noqa: E402
from tests.fakes.slack import BOT_USER, FakeSlack  # noqa: E402

HERE = Path(__file__).resolve().parent
LUA = HERE / "alertmanager.lua"
NOOP_APP = HERE / "noop_app.py"
WARMUP_PHASE, MEASURED_PHASE = 0, 1  # the first byte of the fingerprints the Lua script makes
# The six hubs bench/alertmanager.lua spreads its alerts over, in its order.
HUBS = (
    ("2i2c", "staging"),
    ("2i2c", "dask-staging"),
    ("openscapes", "prod"),
    ("openscapes", "staging"),
    ("leap", "prod"),
    ("leap", "staging"),
)
SLACK_TOKEN = "xoxb-bench"
# The quiet channel, configured as deployed (no alert of the joining cases lands in it).
QUIET_CHANNEL = "CQUIET0001"
SIGNING_SECRET = "bench-signing-secret"
PD_TOKEN = "bench-pd-token"
PD_FROM = "incident-bot@example.org"
PD_WEBHOOK_SECRET = "bench-pd-webhook-secret"
# The expression of the alerts' generatorURL (as the Lua script's), so the Prometheus context
# job of an opened incident has something to ask the fake Prometheus and graph.
EXPR = 'sum by (namespace) (increase(jupyterhub_server_spawn_duration_seconds_count{status="failure"}[30m])) >= 2'  # noqa: E501
GOAL_RATIO = 0.50
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Case:
    key: str
    size: int
    configured: bool  # Slack, PagerDuty and Prometheus configured, incidents open first
    severities: str  # the Lua script's SEVERITIES

    def name(self, database: str) -> str:
        if self.configured:
            return f"bot, {database}, integrations, {self.size}-alert deliveries joining"
        return f"bot, {database}, nothing configured, {self.size}-alert deliveries"


CASES = {
    c.key: c
    for c in (
        Case("joining-1", 1, True, "warning,critical"),
        Case("joining-50", 50, True, "warning,critical"),
        Case("bare-1", 1, False, "critical"),
        Case("bare-50", 50, False, "critical"),
    )
}
DEFAULT_CASES = "joining-1,joining-50,bare-1"


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[int, int]
    socket_errors: dict[str, int]
    body_bytes: int
    # CPU seconds over the measured seconds: the server (all its threads), this process
    # (the fakes' threads: nothing else runs here meanwhile), and wrk.
    server_cpu: float = 0.0
    bench_cpu: float = 0.0
    wrk_cpu: float = 0.0

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def failed(self) -> int:
        """Responses that were not 2xx, plus requests that got no response at all."""
        return self.requests - self.ok + sum(self.socket_errors.values())


@dataclass
class Row:
    case: str
    key: str  # "baseline" or a case key
    database: str | None  # None for the no-op baseline
    size: int
    round: int
    req_per_s: float
    alerts_per_s: float | None
    p50_ms: float
    p99_ms: float
    max_ms: float
    body_bytes: int
    non_2xx: int
    statuses: dict[int, int]
    socket_errors: dict[str, int]
    seconds: float = 0.0
    server_cpu_s: float = 0.0
    cpu_ms_per_req: float = 0.0
    bench_cpu_s: float = 0.0
    wrk_cpu_s: float = 0.0
    ratio: float | None = None  # req/s over the baseline's, same size, same round
    acked_alerts: int | None = None
    stored_alerts: int | None = None
    in_flight_allowance: int = 0
    incidents: int | None = None
    unjoined: int | None = None  # measured alerts not linked to an incident
    api_check: str | None = None
    setup_s: float | None = None  # opening the incidents until the queue was empty
    slack_calls: dict[str, int] = field(default_factory=dict)  # during the load (+ warm-up)
    pagerduty_calls: int = 0
    prometheus_calls: int = 0
    jobs: dict[str, int] = field(default_factory=dict)  # "kind status" -> attempts, whole run
    queue_at_end: dict[str, int] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    profile: list[str] = field(default_factory=list)
    log_problems: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# --- servers and CPU --------------------------------------------------------------------


def serve_has_flag(flag: str) -> bool:
    out = subprocess.run(
        [*incident_bot_command(), "serve", "--help"], capture_output=True, text=True, check=False
    ).stdout
    return flag in out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def own_cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


# --- the fakes ------------------------------------------------------------------------------


class Integrations:
    """Slack, PagerDuty and Prometheus as the tests fake them, serving in this process."""

    def __init__(self) -> None:
        self.slack = FakeSlack(token=SLACK_TOKEN)
        self.slack.add_channel("quiet-alerts", channel_id=QUIET_CHANNEL, members=(BOT_USER,))
        self.pagerduty = FakePagerDuty(token=PD_TOKEN)
        self.prometheus = FakePrometheus()

    def __enter__(self) -> "Integrations":
        self.slack.start()
        self.pagerduty.start()
        self.prometheus.start()
        registry = Registry.load(HUBS_FILE)
        policies = set()
        for cluster, hub in HUBS:
            route = registry.route({"cluster": cluster, "namespace": hub})
            if route.hub != hub:
                fail(f"{cluster}/{hub} of bench/alertmanager.lua is not a hub of {HUBS_FILE}")
            if route.escalation_policy:
                policies.add(route.escalation_policy)
        # Someone on call for each escalation policy, known to both by the same email.
        for i, policy in enumerate(sorted(policies), start=1):
            email, name = f"oncall-{i}@example.org", f"On Call {i}"
            self.slack.add_user(f"UONCALL{i}", email, name)
            self.pagerduty.add_user(f"PONCALL{i}", email, name)
            self.pagerduty.set_oncall(policy, f"PONCALL{i}")
        self.prometheus.series = [
            ({"cluster": c, "namespace": h}, 3.0 + i) for i, (c, h) in enumerate(HUBS)
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for fake in (self.slack, self.pagerduty, self.prometheus):
            fake.stop()

    def env(self) -> dict[str, str]:
        return {
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": self.slack.url,
            "PAGERDUTY_API_TOKEN": PD_TOKEN,
            "PAGERDUTY_API_URL": self.pagerduty.url,
            "PAGERDUTY_FROM_EMAIL": PD_FROM,
            "PAGERDUTY_WEBHOOK_SECRET": PD_WEBHOOK_SECRET,
            "PROMETHEUS_URL": self.prometheus.url,
            "OBSERVE_CHANNEL": QUIET_CHANNEL,
        }

    def slack_ok(self) -> dict[str, int]:
        return {m: c["ok"] for m, c in self.slack.stats().items()}

    def errors(self) -> list[str]:
        found = []
        for name, fake in (
            ("Slack", self.slack),
            ("PagerDuty", self.pagerduty),
            ("Prometheus", self.prometheus),
        ):
            found += [f"fake {name} crashed: {e!r}" for e in fake.errors]
        return found


# --- load ---------------------------------------------------------------------------------


def wrk(
    url: str,
    size: int,
    phase: int,
    severities: str,
    args: argparse.Namespace,
    seconds: int,
    server_pid: int,
    during: Callable[[], Callable[[], None]] | None = None,
) -> WrkResult:
    cmd = [
        "wrk",
        f"--threads={args.threads}",
        f"--connections={args.connections}",
        f"--duration={seconds}s",
        f"--timeout={args.timeout}s",
        f"--script={LUA}",
        url,
        "--",
        str(size),
        str(phase),
        AM_TOKEN,
        severities,
    ]
    finish = during() if during else None
    server0, bench0, wrk0 = (
        cpu_seconds(server_pid),
        own_cpu(resource.RUSAGE_SELF),
        own_cpu(resource.RUSAGE_CHILDREN),
    )
    proc = subprocess.run(
        cmd, capture_output=True, text=True, check=False, timeout=seconds + args.timeout + 30
    )
    server1, bench1, wrk1 = (
        cpu_seconds(server_pid),
        own_cpu(resource.RUSAGE_SELF),
        own_cpu(resource.RUSAGE_CHILDREN),
    )
    if finish:
        finish()
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line.removeprefix("RESULT "))
            return WrkResult(
                requests=r["requests"],
                seconds=r["duration_us"] / 1e6,
                p50_ms=r["p50_us"] / 1000,
                p99_ms=r["p99_us"] / 1000,
                max_ms=r["max_us"] / 1000,
                statuses={int(k): v for k, v in r["statuses"].items()},
                socket_errors={k: n for k, n in r["socket_errors"].items() if n},
                body_bytes=r["body_bytes"],
                server_cpu=server1 - server0,
                bench_cpu=bench1 - bench0,
                wrk_cpu=wrk1 - wrk0,
            )
    fail(f"wrk printed no result (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


# --- the database and the service's own view -------------------------------------------------


def counter(engine: sa.Engine, sql: str) -> Callable[[], int]:
    def count() -> int:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(sql)).scalar_one())

    return count


def settled(count: Callable[[], int], timeout: float = 30) -> int:
    """The count once it has stopped moving (requests in flight at wrk's cut-off are done)."""
    deadline = time.monotonic() + timeout
    last = count()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = count()
        if now == last:
            return now
        last = now
    return last


def newest_alert(base: str) -> str:
    """What GET /api/alerts?limit=1 answers, in a few words."""
    try:
        r = httpx.get(
            f"{base}/api/alerts",
            params={"limit": 1},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        return f"failed: {exc!r}"
    if r.status_code != 200:
        return f"HTTP {r.status_code}: {r.text[:200]}"
    alerts = r.json()
    if not alerts:
        return "empty list"
    return f"fingerprint {alerts[0]['fingerprint']}"


METRIC_LINE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")
METRIC_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metrics(base: str) -> list[tuple[str, dict[str, str], float]]:
    """GET /metrics, parsed: (name, labels, value)."""
    try:
        text = httpx.get(f"{base}/metrics", timeout=10).text
    except httpx.HTTPError:
        return []
    found = []
    for line in text.splitlines():
        m = METRIC_LINE.match(line)
        if m and not line.startswith("#"):
            labels = dict(METRIC_LABEL.findall(m.group(2) or ""))
            found.append((m.group(1), labels, float(m.group(3))))
    return found


def queue_depth(base: str) -> dict[str, int]:
    return {
        labels["status"]: int(v)
        for name, labels, v in metrics(base)
        if name == "incident_bot_job_queue_depth" and "status" in labels
    }


def job_outcomes(base: str) -> dict[str, int]:
    return {
        f"{labels.get('kind')} {labels.get('status')}": int(v)
        for name, labels, v in metrics(base)
        if name == "incident_bot_jobs_finished_total"
    }


# --- opening the incidents the load joins ----------------------------------------------------


def setup_alert(i: int, cluster: str, hub: str) -> bytes:
    """A 1-alert delivery of a critical alert that opens the hub's incident."""
    labels = {
        "alertname": "JupyterHubHealthCheckFailing",
        "cluster": cluster,
        "namespace": hub,
        "severity": "critical",
        "pod": f"hub-setup-{i}",
        "container": "hub",
        "job": "kube-state-metrics",
        "prometheus": "support/support-prometheus-server",
    }
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {
            "summary": f"JupyterHub health check failing on {cluster}/{hub}",
            "description": "The hub has not answered its health check for 5 minutes.",
        },
        # Before the load's alerts (10:00), so GET /api/alerts?limit=1 shows one of those.
        "startsAt": "2026-11-25T09:00:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus.example:9090/graph?g0.expr={quote_plus(EXPR)}&g0.tab=1",
        "fingerprint": f"fe00{i:012x}",
    }
    return json.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}/{{}}:{{cluster="{cluster}", namespace="{hub}"}}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "incident-bot",
            "groupLabels": {"cluster": cluster, "namespace": hub},
            "commonLabels": labels,
            "commonAnnotations": alert["annotations"],
            "externalURL": "https://alertmanager.example",
            "alerts": [alert],
        }
    ).encode()


def open_incidents(base: str, fakes: Integrations, timeout: float) -> tuple[float, list[str]]:
    """One incident per hub; wait for their channels and an empty queue. (seconds, problems)"""
    started = time.monotonic()
    problems: list[str] = []
    created0 = fakes.slack_ok().get("conversations.create", 0)
    opened = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for i, (cluster, hub) in enumerate(HUBS):
            r = client.post(
                "/webhooks/alertmanager",
                content=setup_alert(i, cluster, hub),
                headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"},
            )
            if r.status_code != 200 or len(r.json().get("incidents_opened", [])) != 1:
                problems.append(
                    f"opening {cluster}/{hub}'s incident: HTTP {r.status_code} {r.text}"
                )
                continue
            opened.append(r.json()["incidents_opened"][0])
    deadline = started + timeout
    depth: dict[str, int] = {}
    while True:
        created = fakes.slack_ok().get("conversations.create", 0) - created0
        depth = queue_depth(base)
        busy = depth.get("pending", 0) + depth.get("running", 0)
        if created >= len(opened) and not busy:
            break
        if time.monotonic() > deadline:
            problems.append(
                f"after {timeout:g}s: {created} of {len(opened)} channels created, "
                f"job queue {depth}"
            )
            break
        time.sleep(0.2)
    return time.monotonic() - started, problems


# --- py-spy --------------------------------------------------------------------------------


def py_spy(
    pid: int, seconds: int, out: Path, rate: int, extra: list[str]
) -> Callable[[], Callable[[], None]]:
    """Starts py-spy on `pid` when called; calling what that returns waits for it to finish."""

    def start() -> Callable[[], None]:
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(seconds),
                "--rate",
                str(rate),
                "--nonblocking",
                "--threads",
                "--format",
                "raw",
                "--output",
                str(out),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

        def finish() -> None:
            try:
                _, err = proc.communicate(timeout=seconds + 60)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            if proc.returncode != 0:
                print(f"py-spy exited {proc.returncode}: {err[-2000:]}", file=sys.stderr)

        return finish

    return start


ENTRY_FRAME = re.compile(
    r"\((threading\.py|asyncio/runners\.py|uvicorn/(main|server|_compat)\.py|bot/cli\.py|"
    r"incident-bot)\)$"
)


def profile_summary(path: Path, top: int = 20) -> list[str]:
    """Where the samples went: by thread; per busy thread, the heaviest frames (inclusive);
    overall, the frames the samples were in (self)."""
    if not path.exists():
        return [f"no profile at {path}"]
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: dict[str, Counter[str]] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n_text = line.rpartition(" ")
        if not stack:
            continue
        n = int(n_text)
        first, *frames = stack.split(";")
        # "thread (0x7f..)" or "thread (1234): worker-2": worker threads counted together.
        thread = re.sub(r"^thread \(\w+\)(: )?", "", first) or first
        thread = re.sub(r"^worker-\d+$", "worker-N", thread)
        names = [re.sub(r" \(/[^)]*/(site-packages|lib/python3\.\d+)/", " (", f) for f in frames]
        names = [re.sub(r" \(/.*/(bot|bench)/", r" (\1/", f) for f in names]
        names = [re.sub(r":\d+\)$", ")", f) for f in names]
        total += n
        threads[thread] += n
        if names:
            own[names[-1]] += n
        per = inclusive.setdefault(thread, Counter())
        for name in set(names):
            per[name] += n
    if not total:
        return ["no samples"]
    out = [f"{total:,} samples"]
    out.append("by thread: " + ", ".join(f"{t} {n / total:.0%}" for t, n in threads.most_common()))
    for thread, n in threads.most_common():
        if n < total * 0.05:
            continue
        # Entry points, in (nearly) every sample of their thread, say nothing.
        heavy = [
            (f, m)
            for f, m in inclusive[thread].most_common()
            if m < n * 0.95 and not ENTRY_FRAME.search(f)
        ][:top]
        out.append(f"{thread} ({n / total:.0%}), inclusive:")
        out += [f"  {m / total:6.1%}  {f}" for f, m in heavy]
    out.append("self, all threads:")
    out += [f"  {m / total:6.1%}  {f}" for f, m in own.most_common(top)]
    return out


# --- the cases ------------------------------------------------------------------------------


def figures(name: str, key: str, database: str | None, size: int, rnd: int, r: WrkResult) -> Row:
    return Row(
        case=name,
        key=key,
        database=database,
        size=size,
        round=rnd,
        req_per_s=r.requests / r.seconds,
        alerts_per_s=r.ok * size / r.seconds if database else None,
        p50_ms=r.p50_ms,
        p99_ms=r.p99_ms,
        max_ms=r.max_ms,
        body_bytes=r.body_bytes,
        non_2xx=r.requests - r.ok,
        statuses=r.statuses,
        socket_errors=r.socket_errors,
        seconds=r.seconds,
        server_cpu_s=r.server_cpu,
        cpu_ms_per_req=r.server_cpu * 1000 / r.requests if r.requests else 0.0,
        bench_cpu_s=r.bench_cpu,
        wrk_cpu_s=r.wrk_cpu,
    )


def run_baseline(size: int, severities: str, rnd: int, args: argparse.Namespace, tmp: Path) -> Row:
    port = free_port()
    cmd = [sys.executable, str(NOOP_APP), "--port", str(port), "--log-level", args.log_level]
    if not args.access_log:
        cmd.append("--no-access-log")
    server = Server(cmd, dict(os.environ), tmp, tmp / f"noop-{size}-r{rnd}.log")
    try:
        server.wait_ready(f"http://127.0.0.1:{port}/openapi.json")
        url = f"http://127.0.0.1:{port}/noop"
        pid = server.proc.pid
        if args.warmup:
            wrk(url, size, WARMUP_PHASE, severities, args, args.warmup, pid)
        r = wrk(url, size, MEASURED_PHASE, severities, args, args.duration, pid)
        row = figures(f"FastAPI no-op, {size}-alert body", "baseline", None, size, rnd, r)
        row.peak_rss_mb = server.peak_rss_mb()
    finally:
        server.stop()
    row.log_problems = log_problems(server.log())
    if server.stop_note:
        row.problems.append(f"server {server.stop_note}")
    return row


def run_bot(
    database: str,
    case: Case,
    rnd: int,
    args: argparse.Namespace,
    tmp: Path,
    fakes: Integrations,
    profile: Path | None,
) -> Row:
    url = fresh_database(database, args.pg_url, tmp / f"bot-{case.key}-r{rnd}.db")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [*serve_command(port), "--log-level", args.log_level]
    if not args.access_log:
        cmd.append("--no-access-log")
    env = bot_env(url, **(fakes.env() if case.configured else {}))
    if args.worker_threads is not None:
        env["WORKER_THREADS"] = str(args.worker_threads)
    engine = sa.create_engine(url)
    alerts = counter(engine, "SELECT count(*) FROM alert")
    incidents = counter(engine, "SELECT count(*) FROM incident")
    unjoined = counter(
        engine,
        "SELECT count(*) FROM alert WHERE incident_number IS NULL "
        f"AND fingerprint LIKE '{MEASURED_PHASE:02x}%'",
    )
    server = Server(cmd, env, tmp, tmp / f"bot-{database}-{case.key}-r{rnd}.log")
    problems: list[str] = []
    setup_s = None
    try:
        server.wait_ready(f"{base}/readyz")
        pid = server.proc.pid
        if case.configured:
            setup_s, problems = open_incidents(base, fakes, args.setup_timeout)
        target = f"{base}/webhooks/alertmanager"
        # The integrations' calls are counted over the whole load, warm-up included.
        slack0 = fakes.slack_ok()
        pd0, prom0 = len(fakes.pagerduty.requests), len(fakes.prometheus.requests)
        if args.warmup:
            wrk(target, case.size, WARMUP_PHASE, case.severities, args, args.warmup, pid)
        before = settled(alerts)
        incidents_before = incidents()
        during = None
        if profile:
            during = py_spy(pid, args.duration, profile, args.py_spy_rate, args.py_spy_args.split())
        r = wrk(
            target, case.size, MEASURED_PHASE, case.severities, args, args.duration, pid, during
        )
        slack1 = fakes.slack_ok()
        pd1, prom1 = len(fakes.pagerduty.requests), len(fakes.prometheus.requests)
        stored = settled(alerts) - before
        row = figures(case.name(database), case.key, database, case.size, rnd, r)
        row.setup_s = setup_s
        row.acked_alerts = r.ok * case.size
        row.stored_alerts = stored
        # Requests still in flight when wrk stops are stored but never counted by wrk.
        row.in_flight_allowance = (args.connections + r.failed) * case.size
        row.incidents = incidents()
        row.unjoined = unjoined() if case.configured else None
        row.slack_calls = {
            m: n - slack0.get(m, 0) for m, n in sorted(slack1.items()) if n - slack0.get(m, 0)
        }
        row.pagerduty_calls, row.prometheus_calls = pd1 - pd0, prom1 - prom0
        row.api_check = newest_alert(base)
        row.jobs = job_outcomes(base)
        row.queue_at_end = queue_depth(base)
        row.peak_rss_mb = server.peak_rss_mb()
    finally:
        server.stop()
        engine.dispose()
    row.problems += problems
    row.log_problems = log_problems(server.log())
    if args.keep_logs:
        args.keep_logs.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log_path, args.keep_logs / server.log_path.name)
    if server.stop_note:
        row.problems.append(f"server {server.stop_note}")
    if stored < row.acked_alerts:
        row.problems.append(
            f"only {stored} of {row.acked_alerts} acknowledged alerts are in the database"
        )
    elif stored > row.acked_alerts + row.in_flight_allowance:
        row.problems.append(
            f"{stored} alerts stored for {row.acked_alerts} acknowledged: more than requests "
            f"in flight at the cut-off explain"
        )
    if not row.api_check.startswith(f"fingerprint {MEASURED_PHASE:02x}"):
        row.problems.append(
            f"GET /api/alerts?limit=1 did not return this run's alert: {row.api_check}"
        )
    if case.configured:
        if row.incidents != incidents_before or row.incidents != len(HUBS):
            row.problems.append(
                f"{row.incidents} incidents after the load ({incidents_before} before it, "
                f"{len(HUBS)} opened first): the load was to join them, not open more"
            )
        if row.unjoined:
            row.problems.append(f"{row.unjoined} measured alerts joined no incident")
    # A postponed job (a coalesced summary edit) and a failed one both end "pending"; failures
    # are logged as warnings, which the log scan shows.
    dead = {k: n for k, n in row.jobs.items() if k.endswith(" dead")}
    if dead:
        row.problems.append(f"job attempts that ended dead: {dead}")
    if row.queue_at_end.get("dead"):
        row.problems.append(f"{row.queue_at_end['dead']} dead jobs")
    if profile:
        row.profile = profile_summary(profile)
    return row


# --- output ----------------------------------------------------------------------------------


def environment(args: argparse.Namespace) -> dict[str, Any]:
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return {
        "git": git_describe(),
        "cores": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "python": sys.version.split()[0],
        "fastapi": version("fastapi"),
        "uvicorn": version("uvicorn"),
        "sqlalchemy": version("sqlalchemy"),
        "uvloop": importlib.util.find_spec("uvloop") is not None,
        "httptools": importlib.util.find_spec("httptools") is not None,
        "wrk": (wrk_version.stdout + wrk_version.stderr).split("\n")[0].strip(),
        "wrk_args": f"-t{args.threads} -c{args.connections} -d{args.duration}s "
        f"--timeout {args.timeout}s (warm-up {args.warmup}s, not counted)",
        "access_log": args.access_log,
        "log_level": args.log_level,
        "worker_threads": args.worker_threads,
        "cases": args.cases,
        "rounds": args.rounds,
    }


def cell(value: float | None, fmt: str = ",.0f") -> str:
    return "-" if value is None else format(value, fmt)


def print_report(rows: list[Row], env: dict[str, Any], main_key: str) -> None:
    load = ", ".join(f"{x:.2f}" for x in env["loadavg_before"])
    threads = env["worker_threads"] if env["worker_threads"] is not None else "4 (default)"
    print()
    print(
        f"incident-bot {env['git']}; {env['cores']} cores, load average before: {load}; "
        f"python {env['python']}, fastapi {env['fastapi']}, uvicorn {env['uvicorn']} "
        f"(uvloop: {env['uvloop']}, httptools: {env['httptools']}), "
        f"sqlalchemy {env['sqlalchemy']}"
    )
    print(
        f"{env['wrk']}: {env['wrk_args']}; access log {'on' if env['access_log'] else 'off'} "
        f"and log level {env['log_level']} for both servers; bot worker threads {threads}"
    )
    sizes = {r.size: r.body_bytes for r in rows}
    print("bodies: " + ", ".join(f"{s}-alert {b / 1000:.1f} kB" for s, b in sorted(sizes.items())))
    print(
        "integrations: fake Slack, PagerDuty and Prometheus of tests/fakes in the bench "
        "process; 'joining': one incident per hub opened on 6 hubs first, every alert of the "
        "load joins one (severity warning and critical in turn)"
    )
    print()
    print(
        "| case | req/s | x baseline | alerts/s | p50 ms | p99 ms | max ms | server CPU ms/req "
        "| non-2xx | stored / acked | incidents | peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rounds = max(r.round for r in rows) + 1
    for r in rows:
        kept = "-" if r.stored_alerts is None else f"{r.stored_alerts:,} / {r.acked_alerts:,}"
        errors = sum(r.socket_errors.values())
        failed = f"{r.non_2xx:,}" + (f" +{errors:,} no answer" if errors else "")
        failed += " !!" if r.non_2xx or errors else ""
        name = r.case + (f" (round {r.round + 1})" if rounds > 1 else "")
        print(
            f"| {name} | {r.req_per_s:,.0f} | {cell(r.ratio, '.2f')} | {cell(r.alerts_per_s)} "
            f"| {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:.0f} | {r.cpu_ms_per_req:.2f} "
            f"| {failed} | {kept} | {cell(r.incidents, 'd')} | {r.peak_rss_mb:.0f} |"
        )
    print()
    by_case: dict[str, list[Row]] = {}
    for r in rows:
        if r.database is not None:
            by_case.setdefault(r.case, []).append(r)
    for name, found in by_case.items():
        ratios = [r.ratio for r in found if r.ratio is not None]
        if not ratios:
            continue
        text = f"{statistics.median(ratios):.2f}"
        if len(ratios) > 1:
            text += f" (median of {', '.join(f'{x:.2f}' for x in ratios)})"
        cpu = statistics.median(r.cpu_ms_per_req for r in found)
        base_cpu = [
            b.cpu_ms_per_req for b in rows if b.database is None and b.size == found[0].size
        ]
        cpu_text = f"; server CPU per request {cpu:.2f} ms"
        if base_cpu:
            cpu_text += f" vs the no-op's {statistics.median(base_cpu):.2f} ms"
        print(f"bot / no-op req/s, {name}: {text}{cpu_text}")
        if found[0].key == main_key:
            median = statistics.median(ratios)
            verdict = "met" if median >= GOAL_RATIO else "NOT met"
            print(f"goal (issue 8: >= {GOAL_RATIO:.2f} of the no-op's req/s), {name}: {verdict}")
    print()
    for r in rows:
        measured = f"{r.seconds:.1f} s measured"
        line = (
            f"CPU, {r.case}{f' (round {r.round + 1})' if rounds > 1 else ''}: server "
            f"{r.server_cpu_s:.1f} s ({r.server_cpu_s / r.seconds:.0%} of a core), wrk "
            f"{r.wrk_cpu_s:.1f} s, bench process (the fakes) {r.bench_cpu_s:.2f} s, in {measured}"
        )
        print(line)
    print()
    for r in rows:
        if r.database is None:
            continue
        calls = ", ".join(f"{m} {n}" for m, n in r.slack_calls.items()) or "none"
        extra = ""
        if r.setup_s is not None:
            extra = f"; incidents opened and channels ready in {r.setup_s:.1f} s before the load"
        print(
            f"integrations' calls during the load (warm-up included), {r.case}: Slack {calls}; "
            f"PagerDuty {r.pagerduty_calls}; Prometheus {r.prometheus_calls}{extra}"
        )
        jobs = ", ".join(f"{k} {n}" for k, n in sorted(r.jobs.items())) or "none"
        queue = ", ".join(f"{k} {n}" for k, n in sorted(r.queue_at_end.items()) if n) or "empty"
        print(f"    job attempts (whole run): {jobs}; queue at the end: {queue}")
    print()
    for r in rows:
        if r.stored_alerts is not None:
            surplus = r.stored_alerts - (r.acked_alerts or 0)
            joined = "" if r.unjoined is None else f"; {r.unjoined} not joined to an incident"
            print(
                f"stored, {r.case}: {r.stored_alerts:,} alerts for {r.acked_alerts:,} answered "
                f"2xx (+{surplus} in flight at wrk's cut-off, at most {r.in_flight_allowance:,})"
                f"{joined}; GET /api/alerts?limit=1: {r.api_check}"
            )
    for r in rows:
        if r.log_problems:
            print(f"server log, {r.case}:")
            for line in r.log_problems:
                print(f"    {line}")
    for r in rows:
        if r.profile:
            print()
            print(f"py-spy, {r.case}:")
            for line in r.profile:
                print(f"    {line}")


def print_problems(rows: list[Row]) -> bool:
    bad = False
    for r in rows:
        problems = list(r.problems)
        if r.non_2xx:
            codes = ", ".join(f"{n:,}x HTTP {s}" for s, n in sorted(r.statuses.items()) if s >= 300)
            problems.append(f"{r.non_2xx:,} responses were not 2xx ({codes})")
        if r.socket_errors:
            errors = ", ".join(f"{n:,} {kind}" for kind, n in r.socket_errors.items())
            problems.append(f"requests without a response: {errors}")
        if logged_errors(r.log_problems):
            problems.append("the server logged errors (see above)")
        for p in problems:
            print(f"!! {r.case}: {p}", file=sys.stderr)
        bad = bad or bool(problems)
    if bad:
        print(
            "!! FAILURES: the figures above include failed requests, lost alerts or errors.",
            file=sys.stderr,
        )
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Alertmanager ingest benchmark of incident-bot as deployed, beside a "
        "FastAPI no-op."
    )
    parser.add_argument(
        "--cases",
        default=DEFAULT_CASES,
        help=f"comma-separated, the first is the main one; of {', '.join(CASES)} ({DEFAULT_CASES})",
    )
    parser.add_argument("--rounds", type=int, default=1, help="run everything N times (1)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per case (10)")
    parser.add_argument("--warmup", type=int, default=2, help="uncounted seconds first (2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--timeout", type=int, default=10, help="wrk request timeout, s (10)")
    parser.add_argument(
        "--worker-threads", type=int, help="WORKER_THREADS for the bot (default: its own, 4)"
    )
    parser.add_argument(
        "--setup-timeout",
        type=float,
        default=60,
        help="seconds for the incidents' channels to open and the queue to empty (60)",
    )
    add_database_args(parser)
    parser.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="both servers without uvicorn's access log (default: on, as `incident-bot serve`)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="both servers' log level (info, the default of `incident-bot serve`)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    parser.add_argument("--keep-logs", type=Path, metavar="DIR", help="copy the server logs here")
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="FILE",
        help="profile the main case's server (first database, first round) with py-spy; "
        "collapsed stacks to FILE",
    )
    parser.add_argument("--py-spy-rate", type=int, default=200, help="samples per second (200)")
    parser.add_argument(
        "--py-spy-args",
        default="",
        metavar="ARGS",
        help="more py-spy record options, e.g. '--gil' (only samples holding the GIL) or '--idle'",
    )
    args = parser.parse_args()

    keys = [k.strip() for k in args.cases.split(",") if k.strip()]
    unknown = [k for k in keys if k not in CASES]
    if unknown or not keys:
        fail(f"unknown cases {unknown}; choose from {', '.join(CASES)}")
    cases = [CASES[k] for k in keys]
    if shutil.which("wrk") is None:
        fail("wrk is not installed; on Debian or Ubuntu: apt-get update && apt-get install -y wrk")
    if not args.access_log and not serve_has_flag("--no-access-log"):
        fail("this `incident-bot serve` has no --no-access-log; run without --no-access-log")
    if args.py_spy and not (
        shutil.which("py-spy") or (Path(sys.executable).parent / "py-spy").exists()
    ):
        fail("py-spy is not installed: pip install py-spy")
    measured = databases(args)

    env = environment(args)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        for rnd in range(args.rounds):
            baselines: dict[int, Row] = {}
            for database in measured:
                for case in cases:
                    if case.size not in baselines:
                        print(
                            f"baseline: FastAPI no-op, {case.size}-alert body ...", file=sys.stderr
                        )
                        baselines[case.size] = run_baseline(
                            case.size, case.severities, rnd, args, Path(tmp)
                        )
                        rows.append(baselines[case.size])
                    profile = None
                    if args.py_spy and rnd == 0 and database == measured[0] and case is cases[0]:
                        profile = args.py_spy
                    print(f"{case.name(database)} ...", file=sys.stderr)
                    # Fresh fakes for each server: no channel names left from the last one.
                    with Integrations() as fakes:
                        row = run_bot(database, case, rnd, args, Path(tmp), fakes, profile)
                    row.problems += fakes.errors()
                    row.ratio = row.req_per_s / baselines[case.size].req_per_s
                    rows.append(row)
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in Path(tmp).glob("noop-*.log"):
                shutil.copy(log, args.keep_logs / log.name)
    print_report(rows, env, cases[0].key)
    bad = print_problems(rows)
    if args.json:
        args.json.write_text(
            json.dumps({"environment": env, "rows": [asdict(r) for r in rows]}, indent=2)
        )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
