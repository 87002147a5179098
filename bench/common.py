"""What the benchmarks in bench/ share: the bot as a subprocess, its settings, its log."""

import argparse
import hashlib
import hmac
import importlib.metadata
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlencode

import httpx
import sqlalchemy as sa

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
HUBS_FILE = ROOT / "hubs.yaml"
AM_TOKEN = "bench-alertmanager-token"
API_TOKEN = "bench-api-token"
# Server log lines that are expected and not worth a warning.
EXPECTED_LOG = re.compile(r"not configured: ")


def fail(message: str) -> NoReturn:
    sys.exit(f"bench/{Path(sys.argv[0]).name}: {message}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """A server subprocess whose stdout and stderr go to a log file."""

    def __init__(self, cmd: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.cmd = cmd
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=self._log, stderr=self._log)
        self.stop_note = ""

    def wait_ready(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                fail(f"server exited ({self.proc.returncode}): {' '.join(self.cmd)}\n{self.log()}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        fail(f"server not ready after {timeout:g}s: {' '.join(self.cmd)}\n{self.log()}")

    def peak_rss_mb(self) -> float:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.stop_note = "did not stop within 20 s of SIGTERM; killed"
        if self.proc.returncode not in (0, -signal.SIGTERM) and not self.stop_note:
            self.stop_note = f"exited with status {self.proc.returncode}"
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def log_problems(text: str) -> list[str]:
    """Warnings, errors and tracebacks in a server log, counted by message."""
    seen: Counter[str] = Counter()
    for line in text.splitlines():
        if EXPECTED_LOG.search(line):
            continue
        if re.search(r"\b(WARNING|ERROR|CRITICAL)\b|^Traceback|^\w+(Error|Exception):", line):
            # Drop the timestamp so repeats of one message count together.
            seen[re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ", "", line)[:300]] += 1
    return [f"{n}x {message}" if n > 1 else message for message, n in seen.most_common(12)]


def logged_errors(problems: list[str]) -> bool:
    """Whether lines from `log_problems` hold more than warnings."""
    return any(re.search(r"ERROR|CRITICAL|Traceback", line) for line in problems)


def incident_bot_command() -> list[str]:
    beside = Path(sys.executable).parent / "incident-bot"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("incident-bot")
    if found:
        return [found]
    fail("`incident-bot` is not installed; run `pip install -e '.[dev]'` in the repository")


def serve_command(port: int) -> list[str]:
    return [*incident_bot_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]


def serve_supports(flag: str) -> bool:
    """Whether this `incident-bot serve` takes `flag` (e.g. --no-access-log)."""
    out = subprocess.run(
        [*incident_bot_command(), "serve", "--help"], capture_output=True, text=True, check=False
    ).stdout
    return flag in out


def bot_env(database_url: str, **settings: str) -> dict[str, str]:
    """The caller's environment without any of the bot's settings, then the bench's."""
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update(
        DATABASE_URL=database_url,
        ALERTMANAGER_TOKEN=AM_TOKEN,
        API_TOKEN=API_TOKEN,
        HUBS_FILE=str(HUBS_FILE),
        RUNBOOKS_DIR=str(ROOT / "runbooks"),
        **settings,
    )
    return env


# --- the databases --------------------------------------------------------------------------


def add_database_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pg-url",
        metavar="URL",
        help="also run on this PostgreSQL; its `public` schema is DROPPED, e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    )
    parser.add_argument(
        "--no-sqlite", dest="sqlite", action="store_false", help="skip the SQLite cases"
    )


def databases(args: argparse.Namespace) -> list[str]:
    found = (["sqlite"] if args.sqlite else []) + (["postgresql"] if args.pg_url else [])
    if not found:
        fail("nothing to measure: --no-sqlite needs --pg-url")
    return found


def fresh_database(database: str, pg_url: str | None, sqlite_file: Path) -> str:
    """The URL of an empty database: `sqlite_file`, or PostgreSQL with `public` recreated."""
    if database != "postgresql":
        return f"sqlite:///{sqlite_file}"
    assert pg_url is not None
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    except sa.exc.OperationalError as exc:
        fail(f"cannot reach PostgreSQL at {pg_url}: {exc.orig}")
    finally:
        engine.dispose()
    return pg_url


# --- requests and the report header -----------------------------------------------------------


def sign(body: bytes, secret: str) -> dict[str, str]:
    """The headers Slack signs a request with.

    The same as tests/rig.py's sign(), which cannot be imported on its own: tests.rig and
    tests.conftest import each other, so it needs conftest (pytest, the app) imported first.
    """
    stamp = str(int(time.time()))
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def slash_command(text: str, *, channel: str = "CGENERAL", user: str = "UBENCH") -> bytes:
    """The form body Slack POSTs for `/incident <text>` (as tests/rig.py builds it)."""
    form = {
        "token": "legacy",
        "team_id": "T1",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/incident",
        "text": text,
        "response_url": "https://hooks.slack.invalid/commands/1",
        "trigger_id": "1337.42.abcd",
    }
    return urlencode(form).encode()


def pagerduty_signature(body: bytes, secret: str) -> dict[str, str]:
    """The header PagerDuty signs a V3 webhook delivery with."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-PagerDuty-Signature": f"v1={digest}"}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.4999)))
    return ordered[rank - 1]


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def git_describe() -> str:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return out or "unknown"
