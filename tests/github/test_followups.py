"""Close-out on GitHub: `/incident followup` opens one issue, `/incident postmortem publish`
one pull request, against a fake GitHub over real HTTP, through outages and lost answers."""

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from sqlmodel import Session

from bot.config import Settings
from bot.effects.github import report_branch, report_marker
from bot.incidents.models import Incident
from bot.postmortems.draft import report_filename
from tests.conftest import ROOT, count, running
from tests.fakes.github import FakeGitHub
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.payloads import alert, delivery
from tests.rig import SlackRig

GH_TOKEN = "ghp-test-token"
HUB_REPO = "openscapes/infrastructure"  # openscapes/prod's `github_repo` in the test registry
REPORTS = "acme/incident-reports"  # GITHUB_REPO
PUBLIC_URL = "https://incidents.example.org"


@dataclass
class GitHubRig(SlackRig):
    github: FakeGitHub


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=GH_TOKEN) as gh:
        gh.add_repo(HUB_REPO)
        gh.add_repo(REPORTS, default_branch="trunk")
        yield gh


@pytest.fixture
def hubs_file(tmp_path: Path) -> Path:
    """The shipped registry, with a `github_repo` on openscapes/prod (it ships with none)."""
    data = yaml.safe_load((ROOT / "hubs.yaml").read_text())
    [cluster] = [c for c in data["clusters"] if c["name"] == "openscapes"]
    [hub] = [h for h in cluster["hubs"] if h["name"] == "prod"]
    hub["github_repo"] = HUB_REPO
    path = tmp_path / "hubs.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def serve(
    slack_settings: Settings,
    fakes: tuple[FakeSlack, FakePagerDuty],
    github: FakeGitHub,
    hubs_file: Path,
) -> Any:
    """The service with GitHub configured (settings changed by keyword)."""

    @contextmanager
    def start(**update: Any) -> Iterator[GitHubRig]:
        settings = slack_settings.model_copy(
            update={
                "hubs_file": hubs_file,
                "github_token": SecretStr(GH_TOKEN),
                "github_repo": REPORTS,
                "github_api_url": github.url,
                "public_url": PUBLIC_URL,
                **update,
            }
        )
        with running(settings) as svc:
            yield GitHubRig(svc, *fakes, github)

    return start


@pytest.fixture
def gh(serve: Any) -> Iterator[GitHubRig]:
    with serve() as rig:
        yield rig


def open_incident(rig: SlackRig, **labels: Any) -> tuple[int, str]:
    """An incident opened by an alert (openscapes/prod unless told), its channel open."""
    with rig.service.am as c:
        r = c.post("/webhooks/alertmanager", json=delivery(alert(summary="Hub down", **labels)))
    number = r.json()["incidents"][0]
    rig.wait_idle()
    inc = get(rig, number)
    return number, inc["slack_channel_id"]


def get(rig: SlackRig, number: int) -> dict[str, Any]:
    with rig.service.api as c:
        found: dict[str, Any] = c.get(f"/api/incidents/{number}").json()
    return found


def posted(rig: SlackRig, channel: str) -> str:
    return "\n".join(m.get("text", "") for m in rig.slack.messages(channel))


def report_of(rig: SlackRig, number: int) -> tuple[str, str, str]:
    """The report's path in the reports repository, its branch and its pull request's marker."""
    with Session(rig.service.engine) as session:
        incident = session.get(Incident, number)
        assert incident is not None
        name = report_filename(incident, session=session, timezone="UTC")
        marker = report_marker(incident, PUBLIC_URL)
    return "reports/" + name, report_branch(name, number, marker), marker


def jobs(rig: SlackRig, where: str) -> int:
    return count(rig.service.engine, "job", where)


def wait_for(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.02)


# -- follow-ups


