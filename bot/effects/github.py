"""Close-out on GitHub: open follow-up issues and the report's pull request.

Same shape as every performer: read in a short read-only transaction, call GitHub with nothing
open, record the result in a short write. Neither is ever done twice: a follow-up's issue is
recorded on its row once opened, and an attempt after one whose answer was lost finds the
issue, or the pull request, by the marker hidden in its body; the pull request's branch, file
and pull request are each looked for before they are made (see `bot.github.client`).

A marker names this installation (PUBLIC_URL), the incident's number and when the incident (or
the follow-up) began: incident numbers start again after a database is reset, and several
installations may share a repository. GitHub refusing for good (a bad token, an unknown
repository) is told in the incident's channel before the job gives up: the command that queued
it promised a link there."""

import hashlib
import logging
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.db import readonly
from bot.effects.rows import incident_of, named_report
from bot.followups import flows
from bot.followups.models import FollowUp
from bot.github.client import GitHubClient, GitHubError, Issue
from bot.hubs import Registry
from bot.incidents import effects
from bot.incidents.flows import announce
from bot.incidents.models import Incident
from bot.incidents.naming import place
from bot.jobs.attempt import GiveUp, RetryLater, Unreachable
from bot.jobs.queue import ClaimedJob
from bot.jobs.worker import Performer
from bot.postmortems.mrkdwn import escape, to_github
from bot.slack.client import SlackClient

log = logging.getLogger(__name__)

# How far before a follow-up was asked for its issue is looked for: GitHub's clock and ours
# need not agree.
LOOK_BACK = timedelta(hours=1)
# A branch name's part taken from the report's file name: `incident-bot/` and `-<n>-<digest>`
# around it keep the whole within 100 characters.
BRANCH_STEM = 70


def _stamp(at: datetime) -> str:
    return f"{at:%Y-%m-%dT%H:%M:%SZ}"


def report_marker(incident: Incident, public_url: str) -> str:
    """The hidden line that makes a report's pull request ours (see the module's docstring)."""
    return (
        f"<!-- incident-bot report incident {incident.number} started "
        f"{_stamp(incident.started_at)} {public_url.rstrip('/')} -->"
    )


