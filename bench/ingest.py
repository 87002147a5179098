"""Alertmanager ingest benchmark: the bot's req/s, alerts/s and latency beside a no-op baseline.

    python bench/ingest.py [--duration 10] [--connections 32] [--threads 2] [--warmup 2]
                           [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                           [--no-access-log] [--json results.json]

What one run does, all over loopback with `wrk` (Debian: `apt-get install wrk`):

1. Baseline: serves bench/noop_app.py (a bare FastAPI app, one `async def POST /noop`) the way
   `incident-bot serve` serves the bot, and loads it with the 1-alert bodies.
2. The bot: for each case, starts `incident-bot serve` as a subprocess on a free port and a
   fresh database (SQLite in a temp dir; with `--pg-url` also PostgreSQL, whose `public`
   schema is DROPPED and recreated first), waits for /readyz, then POSTs Alertmanager v4
   deliveries to /webhooks/alertmanager: (a) 1 alert per delivery (~1.3 KB), (b) 50 alerts
   per delivery (~48 KB). Every alert is new (unique fingerprint and label set), spread
   round-robin over six hubs of hubs.yaml: the storm opens one incident per hub, then joins.
3. Checks that every alert answered 2xx was stored (rows counted in the database, and
   GET /api/alerts?limit=1 must return one of this run's alerts), reads the server's peak
   RSS (VmHWM) and scans its log for warnings and errors.

Both servers run with the same logging: by default the access log is on, as
`incident-bot serve` has it; `--no-access-log` turns it off for both. Each case gets a short
warm-up that is not counted. Figures are only comparable within one run: wrk shares the
machine's cores with the server, and run-to-run noise is about 30 %. Exits 1 if any request
failed, an acknowledged alert is missing, or the server logged an error.
"""

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from common import (
    AM_TOKEN,
    API_TOKEN,
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

HERE = Path(__file__).resolve().parent
LUA = HERE / "alertmanager.lua"
NOOP_APP = HERE / "noop_app.py"
SIZES = (1, 50)
WARMUP_PHASE, MEASURED_PHASE = 0, 1  # the first byte of the fingerprints the Lua script makes


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
    database: str | None  # None for the no-op baseline
    size: int
    req_per_s: float
    alerts_per_s: float | None
    p50_ms: float
    p99_ms: float
    max_ms: float
    body_bytes: int
    non_2xx: int
    statuses: dict[int, int]
    socket_errors: dict[str, int]
    acked_alerts: int | None = None
    stored_alerts: int | None = None
    in_flight_allowance: int = 0
    incidents: int | None = None
    api_check: str | None = None
    peak_rss_mb: float = 0.0
    log_problems: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# --- servers ----------------------------------------------------------------------------


def serve_has_flag(flag: str) -> bool:
    out = subprocess.run(
        [*incident_bot_command(), "serve", "--help"], capture_output=True, text=True, check=False
    ).stdout
    return flag in out


# --- load ---------------------------------------------------------------------------------


def wrk(url: str, size: int, phase: int, args: argparse.Namespace, seconds: int) -> WrkResult:
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
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
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
            )
    fail(f"wrk printed no result (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


# --- the database -------------------------------------------------------------------------


def counter(engine: sa.Engine, table: str) -> Callable[[], int]:
    def count() -> int:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())

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


# --- the cases ------------------------------------------------------------------------------


def figures(name: str, database: str | None, size: int, r: WrkResult) -> Row:
    return Row(
        case=name,
        database=database,
        size=size,
        req_per_s=r.requests / r.seconds,
        alerts_per_s=r.ok * size / r.seconds if database else None,
        p50_ms=r.p50_ms,
        p99_ms=r.p99_ms,
        max_ms=r.max_ms,
        body_bytes=r.body_bytes,
        non_2xx=r.requests - r.ok,
        statuses=r.statuses,
        socket_errors=r.socket_errors,
    )


def run_baseline(args: argparse.Namespace, tmp: Path) -> Row:
    port = free_port()
    cmd = [sys.executable, str(NOOP_APP), "--port", str(port), "--log-level", args.log_level]
    if not args.access_log:
        cmd.append("--no-access-log")
    server = Server(cmd, dict(os.environ), tmp, tmp / "noop.log")
    try:
        server.wait_ready(f"http://127.0.0.1:{port}/openapi.json")
        url = f"http://127.0.0.1:{port}/noop"
        if args.warmup:
            wrk(url, 1, WARMUP_PHASE, args, args.warmup)
        row = figures(
            "FastAPI no-op, 1-alert body", None, 1, wrk(url, 1, MEASURED_PHASE, args, args.duration)
        )
        row.peak_rss_mb = server.peak_rss_mb()
    finally:
        server.stop()
    row.log_problems = log_problems(server.log())
    if server.stop_note:
        row.problems.append(f"server {server.stop_note}")
    return row