def test_a_followup_opens_one_labelled_issue_in_the_hubs_repo_linked_everywhere(gh: GitHubRig):
    number, channel = open_incident(gh)
    reply = gh.reply("followup Alert on NFS quota before it is full", channel=channel, user="UBOB")
    assert f"`{HUB_REPO}`" in reply
    gh.wait_idle()
    [issue] = gh.github.issues(HUB_REPO)
    assert gh.github.issues(REPORTS) == []
    assert issue["title"] == "Alert on NFS quota before it is full"
    assert [label["name"] for label in issue["labels"]] == [f"incident-{number}"]
    body = issue["body"]
    assert "Hub down" in body and "openscapes/prod" in body
    assert f"channel={channel}" in body  # a link to the incident's Slack channel
    assert "<!-- incident-bot followup 1 " in body  # the marker a retry finds it by
    url = issue["html_url"]
    [note] = [e for e in get(gh, number)["timeline"] if url in e["text"]]
    assert note["kind"] == "note" and note["visibility"] == "internal"
    assert note["text"] == f"Follow-up opened: {url} — Alert on NFS quota before it is full"
    assert note["actor"] == "UBOB"
    assert url in posted(gh, channel)
    with gh.service.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT repo, issue_number, issue_url, created_by FROM followup"
        ).one()
    assert tuple(row) == (HUB_REPO, issue["number"], url, "UBOB")


def test_a_hub_without_a_repo_files_its_followups_in_GITHUB_REPO(gh: GitHubRig):
    number, channel = open_incident(gh, cluster="leap", namespace="prod")
    assert f"`{REPORTS}`" in gh.reply("followup Raise the dask worker limit", channel=channel)
    assert f"`{REPORTS}`" in gh.reply("followup Document the limit", channel=channel)
    gh.wait_idle()
    issues = gh.github.issues(REPORTS)
    assert [i["title"] for i in issues] == ["Raise the dask worker limit", "Document the limit"]
    assert gh.github.issues(HUB_REPO) == []
    notes = [e["text"] for e in get(gh, number)["timeline"] if "Follow-up opened" in e["text"]]
    assert len(notes) == 2


def test_slack_formatting_is_undone_on_github(gh: GitHubRig):
    _, channel = open_incident(gh)
    text = "Ask <@UBOB|bob> about <https://example.org/q?a=1&amp;b=2|the quota> &amp; more"
    gh.reply(f"followup {text}", channel=channel)
    gh.wait_idle()
    [issue] = gh.github.issues(HUB_REPO)
    assert issue["title"] == "Ask bob about the quota & more"  # nobody on GitHub is pinged
    assert issue["body"].startswith("Ask bob about [the quota](https://example.org/q?a=1&b=2)")
    # Slack's own text stays as Slack wrote it, for the timeline and the channel.
    assert text in posted(gh, channel)


def test_a_followup_needs_text_and_an_incident_channel(gh: GitHubRig):
    _, channel = open_incident(gh)
    reply = gh.reply("followup   ", channel=channel)
    assert "Usage: `/incident followup <text>`" in reply
    assert "must be run in an incident channel" in gh.reply("followup x", channel="CGENERAL")
    assert count(gh.service.engine, "followup") == 0


def test_github_down_the_followup_waits_and_is_opened_once_when_it_is_back(gh: GitHubRig):
    number, channel = open_incident(gh)
    gh.github.down = True
    gh.reply("followup Add a runbook", channel=channel)
    wait_for(lambda: jobs(gh, "kind = 'github.followup' AND last_error IS NOT NULL") == 1)
    assert jobs(gh, "kind = 'github.followup' AND status IN ('pending', 'running')") == 1
    assert gh.github.issues(HUB_REPO) == []
    gh.github.down = False
    gh.wait_idle()
    [issue] = gh.github.issues(HUB_REPO)
    assert issue["title"] == "Add a runbook"
    assert jobs(gh, "status = 'dead'") == 0
    assert issue["html_url"] in posted(gh, channel)


def test_a_lost_answer_still_makes_exactly_one_issue(gh: GitHubRig):
    number, channel = open_incident(gh)
    # GitHub opens the issue, but its answer never arrives (a gateway timing out).
    gh.github.fail_next("POST /repos/*/issues", 502, applied=True)
    gh.reply("followup Add a runbook", channel=channel)
    gh.wait_idle()
    [issue] = gh.github.issues(HUB_REPO)
    assert len(gh.github.calls("POST /repos/*/issues")) == 1
    timeline = get(gh, number)["timeline"]
    assert [e for e in timeline if e["text"].startswith("Follow-up opened")] == [
        e for e in timeline if issue["html_url"] in e["text"]
    ]
    assert posted(gh, channel).count(issue["html_url"]) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "1"},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "<in 1 s>"},
    ],
)
def test_a_rate_limit_is_waited_out(gh: GitHubRig, headers: dict[str, str]):
    _, channel = open_incident(gh)
    if "X-RateLimit-Reset" in headers:
        headers["X-RateLimit-Reset"] = str(int(time.time()) + 1)
    gh.github.fail_next("POST /repos/*/issues", 403, headers=headers)
    gh.reply("followup Add a runbook", channel=channel)
    gh.wait_idle()
    assert len(gh.github.issues(HUB_REPO)) == 1
    assert len(gh.github.calls("POST /repos/*/issues")) == 2
    # Waiting out a rate limit is not a failure.
    assert jobs(gh, "kind = 'github.followup' AND last_error IS NOT NULL") == 0


