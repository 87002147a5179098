"""What people and integrations do to incidents: each flow changes the incident, writes its
timeline entry and queues the Slack and PagerDuty work, all in one transaction."""

import unicodedata
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from bot.db import utcnow
from bot.hubs import Registry
from bot.hubs.registry import scope_of
from bot.hubs.schema import Severity
from bot.incidents import effects
from bot.incidents.models import Incident, Role
from bot.jobs.queue import enqueue
from bot.postmortems.mrkdwn import escape
from bot.timeline.models import Kind, TimelineEvent
from bot.timeline.service import event_row

# How a timeline entry names a source that is not a person.
SOURCE_NAMES = {
    "pagerduty": "PagerDuty",
    "slack": "Slack",
    "api": "the API",
    "cli": "the command line",
}


class FlowError(Exception):
    """A request that cannot be done as asked; the message says why, for the person."""


class IncidentResolved(FlowError):
    """The request needs an open incident, and this one is resolved (a conflict, in HTTP)."""


def declare_incident(
    session: Session,
    registry: Registry,
    *,
    cluster: str | None,
    hub: str | None,
    severity: Severity,
    title: str,
    actor: str | None,
    source: str = "slack",
) -> tuple[Incident, Incident | None]:
    """Open an incident by hand; returns it and the hub's already open incident, if any."""
    incident, already = start_incident(
        session,
        registry,
        cluster=cluster,
        hub=hub,
        severity=severity,
        title=title,
        actor=actor,
        source=source,
    )
    session.commit()
    session.refresh(incident)
    return incident, already


def start_incident(
    session: Session,
    registry: Registry,
    *,
    cluster: str | None,
    hub: str | None,
    severity: Severity,
    title: str,
    actor: str | None,
    source: str,
    opened_by: str | None = None,
    how: str = "",
) -> tuple[Incident, Incident | None]:
    """`declare_incident` in the session's transaction, which the caller commits.

    `opened_by` names the alert its channel is named for; `how` follows who declared it in
    the timeline ("from the quiet channel")."""
    # One line of printable text: a title is a heading, a topic, a file name, an Atom title.
    # (Control characters, the C1 ones too, count as blanks.)
    title = "".join(" " if unicodedata.category(c) == "Cc" else c for c in title)
    title = " ".join(title.split())[:200]
    if not title:
        raise FlowError("an incident needs a title")
    scope = scope_of(cluster, hub)
    community = None
    if cluster and hub:
        found = registry.hub(cluster, hub)
        community = found.community if found else None
    elif cluster in registry.clusters:
        communities = {h.community for h in registry.clusters[cluster].hubs}
        community = communities.pop() if len(communities) == 1 else None
    already = session.exec(select(Incident).where(Incident.open_scope == scope)).first()
    incident = Incident(
        title=title,
        severity=severity,
        cluster=cluster,
        hub=hub,
        community=community,
        scope=scope,
        source=source,
        opened_by=opened_by,
        # The hub's open incident keeps absorbing its alerts; a second one stands beside it.
        open_scope=None if already else scope,
    )
    session.add(incident)
    session.flush()
    number = number_of(incident)
    who = f"<@{actor}>" if actor else SOURCE_NAMES.get(source, source)
    record_event(
        session,
        number,
        "declared",
        f"Incident declared by {who}{how} ({registry.severity_name(severity)}): {escape(title)}",
        actor=actor,
    )
    open_channel_later(session.connection(), number)
    return incident, already


def assign_role(
    session: Session,
    registry: Registry,
    incident: Incident,
    *,
    role: str,
    user: str,
    actor: str | None,
    tell_slack: bool = True,
) -> bool:
    """Give `role` to `user` and invite them; False if they already hold it."""
    number = number_of(incident)
    current = session.exec(
        select(Role).where(Role.incident_number == number, Role.role == role)
    ).first()
    if current is not None and current.user_id == user:
        return False
    if current is None:
        current = Role(incident_number=number, role=role, user_id=user)
    else:
        current.user_id, current.assigned_at = user, utcnow()
    session.add(current)
    if role == "commander":
        incident.commander_problem = None
    by = f" by <@{actor}>" if actor and actor != user else ""
    name = registry.role_name(role)
    record_event(session, number, "role_assigned", f"<@{user}> is {name}{by}", actor=actor)
    touch(session, incident)
    # The channel-opening job invites and shows the commander it finds itself.
    if tell_slack:
        enqueue(session.connection(), effects.INVITE, effects.Invite(incident=number, users=[user]))
        refresh_later(session.connection(), number)
    session.commit()
    return True


