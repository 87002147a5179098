"""Closing an incident out on GitHub: follow-up issues and the report's pull request.

The requests (`add_followup`, `request_publish`) store what was asked and queue the GitHub work
in one transaction; the results (`followup_opened`, `report_published`) link what GitHub made
on the incident, its timeline and its channel, once each however often they are recorded."""

import re

from sqlmodel import Session, select

from bot.followups.models import FollowUp
from bot.hubs import Registry
from bot.hubs.schema import GITHUB_REPO_PATTERN
from bot.incidents import effects
from bot.incidents.flows import FlowError, announce, number_of, record_event, touch
from bot.incidents.models import Incident
from bot.incidents.naming import place
from bot.jobs.queue import enqueue
from bot.timeline.models import TimelineEvent

# `owner/name`, as the registry's `github_repo` is checked.
REPO = re.compile(GITHUB_REPO_PATTERN)


def check_repo(repo: str, setting: str = "GITHUB_REPO") -> None:
    """Raise `FlowError` unless `repo` reads as `owner/name`."""
    if not REPO.fullmatch(repo):
        raise FlowError(f"{setting} `{repo}` is not a GitHub repository: write it `owner/name`")


def repo_for(registry: Registry, incident: Incident, default_repo: str) -> str | None:
    """Where the incident's follow-ups go: its hub's `github_repo`, else `default_repo`."""
    hub = registry.hub(incident.cluster or "", incident.hub or "")
    return (hub.github_repo if hub else None) or default_repo or None


def add_followup(
    session: Session,
    registry: Registry,
    incident: Incident,
    *,
    text: str,
    actor: str | None,
    default_repo: str,
) -> FollowUp:
    """Store a follow-up and queue its GitHub issue, in the hub's repository or the default."""
    text = text.strip()
    if not text:
        raise FlowError("a follow-up needs some text")
    repo = repo_for(registry, incident, default_repo)
    if repo is None:
        raise FlowError(
            f"no GitHub repository for the follow-ups of `{place(incident)}`: "
            "set GITHUB_REPO, or the hub's `github_repo` in the registry"
        )
    check_repo(repo)
    number = number_of(incident)
    row = FollowUp(incident_number=number, text=text, repo=repo, created_by=actor)
    session.add(row)
    session.flush()
    assert row.id is not None
    enqueue(
        session.connection(), effects.FOLLOWUP, effects.FollowUp(followup=row.id, incident=number)
    )
    session.commit()
    session.refresh(row)
    return row


def followup_opened(session: Session, followup: FollowUp, *, number: int, url: str) -> None:
    """GitHub opened the follow-up's issue: record it, note it on the timeline, tell the channel."""
    followup.issue_number, followup.issue_url = number, url
    session.add(followup)
    external_id = f"github:followup:{followup.id}"
    if not _recorded(session, followup.incident_number, external_id):
        record_event(
            session,
            followup.incident_number,
            "note",
            f"Follow-up opened: {url} — {followup.text}",
            actor=followup.created_by,
            external_id=external_id,
        )
        announce(
            session,
            followup.incident_number,
            f":memo: Follow-up opened: <{url}|{followup.repo}#{number}> — {followup.text}",
        )
    session.commit()


def request_publish(session: Session, incident: Incident, *, actor: str | None) -> str | None:
    """Queue the pull request that adds the report to the reports repository; the pull
    request's address instead if it is open already (nothing queued)."""
    if incident.report_pr_url:
        return incident.report_pr_url
    enqueue(
        session.connection(),
        effects.PUBLISH_REPORT,
        effects.Publish(incident=number_of(incident), actor=actor),
    )
    session.commit()
    return None


def report_published(
    session: Session,
    incident: Incident,
    *,
    url: str,
    actor: str | None,
    template_problem: str | None = None,
) -> None:
    """The report's pull request is open: record it, put it on the timeline, tell the channel
    (and why the bundled template was used, if POSTMORTEM_TEMPLATE was set aside; in Slack's
    mrkdwn, escaped by the caller)."""
    number = number_of(incident)
    incident.report_pr_url = url
    touch(session, incident)
    external_id = f"github:report:{number}"
    if not _recorded(session, number, external_id):
        by = f" for <@{actor}>" if actor else ""
        record_event(
            session,
            number,
            "postmortem",
            f"Report pull request opened{by}: {url}",
            actor=actor,
            external_id=external_id,
        )
        text = f":page_facing_up: The report's pull request is open: {url}"
        if template_problem:
            text += f"\n:warning: The bundled template was used: {template_problem}."
        announce(session, number, text)
    session.commit()


def _recorded(session: Session, number: int, external_id: str) -> bool:
    found = session.exec(
        select(TimelineEvent.id).where(
            TimelineEvent.incident_number == number, TimelineEvent.external_id == external_id
        )
    ).first()
    return found is not None