@pytest.mark.parametrize(
    ("update", "problem", "remedy"),
    [
        (
            {"github_token": SecretStr("ghp-revoked")},
            "GITHUB_TOKEN was refused",
            "Set GITHUB_TOKEN on the bot to a valid token",
        ),
        (
            {"github_repo": "acme/gone"},
            "does acme/gone exist",
            "Check that `acme/gone` exists and that GITHUB_TOKEN can see it",
        ),
    ],
)
def test_a_refusal_that_retrying_cannot_mend_kills_the_job_and_says_why_in_the_channel(
    serve: Any, update: dict[str, Any], problem: str, remedy: str
):
    with serve(**update) as rig:
        _, channel = open_incident(rig, cluster="leap", namespace="prod")
        rig.reply("followup Ask <@UBOB|bob> to add a runbook", channel=channel)
        rig.wait_idle()
        rig.reply("postmortem publish", channel=channel)
        rig.wait_idle()
        with rig.service.engine.connect() as conn:
            dead = conn.exec_driver_sql(
                "SELECT id, kind, last_error FROM job WHERE status = 'dead' ORDER BY id"
            ).all()
        said = [t for t in posted(rig, channel).splitlines() if t.startswith(":warning:")]
    assert [kind for _, kind, _ in dead] == ["github.followup", "github.publish_report"]
    assert all(problem in error for _, _, error in dead)
    # The commands promised a link in the channel: what came instead is said there, once each.
    [followup, report] = said
    assert followup.startswith(
        ":warning: The GitHub issue of the follow-up “Ask <@UBOB|bob> to add a runbook” "
        "could not be opened in `"
    )
    assert report.startswith(":warning: The report's pull request could not be opened in `")
    for text, (job_id, _, _) in zip(said, dead, strict=True):
        assert problem in text and remedy in text
        assert text.endswith(f"then run `incident-bot jobs --retry {job_id}`.")


# -- the report


def test_publish_opens_a_pull_request_adding_the_report_and_posts_its_link(gh: GitHubRig):
    number, channel = open_incident(gh)
    gh.reply("note the proxy pod was OOM-killed", channel=channel)
    gh.reply("followup Give the proxy more memory", channel=channel)
    gh.reply("resolve raised the memory limit", channel=channel)
    gh.wait_idle()
    [issue] = gh.github.issues(HUB_REPO)
    reply = gh.reply("postmortem publish", channel=channel, user="UCAROL")
    assert f"`{REPORTS}`" in reply
    gh.wait_idle()
    [pull] = gh.github.pulls(REPORTS)
    # Named as the report is dated: the day impact began (its first alert), in TIMEZONE.
    path, branch, marker = report_of(gh, number)
    stem = path.removeprefix("reports/").removesuffix(".md")
    assert re.fullmatch(rf"incident-bot/{stem}-{number}-[0-9a-f]{{8}}", branch)
    assert (pull["head"]["ref"], pull["base"]["ref"]) == (branch, "trunk")
    # The hidden marker that makes it ours: this installation, this incident, its start.
    assert pull["body"].rstrip().endswith(marker)
    assert f"incident {number} started " in marker and PUBLIC_URL in marker
    assert "bundled template" not in pull["body"]
    inc = get(gh, number)
    report = gh.github.file(REPORTS, branch, path)
    assert report is not None
    assert gh.github.file(REPORTS, "trunk", path) is None  # only in the pull request
    with gh.service.api as c:
        draft = c.get(f"/api/incidents/{number}/postmortem").text
    assert report.splitlines()[0] == draft.splitlines()[0]
    assert inc["title"] in report and "the proxy pod was OOM-killed" in report
    assert issue["html_url"] in report  # the follow-up, opened before
    # People by name, as Slack knows them, not by id.
    assert "Ada Lovelace" in report and "UADA" not in report
    assert inc["report_pr_url"] == pull["html_url"]
    [entry] = [e for e in inc["timeline"] if pull["html_url"] in e["text"]]
    assert entry["kind"] == "postmortem" and entry["actor"] == "UCAROL"
    assert pull["html_url"] in posted(gh, channel)
    # Once published, asking again answers with the link and opens nothing.
    assert pull["html_url"] in gh.reply("postmortem publish", channel=channel)
    gh.wait_idle()
    assert len(gh.github.pulls(REPORTS)) == 1
    assert jobs(gh, "kind = 'github.publish_report'") == 1


