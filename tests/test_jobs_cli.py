"""`incident-bot jobs`: what needs a person first, and a long queue said to be cut."""

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.cli import main
from bot.incidents import effects
from bot.jobs import queue
from bot.jobs.cli import LIMIT


@pytest.fixture
def jobs(engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """LIMIT + 2 dead jobs (the newest with a two-line error), then three pending ones."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    dead = LIMIT + 2
    with engine.begin() as conn:
        for i in range(dead + 3):
            queue.enqueue(conn, effects.POST, effects.Post(channel=f"C{i}", text=str(i)))
        conn.execute(
            sa.text(
                "UPDATE job SET status = 'dead', last_error = 'SlackError: boom\n  details' "
                "WHERE id <= :dead"
            ),
            {"dead": dead},
        )
    return dead


def listed(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert main(["jobs", *args]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out.splitlines()


def test_dead_jobs_come_first_newest_first_and_a_cut_is_said(
    jobs: int, capsys: pytest.CaptureFixture[str]
):
    lines = listed(capsys)
    assert lines[0].split()[:4] == ["id", "kind", "status", "tries"]
    rows = lines[1:-1]
    assert [int(r.split()[0]) for r in rows[:2]] == [jobs, jobs - 1]
    assert all(" dead " in r for r in rows[:LIMIT])
    assert rows[0].endswith("SlackError: boom details")  # one line
    assert [r.split()[2] for r in rows[LIMIT:]] == ["pending"] * 3
    assert lines[-1] == (
        f"(at most {LIMIT} of each shown, the newest dead and the oldest waiting: "
        f"{jobs} dead, 3 pending or running in all)"
    )
    dead_only = listed(capsys, "--dead")
    assert [r.split()[2] for r in dead_only[1:-1]] == ["dead"] * LIMIT
    assert dead_only[-1].startswith(f"(at most {LIMIT} of each shown")