def change_status(
    session: Session,
    incident: Incident,
    *,
    status: str,
    text: str,
    actor: str | None,
) -> None:
    """Move an open incident to investigating, identified or monitoring."""
    require_open(incident)
    if status == incident.status and not text:
        raise FlowError(f"incident #{incident.number} is already {status}")
    number = number_of(incident)
    old, incident.status = incident.status, status
    message = f"Status: {old} → {status}" + (f": {text}" if text else "")
    record_event(session, number, "status_changed", message, actor=actor)
    touch(session, incident)
    refresh_later(session.connection(), number)
    announce(session, number, f":large_blue_circle: {message} (<@{actor}>)" if actor else message)
    session.commit()


def change_severity(
    session: Session,
    registry: Registry,
    incident: Incident,
    *,
    severity: Severity,
    actor: str | None,
) -> None:
    """Raise or lower an incident's severity."""
    require_open(incident)
    name = registry.severity_name
    if severity == incident.severity:
        raise FlowError(f"incident #{incident.number} is already {name(severity)}")
    number = number_of(incident)
    old, incident.severity = incident.severity, severity
    message = f"Severity: {name(old)} → {name(severity)}"
    record_event(session, number, "severity_changed", message, actor=actor)
    touch(session, incident)
    refresh_later(session.connection(), number)
    announce(session, number, f":rotating_light: {message} (<@{actor}>)" if actor else message)
    session.commit()


def add_note(
    session: Session,
    incident: Incident,
    *,
    text: str,
    actor: str | None,
    at: datetime | None = None,
    external_id: str | None = None,
) -> bool:
    """An internal timeline note; False if the thing it came from was noted already."""
    text = text.strip()
    if not text:
        raise FlowError("a note needs some text")
    number = number_of(incident)
    if (
        external_id
        and session.exec(
            select(TimelineEvent.id).where(
                TimelineEvent.incident_number == number, TimelineEvent.external_id == external_id
            )
        ).first()
    ):
        return False
    record_event(session, number, "note", text, actor=actor, at=at, external_id=external_id)
    # A note that came from PagerDuty is not sent back to it.
    if not (external_id or "").startswith("pagerduty:"):
        _note_pagerduty(session, incident, text)
    session.commit()
    return True


def post_update(
    session: Session,
    registry: Registry,
    incident: Incident,
    *,
    text: str,
    actor: str | None,
) -> str | None:
    """A partner-visible update, also posted to the community's channel (returned, if any)."""
    text = text.strip()
    if not text:
        raise FlowError("an update needs some text")
    number = number_of(incident)
    record_event(session, number, "update", text, actor=actor)
    announce(session, number, f":mega: *Update:* {text}")
    _note_pagerduty(session, incident, f"Update for the community: {text}")
    community = registry.communities.get(incident.community or "")
    channel = community.slack_channel if community else None
    if channel:
        enqueue(
            session.connection(),
            effects.POST,
            effects.Post(
                channel=channel,
                text=f":mega: *{escape(incident.title)}* (incident #{number}, "
                f"{registry.severity_name(incident.severity)}, "
                f"{incident.status}): {text}",
            ),
        )
    session.commit()
    return channel