def report_branch(filename: str, number: int, marker: str) -> str:
    """The branch a report's pull request comes from: `incident-bot/<file stem>-<n>-<digest>`.

    The digest of the marker sets apart the branches of other installations, and of this one
    before its database was reset, that share a file name and incident number: an existing
    branch of this name is then one an earlier attempt made. Only `A-Z a-z 0-9 - _` after the
    slash, so the name is within git's rules for refs."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", filename.removesuffix(".md"))
    stem = stem.strip("-_")[:BRANCH_STEM].strip("-_") or "report"
    digest = hashlib.sha256(marker.encode()).hexdigest()[:8]
    return f"incident-bot/{stem}-{number}-{digest}"


class GitHubEffects:
    """Performers of the GitHub jobs."""

    def __init__(
        self,
        engine: Engine,
        registry: Registry,
        github: GitHubClient,
        slack: SlackClient | None,
        *,
        timezone: str = "UTC",
        reports_path: str = "reports/",
        repo: str = "",
        public_url: str = "",
        template: str = "",
    ) -> None:
        self.engine = engine
        self.reader = readonly(engine)
        self.registry = registry
        self.github = github
        self.slack = slack
        self.timezone = timezone
        self.reports_path = reports_path
        self.repo = repo
        self.public_url = public_url.rstrip("/")
        self.template = template

    def performers(self) -> list[Performer[Any]]:
        """The jobs performed here."""
        return [
            Performer(effects.FOLLOWUP, self.followup),
            Performer(effects.PUBLISH_REPORT, self.publish),
        ]

    # -- follow-ups

    def followup(self, p: effects.FollowUp, job: ClaimedJob) -> None:
        """Open the follow-up's issue, labelled with its incident, and link it."""
        with Session(self.reader) as session:
            row = session.get(FollowUp, p.followup)
            if row is None:
                raise GiveUp(f"no follow-up {p.followup}")
            incident = incident_of(session, row.incident_number)
            session.expunge_all()
        if row.issue_number is not None and row.issue_url is not None:
            issue = Issue(row.issue_number, row.issue_url)
        else:
            try:
                issue = self._open_issue(row, incident, job)
            except GiveUp as exc:
                what = f"The GitHub issue of the follow-up “{_short(row.text)}”"
                self._refused(row.incident_number, what, row.repo, exc, job)
                raise
        with Session(self.engine) as session:
            stored = session.get(FollowUp, p.followup)
            if stored is None:
                raise GiveUp(f"no follow-up {p.followup}")
            flows.followup_opened(session, stored, number=issue.number, url=issue.url)

    def _open_issue(self, row: FollowUp, incident: Incident, job: ClaimedJob) -> Issue:
        marker = self._marker(row)
        found = None
        if job.retried:
            found = self.github.find_issue(
                row.repo, marker=marker, since=row.created_at - LOOK_BACK
            )
        return found or self.github.open_issue(
            row.repo,
            title=" ".join(to_github(row.text, links=False).split())
            or f"A follow-up of incident #{row.incident_number}",
            body=self._issue_body(row, incident, marker),
            labels=[f"incident-{row.incident_number}"],
            marker=marker,
        )

    def _marker(self, row: FollowUp) -> str:
        # The bot's address and the follow-up's time too: two installations filing into one
        # repository, or one whose database was reset, number their follow-ups alike.
        return (
            f"<!-- incident-bot followup {row.id} incident {row.incident_number} "
            f"{_stamp(row.created_at)} {self.public_url} -->"
        )

    def _issue_body(self, row: FollowUp, incident: Incident, marker: str) -> str:
        lines = [
            to_github(row.text),
            "",
            f"A follow-up of incident #{incident.number}: **{escape(incident.title)}** "
            f"(`{place(incident)}`, {self.registry.severity_name(incident.severity)}, "
            f"started {incident.started_at:%Y-%m-%d %H:%M} UTC).",
            "",
        ]
        if incident.slack_channel_id:
            name = incident.slack_channel_name or incident.slack_channel_id
            lines.append(
                f"- Slack: [#{name}](https://slack.com/app_redirect?channel="
                f"{incident.slack_channel_id})"
            )
        if self.public_url:
            lines.append(f"- incident-bot: {self.public_url}/api/incidents/{incident.number}")
        lines += ["", "_Opened by incident-bot from `/incident followup`._", "", marker]
        return "\n".join(lines)

    # -- the report

    def publish(self, p: effects.Publish, job: ClaimedJob) -> None:
        """Open the pull request that adds the incident's report to the reports repository."""
        what = "The report's pull request"
        if not self.repo:
            exc = GiveUp("GITHUB_REPO is not set: there is no reports repository to publish to")
            self._refused(p.incident, what, self.repo, exc, job)
            raise exc
        with Session(self.reader) as session:
            if incident_of(session, p.incident).report_pr_url:
                return  # recorded, on the timeline and announced in the same transaction
        draft, filename, incident = named_report(
            self.reader,
            self.registry,
            p.incident,
            self._names,
            timezone=self.timezone,
            template=self.template,
        )
        title = incident.title
        marker = report_marker(incident, self.public_url)
        folder = self.reports_path.strip("/")
        path = f"{folder}/{filename}" if folder else filename
        body = [
            f"The report of incident #{p.incident}, drafted by incident-bot from its timeline. "
            "Fill in the prompts (in _italics_) before merging."
        ]
        if draft.template_problem:
            said = f"The bundled template was used: {draft.template_problem}."
            body.append("\n".join(["> [!WARNING]", *(f"> {line}" for line in said.splitlines())]))
        body.append(marker)
        try:
            pull = self.github.open_pull_request(
                self.repo,
                branch=report_branch(filename, p.incident, marker),
                path=path,
                content=draft.text,
                title=f"Incident report: {title}",
                body="\n\n".join(body),
                message=f"Add the report of incident #{p.incident}: {title}",
                marker=marker,
            )
        except GiveUp as exc:
            self._refused(p.incident, what, self.repo, exc, job)
            raise
        problem = escape(draft.template_problem) if draft.template_problem else None
        with Session(self.engine) as session:
            stored = incident_of(session, p.incident)
            flows.report_published(
                session, stored, url=pull.url, actor=p.actor, template_problem=problem
            )

    # -- refusals

    def _refused(self, number: int, what: str, repo: str, exc: GiveUp, job: ClaimedJob) -> None:
        """Tell the incident's channel that GitHub refused for good, and what to set: the
        command promised a link there, and a dead job is seen by nobody else."""
        why = (exc.message if isinstance(exc, GitHubError) else str(exc)).rstrip(".")
        where = f" in `{repo}`" if repo else ""
        text = (
            f":warning: {what} could not be opened{where}: {escape(why)}. "
            f"{_remedy(exc, repo)}, then run `incident-bot jobs --retry {job.id}`."
        )
        # Its own short write: the job's failure is recorded by the worker.
        with Session(self.engine) as session:
            announce(session, number, text)
            session.commit()

    def _names(self, users: set[str]) -> dict[str, str]:
        """People's Slack names, where Slack tells them: without, the report shows ids."""
        if self.slack is None:
            return {}
        try:
            return self.slack.display_names(users)
        except (RetryLater, Unreachable, GiveUp) as exc:
            # Names are a nicety: Slack away or paced must not hold up the report.
            log.info("report of names without Slack's help: %s", exc)
            return {}


def _remedy(exc: GiveUp, repo: str) -> str:
    """What to set so that GitHub does what it refused."""
    status = exc.status if isinstance(exc, GitHubError) else None
    if not repo:
        return "Set GITHUB_REPO (`owner/name`) on the bot"
    if status == 401:
        return "Set GITHUB_TOKEN on the bot to a valid token"
    if status == 403:
        return (
            f"Give GITHUB_TOKEN access to `{repo}` (issues, contents and pull requests: "
            "read and write)"
        )
    if status == 404:
        return (
            f"Check that `{repo}` exists and that GITHUB_TOKEN can see it (GITHUB_REPO, or "
            "the hub's `github_repo` in the registry)"
        )
    return "Fix what GitHub names (`incident-bot jobs --dead` shows the whole error)"


def _short(text: str, limit: int = 80) -> str:
    """A follow-up's text (Slack's own, as typed) on one line, cut short but never inside
    one of Slack's `<...>` tokens."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    return cut.rstrip() + "…"
