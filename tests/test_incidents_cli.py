"""`incident-bot incidents list|show|declare|resolve|note`, straight on DATABASE_URL."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.cli import main
from tests.conftest import ROOT, count

UNSET = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "PAGERDUTY_API_TOKEN",
    "GITHUB_TOKEN",
    "PROMETHEUS_URL",
)


@pytest.fixture
def cli(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Engine:
    """Settings from the environment, as the command reads them (no `.env` around)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("HUBS_FILE", str(ROOT / "hubs.yaml"))
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    return engine


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["incidents", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_declare_note_show_resolve_list(cli: Engine, capsys: pytest.CaptureFixture[str]):
    code, out, err = run(capsys, "declare", "leap/prod", "SEV2", "Hub", "is", "down")
    assert (code, err) == (0, "")
    assert out.startswith("declared incident #1 (")
    assert "leap/prod: Hub is down" in out
    # Its channel job is queued whatever this shell has configured: the service performs it.
    assert count(cli, "job", "kind = 'slack.open_channel'") == 1
    assert run(capsys, "note", "1", "looked", "at", "it")[0] == 0

    code, out, _ = run(capsys, "show", "1")
    assert code == 0
    assert out.splitlines()[0] == "#1 Hub is down"
    assert "investigating" in out and "declared" in out and "looked at it" in out

    code, out, _ = run(capsys, "resolve", "1", "--summary", "restarted")
    assert (code, out) == (0, "resolved incident #1\n")
    code, out, err = run(capsys, "resolve", "1")
    assert code == 1 and out == ""
    assert err == "error: incident #1 is resolved\n"

    code, out, _ = run(capsys, "show", "1", "--json")
    shown = json.loads(out)
    assert shown["status"] == "resolved"
    assert [e["kind"] for e in shown["timeline"]] == ["declared", "note", "resolved"]
    assert shown["timeline"][-1]["text"].endswith(": restarted")

    assert run(capsys, "declare", "leap", "sev1", "Cluster", "wide")[0] == 0
    code, out, _ = run(capsys, "list")
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["#", "sev"]
    assert [line.split()[0] for line in lines[1:]] == ["2", "1"]
    code, out, _ = run(capsys, "list", "--status", "open", "--json")
    assert [i["number"] for i in json.loads(out)] == [2]
    code, out, _ = run(capsys, "list", "--hub", "leap/prod", "--json")
    assert [i["number"] for i in json.loads(out)] == [1]
    # Queued as a slash command would, for the service's worker: the channel, the update
    # and report on resolve (this shell's settings decide nothing about them).
    with cli.connect() as conn:
        kinds = {k for (k,) in conn.execute(sa.text("SELECT DISTINCT kind FROM job"))}
    assert {"slack.open_channel", "slack.postmortem"} <= kinds


def test_mistakes_are_one_line_and_change_nothing(cli: Engine, capsys: pytest.CaptureFixture[str]):
    code, out, err = run(capsys, "declare", "nowhere/prod", "sev2", "x")
    assert code == 1 and "unknown hub 'nowhere/prod'" in err and err.count("\n") == 1
    code, _, err = run(capsys, "show", "7")
    assert (code, err) == (1, "error: no incident 7\n")
    code, _, err = run(capsys, "note", "7", "x")
    assert (code, err) == (1, "error: no incident 7\n")
    code, _, err = run(capsys, "list")
    assert code == 0
    assert count(cli, "incident") == 0


def test_with_slack_configured_the_channel_job_is_queued(
    cli: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    assert run(capsys, "declare", "leap/prod", "sev2", "x")[0] == 0
    assert count(cli, "job", "kind = 'slack.open_channel'") == 1
    # Resolving queues what the service would do: the post and the report, no PagerDuty job.
    assert run(capsys, "resolve", "1")[0] == 0
    assert count(cli, "job", "kind LIKE 'pagerduty.%'") == 0
    assert count(cli, "job", "kind = 'slack.postmortem'") == 1


def test_a_missing_or_unmigrated_database_is_one_line(tmp_path: Path):
    env = {
        **{k: v for k, v in os.environ.items() if k not in UNSET},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}",
        "HUBS_FILE": str(ROOT / "hubs.yaml"),
    }
    for args in (["list"], ["declare", "leap/prod", "sev2", "x"]):
        done = subprocess.run(
            [sys.executable, "-m", "bot", "incidents", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
        assert "incident-bot migrate" in done.stderr
    # An empty database file (tables missing) is the same one line.
    (tmp_path / "empty.db").touch()
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'empty.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "incidents", "show", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "not migrated (no incident, " in done.stderr
    assert done.stderr.count("\n") == 1


def test_usage_mistakes_are_argparse_errors(cli: Engine, capsys: pytest.CaptureFixture[str]):
    for args in (["show", "abc"], ["declare", "leap/prod", "sev9", "x"], ["resolve"]):
        with pytest.raises(SystemExit) as exc:
            main(["incidents", *args])
        assert exc.value.code == 2
    assert count(cli, "incident") == 0