def resolve_incident(
    session: Session,
    incident: Incident,
    *,
    summary: str,
    actor: str | None,
    source: str = "slack",
) -> None:
    """Resolve: the hub's next alert opens a new incident."""
    require_open(incident)
    number = number_of(incident)
    incident.status, incident.resolved_at, incident.open_scope = "resolved", utcnow(), None
    by = f"<@{actor}>" if actor else SOURCE_NAMES.get(source, source)
    message = f"Resolved by {by}" + (f": {summary}" if summary else "")
    record_event(session, number, "resolved", message, actor=actor)
    touch(session, incident)
    refresh_later(session.connection(), number)
    announce(session, number, f":white_check_mark: {message}")
    # A resolve that came from PagerDuty is not sent back to it.
    if incident.pagerduty_incident_id and source != "pagerduty":
        enqueue(
            session.connection(), effects.RESOLVE_PAGERDUTY, effects.IncidentRef(incident=number)
        )
    # The report, ready to fill in, goes to the channel as the incident ends.
    enqueue(session.connection(), effects.POSTMORTEM, effects.Postmortem(incident=number))
    session.commit()


def acknowledge(session: Session, registry: Registry, incident: Incident, *, actor: str) -> None:
    """Someone is on it; with no commander yet, they become it."""
    require_open(incident)
    number = number_of(incident)
    record_event(session, number, "acknowledged", f"Acknowledged by <@{actor}>", actor=actor)
    if incident.acknowledged_at is None:
        incident.acknowledged_at = utcnow()
        touch(session, incident)
    has_commander = session.exec(
        select(Role.id).where(Role.incident_number == number, Role.role == "commander")
    ).first()
    if has_commander is None:
        assign_role(session, registry, incident, role="commander", user=actor, actor=actor)
    else:
        refresh_later(session.connection(), number)
    session.commit()


def request_postmortem(session: Session, incident: Incident, *, actor: str | None) -> int:
    """Queue the postmortem draft to be written and posted to the channel."""
    number = number_of(incident)
    enqueue(
        session.connection(), effects.POSTMORTEM, effects.Postmortem(incident=number, actor=actor)
    )
    session.commit()
    return number


def postmortem_posted(session: Session, incident: Incident, *, actor: str | None) -> None:
    """The draft went to the channel: a timeline entry says so."""
    by = f" for <@{actor}>" if actor else ""
    record_event(
        session, number_of(incident), "postmortem", f"Postmortem draft posted{by}", actor=actor
    )
    session.commit()


def roles_of(session: Session, incident: Incident) -> dict[str, str]:
    """Role -> Slack user."""
    rows = session.exec(select(Role).where(Role.incident_number == number_of(incident)))
    return {r.role: r.user_id for r in rows}


def require_open(incident: Incident) -> None:
    """Raise `IncidentResolved` if the incident is resolved."""
    if incident.status == "resolved":
        raise IncidentResolved(f"incident #{incident.number} is resolved")


def number_of(incident: Incident) -> int:
    """The number of a stored incident."""
    assert incident.number is not None
    return incident.number


def touch(session: Session, incident: Incident) -> None:
    """Mark the incident changed now."""
    incident.updated_at = utcnow()
    session.add(incident)


def record_event(
    session: Session,
    number: int,
    kind: Kind,
    text: str,
    *,
    actor: str | None = None,
    at: datetime | None = None,
    external_id: str | None = None,
) -> None:
    """Add a timeline entry (visibility by kind) in the session's transaction."""
    row: dict[str, Any] = event_row(number, kind, text, actor=actor, at=at)
    session.add(TimelineEvent(**row, external_id=external_id))


def refresh_later(conn: sa.Connection, number: int) -> bool:
    """Queue the update of an incident's Slack topic and summary; False if one waits already."""
    # They show the state when the job runs, so one waiting refresh is enough.
    return enqueue(conn, effects.REFRESH, effects.IncidentRef(incident=number))


def open_channel_later(conn: sa.Connection, number: int) -> None:
    """Queue the opening of an incident's Slack channel."""
    enqueue(conn, effects.OPEN_CHANNEL, effects.IncidentRef(incident=number))


def _note_pagerduty(session: Session, incident: Incident, text: str) -> None:
    if incident.pagerduty_incident_id:
        enqueue(
            session.connection(),
            effects.NOTE_PAGERDUTY,
            effects.PagerDutyNote(incident=number_of(incident), text=text),
        )


def announce(session: Session, number: int, text: str) -> None:
    """Queue a message to the incident's channel."""
    enqueue(session.connection(), effects.POST, effects.Post(incident=number, text=text))