def test_github_down_publish_is_one_job_done_once_when_it_is_back(gh: GitHubRig):
    number, channel = open_incident(gh)
    gh.github.down = True
    gh.reply("postmortem publish", channel=channel)
    wait_for(lambda: jobs(gh, "kind = 'github.publish_report' AND last_error IS NOT NULL") == 1)
    # Impatient, while the job waits for the next probe (2 s away): joins the waiting job.
    gh.reply("postmortem publish", channel=channel)
    assert jobs(gh, "kind = 'github.publish_report'") == 1
    gh.github.down = False
    gh.wait_idle()
    [pull] = gh.github.pulls(REPORTS)
    assert get(gh, number)["report_pr_url"] == pull["html_url"]
    assert posted(gh, channel).count(pull["html_url"]) == 1


def test_lost_answers_on_every_step_still_make_one_branch_one_file_one_pull_request(
    gh: GitHubRig,
):
    number, channel = open_incident(gh)
    for route in ("POST /repos/*/git/refs", "PUT /repos/*/contents/*", "POST /repos/*/pulls"):
        gh.github.fail_next(route, 502, applied=True)
    gh.reply("postmortem publish", channel=channel)
    gh.wait_idle(timeout=30)
    [pull] = gh.github.pulls(REPORTS)
    _, branch, _ = report_of(gh, number)
    assert sorted(gh.github.branches(REPORTS)) == [branch, "trunk"]
    # Each retry found what the lost attempt had made, and went on from there.
    assert len(gh.github.calls("POST /repos/*/git/refs")) == 3  # then "Reference already exists"
    assert len(gh.github.calls("PUT /repos/*/contents/*")) == 1
    assert len(gh.github.calls("POST /repos/*/pulls")) == 1
    inc = get(gh, number)
    assert inc["report_pr_url"] == pull["html_url"]
    assert [e["kind"] for e in inc["timeline"]].count("postmortem") == 1


def test_publish_usage(gh: GitHubRig):
    _, channel = open_incident(gh)
    assert "Usage: `/incident postmortem [publish]`" in gh.reply(
        "postmortem nonsense", channel=channel
    )
    assert "must be run in an incident channel" in gh.reply("postmortem publish")


@pytest.mark.parametrize(
    ("state", "merged"), [("open", False), ("closed", False), ("closed", True)]
)
def test_a_pull_request_from_our_branch_name_without_our_marker_is_not_adopted(
    gh: GitHubRig, state: str, merged: bool
):
    number, channel = open_incident(gh)
    path, branch, marker = report_of(gh, number)
    # Another installation (or a person) got to the branch name first.
    theirs = gh.github.add_pull(
        REPORTS, branch=branch, body="Their report of their incident #1", state=state, merged=merged
    )
    gh.reply("postmortem publish", channel=channel)
    gh.wait_idle()
    [ours] = [p for p in gh.github.pulls(REPORTS) if p["number"] != theirs["number"]]
    assert marker in ours["body"]
    assert ours["head"]["ref"] == f"{branch}-2"  # the next name; theirs is left alone
    assert gh.github.file(REPORTS, f"{branch}-2", path) is not None
    assert gh.github.file(REPORTS, branch, path) is None
    assert get(gh, number)["report_pr_url"] == ours["html_url"]
    assert theirs["html_url"] not in posted(gh, channel)


def test_our_merged_pull_request_is_taken_as_the_report_published(gh: GitHubRig):
    number, channel = open_incident(gh)
    _, branch, marker = report_of(gh, number)
    # Opened by an attempt whose answer was lost, and merged before the retry.
    done = gh.github.add_pull(REPORTS, branch=branch, body=f"The report\n\n{marker}", merged=True)
    gh.reply("postmortem publish", channel=channel)
    gh.wait_idle()
    assert len(gh.github.pulls(REPORTS)) == 1
    assert gh.github.calls("POST /repos/*/pulls") == []
    assert get(gh, number)["report_pr_url"] == done["html_url"]
    assert posted(gh, channel).count(done["html_url"]) == 1


