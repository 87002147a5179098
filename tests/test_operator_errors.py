"""An operator's mistakes, through the real CLI: one line on stderr, exit 2 for configuration,
1 for runtime, never a traceback; `--version` and `migrate [--sql]`."""

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot import __version__
from bot.config import Settings
from tests.conftest import ROOT

# Every command that reads settings; those that use the database come first.
DATABASE_COMMANDS = [
    ("serve", "--port", "0"),
    ("migrate",),
    ("jobs",),
    ("stats",),
    ("incidents", "list"),
]
SETTINGS_COMMANDS = [*DATABASE_COMMANDS, ("check",), ("route", "-l", "cluster=leap")]
SETTING_NAMES = frozenset(name.upper() for name in Settings.model_fields)


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` with only these settings (none inherited from the test's shell)."""
    inherited = {k: v for k, v in os.environ.items() if k.upper() not in SETTING_NAMES}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**inherited, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line_error(r: subprocess.CompletedProcess[str], code: int) -> str:
    """The single stderr line of a failed run, after checking the exit code and no traceback."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stdout + r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=lambda c: c[0])
def test_postgresql_refusing_connections_is_one_line(command: tuple[str, ...], tmp_path: Path):
    url = f"postgresql+psycopg://bot:hunter2@127.0.0.1:{closed_port()}/incidents"
    line = one_line_error(run(*command, env={"DATABASE_URL": url}, cwd=tmp_path), 2)
    assert line.startswith("error: DATABASE_URL: cannot connect to postgresql+psycopg://bot:***@")
    assert "refused" in line.lower() and "hunter2" not in line


def test_an_unopenable_sqlite_file_is_one_line(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/no/such/folder/bot.db"
    line = one_line_error(run("migrate", env={"DATABASE_URL": url}, cwd=tmp_path), 2)
    assert line == f"error: DATABASE_URL: cannot connect to {url}: unable to open database file"


def test_postgres_scheme_is_read_as_postgresql(tmp_path: Path):
    url = f"postgres://bot@127.0.0.1:{closed_port()}/incidents"
    line = one_line_error(run("migrate", env={"DATABASE_URL": url}, cwd=tmp_path), 2)
    # Accepted, and tried with the driver we ship: the failure is the connection, not the URL.
    assert "cannot connect to postgresql+psycopg://bot@127.0.0.1:" in line


@pytest.mark.parametrize("command", SETTINGS_COMMANDS, ids=lambda c: c[0])
def test_an_unknown_url_scheme_names_database_url(command: tuple[str, ...], tmp_path: Path):
    env = {"DATABASE_URL": "mysql://root@localhost/bot"}
    line = one_line_error(run(*command, env=env, cwd=tmp_path), 2)
    assert line.startswith("error: DATABASE_URL: unsupported URL scheme 'mysql': use "), line
    assert "sqlite:///" in line and "postgresql+psycopg://" in line


@pytest.mark.parametrize("url", ["foo://x", "incident-bot.db", "postgresql+psycopg://h:port/x"])
def test_a_url_that_is_no_database_url_names_database_url(url: str, tmp_path: Path):
    line = one_line_error(run("serve", env={"DATABASE_URL": url}, cwd=tmp_path), 2)
    assert line.startswith("error: DATABASE_URL: "), line
    assert "sqlite:///" in line and "postgresql+psycopg://" in line


@pytest.mark.parametrize("command", SETTINGS_COMMANDS, ids=lambda c: c[0])
def test_a_setting_of_the_wrong_type_names_its_variable_in_every_command(
    command: tuple[str, ...], tmp_path: Path
):
    line = one_line_error(run(*command, env={"WORKER_THREADS": "abc"}, cwd=tmp_path), 2)
    assert line == (
        "error: WORKER_THREADS: Input should be a valid integer, unable to parse string as an "
        "integer (got 'abc')"
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WORKER_THREADS": "abc"}, "error: WORKER_THREADS: Input should be a valid integer"),
        ({"WORKER_THREADS": "1000"}, "error: WORKER_THREADS: Input should be less than"),
        ({"TIMEZONE": "Europe/Atlantis"}, "error: TIMEZONE: unknown time zone 'Europe/Atlantis'"),
        ({"LOG_FORMAT": "xml"}, "error: LOG_FORMAT: Input should be 'text' or 'json'"),
    ],
)
def test_a_bad_setting_names_its_environment_variable(
    env: dict[str, str], expected: str, tmp_path: Path
):
    assert one_line_error(run("serve", env=env, cwd=tmp_path), 2).startswith(expected)


def test_every_bad_setting_is_named_on_the_one_line(tmp_path: Path):
    env = {"WORKER_THREADS": "abc", "TIMEZONE": "Nowhere", "API_TOKEN": "", "DATABASE_URL": "x"}
    line = one_line_error(run("serve", env=env, cwd=tmp_path), 2)
    assert "WORKER_THREADS:" in line and "TIMEZONE:" in line and "DATABASE_URL:" in line


def test_a_secret_of_the_wrong_shape_is_never_echoed(tmp_path: Path):
    url = "mysql://bot:hunter2@db/incidents"
    line = one_line_error(run("check", env={"DATABASE_URL": url}, cwd=tmp_path), 2)
    assert "hunter2" not in line


def test_an_invalid_registry_is_one_line(tmp_path: Path):
    bad = tmp_path / "hubs.yaml"
    bad.write_text("clusters: [{name: x, provider: aws, hubs: [{name: a, community: nobody}]}]\n")
    env = {"HUBS_FILE": str(bad), "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db"}
    # A configuration mistake like any other: exit 2.
    line = one_line_error(run("serve", "--port", "0", env=env, cwd=tmp_path), 2)
    assert "unknown community 'nobody'" in line


def test_a_database_failure_after_connecting_is_a_runtime_error(tmp_path: Path):
    # Reached, but never migrated: the command fails (1), not the configuration (2).
    empty = tmp_path / "empty.db"
    sa.create_engine(f"sqlite:///{empty}").connect().close()  # the file, with no tables
    env = {"DATABASE_URL": f"sqlite:///{empty}"}
    line = one_line_error(run("jobs", env=env, cwd=tmp_path), 1)
    assert line.startswith("error: database: ") and "no such table" in line


def test_a_missing_sqlite_file_is_named_and_not_made(tmp_path: Path):
    missing = tmp_path / "nowhere.db"
    for command in ("jobs", "stats", "incidents"):
        args = (command, "list") if command == "incidents" else (command,)
        env = {"DATABASE_URL": f"sqlite:///{missing}"}
        line = one_line_error(run(*args, env=env, cwd=tmp_path), 2)
        assert f"no database at {missing}" in line and "incident-bot migrate" in line
        assert not missing.exists()


def test_version(tmp_path: Path):
    r = run("--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == f"incident-bot {__version__}\n"


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrate_builds_the_schema_and_then_has_nothing_to_do(database_url: str, tmp_path: Path):
    env = {"DATABASE_URL": database_url}
    first = run("migrate", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "migrated from revision none to " in first.stdout
    assert {"incident", "alert", "timeline_event", "job", "alembic_version"} <= tables(database_url)
    again = run("migrate", env=env, cwd=tmp_path)
    assert again.returncode == 0 and "up to date" in again.stdout, again.stderr


@pytest.mark.parametrize(
    "url",
    ["sqlite:///{tmp}/never.db", "postgres://bot:pw@127.0.0.1:{port}/never"],
    ids=["sqlite", "postgresql"],
)
def test_migrate_sql_prints_the_schema_and_touches_no_database(url: str, tmp_path: Path):
    url = url.format(tmp=tmp_path, port=closed_port())
    r = run("migrate", "--sql", env={"DATABASE_URL": url}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "CREATE TABLE incident" in r.stdout and "CREATE TABLE alembic_version" in r.stdout
    assert not (tmp_path / "never.db").exists()
    assert list(tmp_path.iterdir()) == []


def test_alembic_upgrade_head_migrates_database_url(tmp_path: Path):
    target = tmp_path / "chosen.db"
    env = {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        "DATABASE_URL": f"sqlite:///{target}",
    }
    r = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "incident" in tables(f"sqlite:///{target}")


def test_the_start_up_log_names_the_database_without_its_password(
    caplog: pytest.LogCaptureFixture,
):
    settings = Settings(
        _env_file=None,
        database_url="postgres://bot:hunter2@db.internal:5432/incidents",
        slack_bot_token="xoxb-1",
    )
    with caplog.at_level(logging.INFO, logger="bot.config"):
        settings.log_configured()
    text = caplog.text
    assert "database: postgresql+psycopg://bot:***@db.internal:5432/incidents" in text
    assert "configured: Slack" in text and "hunter2" not in text