def run_bot(database: str, size: int, args: argparse.Namespace, tmp: Path) -> Row:
    url = fresh_database(database, args.pg_url, tmp / f"bot-{size}.db")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [*serve_command(port), "--log-level", args.log_level]
    if not args.access_log:
        cmd.append("--no-access-log")
    engine = sa.create_engine(url)
    alerts, incidents = counter(engine, "alert"), counter(engine, "incident")
    server = Server(cmd, bot_env(url), tmp, tmp / f"bot-{database}-{size}.log")
    try:
        server.wait_ready(f"{base}/readyz")
        target = f"{base}/webhooks/alertmanager"
        if args.warmup:
            wrk(target, size, WARMUP_PHASE, args, args.warmup)
        before = settled(alerts)
        r = wrk(target, size, MEASURED_PHASE, args, args.duration)
        stored = settled(alerts) - before
        row = figures(f"bot, {database}, {size}-alert deliveries", database, size, r)
        row.acked_alerts = r.ok * size
        row.stored_alerts = stored
        # Requests still in flight when wrk stops are stored but never counted by wrk.
        row.in_flight_allowance = (args.connections + r.failed) * size
        row.incidents = incidents()
        row.api_check = newest_alert(base)
        row.peak_rss_mb = server.peak_rss_mb()
    finally:
        server.stop()
        engine.dispose()
    row.log_problems = log_problems(server.log())
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
        "uvloop": importlib.util.find_spec("uvloop") is not None,
        "httptools": importlib.util.find_spec("httptools") is not None,
        "wrk": (wrk_version.stdout + wrk_version.stderr).split("\n")[0].strip(),
        "wrk_args": f"-t{args.threads} -c{args.connections} -d{args.duration}s "
        f"--timeout {args.timeout}s (warm-up {args.warmup}s, not counted)",
        "access_log": args.access_log,
        "log_level": args.log_level,
    }


def cell(value: float | None, fmt: str = ",.0f") -> str:
    return "-" if value is None else format(value, fmt)


def print_report(rows: list[Row], env: dict[str, Any]) -> None:
    load = ", ".join(f"{x:.2f}" for x in env["loadavg_before"])
    print()
    print(
        f"incident-bot {env['git']}; {env['cores']} cores, load average before: {load}; "
        f"python {env['python']}, fastapi {env['fastapi']}, uvicorn {env['uvicorn']} "
        f"(uvloop: {env['uvloop']}, httptools: {env['httptools']})"
    )
    print(
        f"{env['wrk']}: {env['wrk_args']}; access log {'on' if env['access_log'] else 'off'} "
        f"and log level {env['log_level']} for both servers"
    )
    sizes = {r.size: r.body_bytes for r in rows}
    print("bodies: " + ", ".join(f"{s}-alert {b / 1000:.1f} kB" for s, b in sorted(sizes.items())))
    print()
    print(
        "| case | req/s | alerts/s | p50 ms | p99 ms | max ms | non-2xx | stored / acked "
        "| incidents | peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        kept = "-" if r.stored_alerts is None else f"{r.stored_alerts:,} / {r.acked_alerts:,}"
        errors = sum(r.socket_errors.values())
        failed = f"{r.non_2xx:,}" + (f" +{errors:,} no answer" if errors else "")
        failed += " !!" if r.non_2xx or errors else ""
        print(
            f"| {r.case} | {r.req_per_s:,.0f} | {cell(r.alerts_per_s)} | {r.p50_ms:.1f} "
            f"| {r.p99_ms:.1f} | {r.max_ms:.0f} | {failed} | {kept} "
            f"| {cell(r.incidents, 'd')} | {r.peak_rss_mb:.0f} |"
        )
    print()
    baseline = next((r for r in rows if r.database is None), None)
    for r in rows:
        if baseline and r.database and r.size == 1:
            print(
                f"bot / no-op req/s, 1-alert deliveries, {r.database}: "
                f"{r.req_per_s / baseline.req_per_s:.2f}"
            )
    for r in rows:
        if r.stored_alerts is not None:
            extra = r.stored_alerts - (r.acked_alerts or 0)
            print(
                f"stored, {r.case}: {r.stored_alerts:,} alerts for {r.acked_alerts:,} answered "
                f"2xx (+{extra} in flight at wrk's cut-off, at most {r.in_flight_allowance:,}); "
                f"GET /api/alerts?limit=1: {r.api_check}"
            )
    for r in rows:
        if r.log_problems:
            print(f"server log, {r.case}:")
            for line in r.log_problems:
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
            "!! FAILURES: the figures above include failed requests or lost alerts.",
            file=sys.stderr,
        )
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Alertmanager ingest benchmark of incident-bot beside a FastAPI no-op."
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per case (10)")
    parser.add_argument("--warmup", type=int, default=2, help="uncounted seconds first (2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--timeout", type=int, default=10, help="wrk request timeout, s (10)")
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
    args = parser.parse_args()

    if shutil.which("wrk") is None:
        fail("wrk is not installed; on Debian or Ubuntu: apt-get update && apt-get install -y wrk")
    if not args.access_log and not serve_has_flag("--no-access-log"):
        fail("this `incident-bot serve` has no --no-access-log; run without --no-access-log")
    measured = databases(args)

    env = environment(args)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        print("baseline: FastAPI no-op ...", file=sys.stderr)
        rows.append(run_baseline(args, Path(tmp)))
        for database in measured:
            for size in SIZES:
                print(f"bot: {database}, {size}-alert deliveries ...", file=sys.stderr)
                rows.append(run_bot(database, size, args, Path(tmp)))
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in Path(tmp).glob("*.log"):
                shutil.copy(log, args.keep_logs / log.name)
    print_report(rows, env)
    bad = print_problems(rows)
    if args.json:
        args.json.write_text(
            json.dumps({"environment": env, "rows": [asdict(r) for r in rows]}, indent=2)
        )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