def test_our_pull_request_closed_unmerged_is_opened_anew_from_our_branch(gh: GitHubRig):
    number, channel = open_incident(gh)
    path, branch, marker = report_of(gh, number)
    closed = gh.github.add_pull(REPORTS, branch=branch, body=f"Old\n\n{marker}", state="closed")
    gh.reply("postmortem publish", channel=channel)
    gh.wait_idle()
    [new] = [p for p in gh.github.pulls(REPORTS) if p["number"] != closed["number"]]
    assert new["state"] == "open" and new["head"]["ref"] == branch
    assert gh.github.file(REPORTS, branch, path) is not None
    assert get(gh, number)["report_pr_url"] == new["html_url"]


def test_a_report_branch_is_a_valid_git_ref_of_sane_length_set_apart_by_its_marker():
    title = "Hub down: ../x.lock ~^:?*[\\ @{ émoji " + "very long " * 30
    one = Incident(number=1, title=title, started_at=datetime(2026, 11, 25, 10, tzinfo=UTC))
    name = report_filename(one)
    branch = report_branch(name, 1, report_marker(one, PUBLIC_URL))
    assert branch.startswith("incident-bot/2026-11-25-hub-down-x-lock-") and len(branch) <= 100
    if shutil.which("git"):
        subprocess.run(["git", "check-ref-format", f"refs/heads/{branch}"], check=True)
    # The same number after a database reset, or from another installation: another branch.
    reset = Incident(number=1, title=title, started_at=datetime(2026, 11, 25, 10, 5, tzinfo=UTC))
    assert report_branch(name, 1, report_marker(reset, PUBLIC_URL)) != branch
    assert report_branch(name, 1, report_marker(one, "https://staging.example.org")) != branch
    assert report_branch(name, 1, report_marker(one, PUBLIC_URL + "/")) == branch


def test_a_template_set_aside_is_said_in_the_pull_request_and_the_channel(
    serve: Any, tmp_path: Path
):
    missing = tmp_path / "no-such-template.md.j2"
    with serve(postmortem_template=str(missing)) as rig:
        number, channel = open_incident(rig)
        rig.reply("postmortem publish", channel=channel)
        rig.wait_idle()
        [pull] = rig.github.pulls(REPORTS)
        text = posted(rig, channel)
    assert "The bundled template was used: POSTMORTEM_TEMPLATE" in pull["body"]
    assert str(missing) in pull["body"]
    [line] = [t for t in text.splitlines() if "The bundled template was used" in t]
    assert line.startswith(":warning:") and "POSTMORTEM_TEMPLATE" in line
    assert f"The report's pull request is open: {pull['html_url']}\n{line}" in text


# -- not configured


def test_without_github_the_commands_say_what_to_set_and_change_nothing(rig: SlackRig):
    _, channel = open_incident(rig)
    before = jobs(rig, "")
    assert "GITHUB_TOKEN" in rig.reply("followup Add a runbook", channel=channel)
    reply = rig.reply("postmortem publish", channel=channel)
    assert "GITHUB_TOKEN" in reply and "GITHUB_REPO" in reply
    assert count(rig.service.engine, "followup") == 0
    assert jobs(rig, "") == before
    assert get(rig, 1)["report_pr_url"] is None


def test_a_GITHUB_REPO_that_is_not_owner_name_is_refused(serve: Any):
    with serve(github_repo="https://github.com/acme/reports") as rig:
        _, channel = open_incident(rig, cluster="leap", namespace="prod")
        assert "write it `owner/name`" in rig.reply("followup Add a runbook", channel=channel)
        assert "write it `owner/name`" in rig.reply("postmortem publish", channel=channel)
        assert jobs(rig, "kind LIKE 'github.%'") == 0


def test_without_GITHUB_REPO_only_hubs_with_a_repo_take_followups(serve: Any):
    with serve(github_repo="") as rig:
        _, leap = open_incident(rig, cluster="leap", namespace="prod")
        reply = rig.reply("followup Add a runbook", channel=leap)
        assert "GITHUB_REPO" in reply and "github_repo" in reply
        assert "GITHUB_REPO" in rig.reply("postmortem publish", channel=leap)
        assert count(rig.service.engine, "followup") == 0
        assert jobs(rig, "kind LIKE 'github.%'") == 0
        _, openscapes = open_incident(rig)
        assert f"`{HUB_REPO}`" in rig.reply("followup Add a runbook", channel=openscapes)
        rig.wait_idle()
        assert len(rig.github.issues(HUB_REPO)) == 1
