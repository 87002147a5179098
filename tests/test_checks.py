"""`incident-bot check` on runbooks and alert rules, and runbooks served over HTTP."""

from pathlib import Path

import pytest

from tests.conftest import ROOT, Service
from tests.test_cli import run

RULES = """groups:
  - name: hubs
    rules:
      - alert: HubDown
        expr: up{job="hub"} == 0
        for: 5m
        labels: {severity: "take immediate action"}
        annotations: {summary: "Hub {{ $labels.namespace }} on {{ $labels.cluster }} is down"}
"""
RUNBOOK = """---
title: A hub is down
alerts: ["HubDown"]
---
1. Look at the hub pod.
"""


def tree(tmp_path: Path, rules: str = RULES, runbooks: dict[str, str] | None = None) -> list[str]:
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "hubs.yaml").write_text(rules)
    (tmp_path / "runbooks").mkdir()
    for name, text in (runbooks if runbooks is not None else {"hub-down.md": RUNBOOK}).items():
        (tmp_path / "runbooks" / name).write_text(text)
    return [
        "check",
        "--hubs",
        str(ROOT / "hubs.yaml"),
        "--alerts",
        str(tmp_path / "alerts"),
        "--runbooks",
        str(tmp_path / "runbooks"),
    ]


def test_a_consistent_tree_passes(tmp_path: Path):
    r = run(*tree(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "1 runbooks, 1 alert rules" in r.stdout


def test_the_shipped_rules_and_runbooks_pass():
    r = run("check")
    assert r.returncode == 0, r.stderr
    assert " 0 alert rules" not in r.stdout and " 0 runbooks" not in r.stdout


@pytest.mark.parametrize(
    ("rules", "runbooks", "problem"),
    [
        (RULES, {}, "alert HubDown has no runbook"),
        (RULES, {"hub-down.md": "no front matter\n1. x\n"}, "no YAML front matter"),
        (RULES, {"hub-down.md": "---\ntitle: x\n---\n"}, "needs `alerts`"),
        (
            RULES,
            {"hub-down.md": "---\ntitle: x\nalerts: ['(']\n---\n"},
            "invalid regular expression",
        ),
        (
            RULES,
            {"hub-down.md": RUNBOOK, "other.md": RUNBOOK.replace("HubDown", "Nope")},
            "match no alert rule",
        ),
        (RULES.replace("take immediate action", "whenever"), None, "severity 'whenever'"),
        (
            RULES.replace('labels: {severity: "take immediate action"}', "labels: {}"),
            None,
            "no `severity` label",
        ),
        (
            RULES.replace("annotations: {summary:", "annotations: {description:"),
            None,
            "no `summary` annotation",
        ),
        ("groups: [", None, "not valid YAML"),
    ],
)
def test_problems_fail_with_a_clear_message(
    tmp_path: Path, rules: str, runbooks: dict[str, str] | None, problem: str
):
    r = run(*tree(tmp_path, rules, runbooks))
    assert r.returncode == 1
    assert problem in r.stderr, r.stderr


def test_a_runbook_url_annotation_stands_in_for_a_runbook(tmp_path: Path):
    rules = RULES.replace(
        "annotations: {summary:", 'annotations: {runbook_url: "https://x", summary:'
    )
    assert run(*tree(tmp_path, rules, {})).returncode == 0


def test_runbooks_are_served_when_no_base_url_is_set(service: Service):
    books = service.app.state.runtime.runbooks.books
    assert books
    with service.client() as c:
        r = c.get(f"/runbooks/{books[0].slug}")
        assert r.status_code == 200 and books[0].title in r.text
        assert c.get("/runbooks/no-such-runbook").status_code == 404


def test_a_broken_runbook_does_not_stop_the_service(settings, tmp_path: Path):
    from tests.conftest import running

    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "good.md").write_text(RUNBOOK)
    (folder / "bad.md").write_text("no front matter")
    with running(settings.model_copy(update={"runbooks_dir": folder})) as svc:
        with svc.client() as c:
            assert c.get("/runbooks/good").status_code == 200
            assert c.get("/runbooks/bad").status_code == 404
