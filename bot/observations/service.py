"""The quiet channel's rows: a hub's message of a day, what it shows, and declaring from it.

A message shows the alerts of its hub first seen that day (UTC) that belong to no incident.
Declaring from it moves those alerts into an incident: the hub's open one if there is one,
else a new one, which then absorbs the hub's alerts like any other.
"""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.alerts.models import Alert
from bot.db import insert_ignoring, utcnow
from bot.hubs import Registry
from bot.incidents import effects
from bot.incidents.flows import (
    FlowError,
    number_of,
    record_event,
    refresh_later,
    start_incident,
    touch,
)
from bot.incidents.models import Incident
from bot.incidents.naming import alert_title, fired_text, place, resolved_text
from bot.jobs import queue
from bot.observations.days import bounds
from bot.observations.models import Observation
from bot.runbooks import Runbooks
from bot.slack import blocks

alert_t = Alert.__table__  # type: ignore[attr-defined]
observation_t = Observation.__table__  # type: ignore[attr-defined]


def _quiet_alerts(day: str, cluster: str | None, hub: str | None) -> list[Any]:
    """The conditions of a message's alerts: its place, first seen that day, in no incident."""
    start, end = bounds(day)
    return [
        alert_t.c.cluster.is_(None) if cluster is None else alert_t.c.cluster == cluster,
        alert_t.c.hub.is_(None) if hub is None else alert_t.c.hub == hub,
        alert_t.c.received_at >= start,
        alert_t.c.received_at < end,
        alert_t.c.incident_number.is_(None),
    ]


def find(reader: Engine, engine: Engine, p: effects.Observe) -> Observation:
    """The message's row, added if this is its first job (replicas add one between them)."""
    query = select(Observation).where(Observation.day == p.day, Observation.scope == p.scope)
    with Session(reader) as session:
        found = session.exec(query).first()
        if found is not None:
            session.expunge(found)
            return found
    with Session(engine) as session:
        conn = session.connection()
        conn.execute(
            insert_ignoring(conn, observation_t, "day", "scope").values(
                day=p.day, scope=p.scope, cluster=p.cluster, hub=p.hub, edits=0, created_at=utcnow()
            )
        )
        session.commit()
        added = session.exec(query).one()
        session.expunge(added)
        return added


def read(
    session: Session, registry: Registry, runbooks: Runbooks, obs: Observation
) -> blocks.Quiet:
    """What the message shows now."""
    rows = session.connection().execute(
        sa.select(
            alert_t.c.alertname,
            alert_t.c.severity,
            alert_t.c.status,
            sa.func.count(),
            sa.func.max(alert_t.c.annotations["summary"].as_string()),
            sa.func.max(alert_t.c.annotations["runbook_url"].as_string()),
        )
        .where(*_quiet_alerts(obs.day, obs.cluster, obs.hub))
        .group_by(alert_t.c.alertname, alert_t.c.severity, alert_t.c.status)
    )
    counted: dict[tuple[str, str], dict[str, Any]] = {}
    for name, severity, status, n, summary, runbook_url in rows:
        line = counted.setdefault(
            (name, severity), {"firing": 0, "resolved": 0, "summary": None, "url": None}
        )
        line["firing" if status == "firing" else "resolved"] += n
        line["summary"] = line["summary"] or summary
        line["url"] = line["url"] or runbook_url
    lines = []
    for (name, severity), line in counted.items():
        book = runbooks.match(name) if name else None
        url = line["url"] or (runbooks.url(book) if book else None)
        lines.append(
            blocks.QuietLine(
                alertname=name,
                severity=severity,
                severity_name=registry.severity_name(severity),
                firing=line["firing"],
                resolved=line["resolved"],
                summary=line["summary"],
                runbook_url=url,
            )
        )
    hub = registry.hub(obs.cluster or "", obs.hub or "")
    community = registry.communities.get(hub.community) if hub else None
    incident = session.get(Incident, obs.incident_number) if obs.incident_number else None
    assert obs.id is not None
    return blocks.Quiet(
        observation=obs.id,
        day=obs.day,
        place=place(obs),
        domain=hub.domain if hub else None,
        community=community.name if community else None,
        lines=lines,
        incident=obs.incident_number,
        incident_channel=incident.slack_channel_id if incident else None,
        declared_by=obs.declared_by,
    )


def _open_incident(session: Session, scope: str) -> Incident | None:
    # Locked: a resolve of it meanwhile waits for the alerts to be added, not the reverse.
    query = select(Incident).where(Incident.open_scope == scope).with_for_update()
    return session.exec(query).first()


def _join(
    session: Session,
    registry: Registry,
    incident: Incident,
    severity: str,
    count: int,
    actor: str | None,
) -> None:
    """Alerts from the quiet channel join the hub's open incident (raising its severity)."""
    number = number_of(incident)
    who = f"<@{actor}>" if actor else "someone"
    if severity < incident.severity:
        shown = registry.severity_name
        record_event(
            session,
            number,
            "severity_changed",
            f"Severity raised from {shown(incident.severity)} to {shown(severity)} "
            f"by alerts {who} added from the quiet channel",
            actor=actor,
        )
        incident.severity = severity
    touch(session, incident)
    alerts = f"{count} alert" + ("" if count == 1 else "s")
    text = f"{alerts} added from the quiet channel by {who}"
    record_event(session, number, "note", text, actor=actor)
    refresh_later(session.connection(), number)


def channel_opened(session: Session, number: int) -> None:
    """An incident's channel is open: the quiet messages it was declared from link it now."""
    declared = session.exec(select(Observation).where(Observation.incident_number == number))
    for obs in declared:
        _show_now(session, obs)


def declare(
    session: Session, registry: Registry, observation: int, *, actor: str | None
) -> tuple[int, bool, int]:
    """Put a message's alerts into an incident: the hub's open one, else a new one.

    Returns the incident's number, whether it was open already, and how many alerts moved.
    Two people pressing at once: the second finds the alerts gone and is told where."""
    obs = session.exec(
        select(Observation).where(Observation.id == observation).with_for_update()
    ).first()
    if obs is None:
        raise FlowError("this message names no alerts the bot knows")
    alerts = list(
        session.exec(
            select(Alert)
            .where(*_quiet_alerts(obs.day, obs.cluster, obs.hub))
            .order_by(col(Alert.severity), col(Alert.starts_at), col(Alert.id))
        )
    )
    if not alerts:
        if obs.incident_number is not None:
            raise FlowError(f"these alerts are in incident #{obs.incident_number} already")
        raise FlowError("no alerts are left to declare an incident for")
    first = next((a for a in alerts if a.status == "firing"), alerts[0])
    severity = min(a.severity for a in alerts)
    incident = _open_incident(session, obs.scope)
    joined = incident is not None
    if incident is None:
        summary = first.annotations.get("summary") or first.annotations.get("title")
        try:
            # A savepoint: a replica's intake may open the hub's incident meanwhile; then
            # the alerts join that one.
            with session.begin_nested():
                incident, _ = start_incident(
                    session,
                    registry,
                    cluster=obs.cluster,
                    hub=obs.hub,
                    severity=severity,  # type: ignore[arg-type]
                    title=alert_title(first.alertname, summary, obs.cluster, obs.hub),
                    actor=actor,
                    source="slack",
                    opened_by=first.alertname or None,
                    how=" from the quiet channel",
                )
        except IntegrityError:
            incident = _open_incident(session, obs.scope)
            if incident is None:
                raise
            joined = True
    if joined:
        _join(session, registry, incident, severity, len(alerts), actor)
    number = number_of(incident)
    now = utcnow()
    for a in alerts:
        a.incident_number, a.updated_at = number, now
        session.add(a)
        name = a.alertname or a.fingerprint
        summary = a.annotations.get("summary")
        record_event(
            session,
            number,
            "alert_fired",
            fired_text(name, a.cluster, a.hub, summary),
            at=a.starts_at,
        )
        if a.status == "resolved":
            record_event(
                session,
                number,
                "alert_resolved",
                resolved_text(name, a.cluster, a.hub),
                at=a.ends_at or now,
            )
    obs.incident_number, obs.declared_by = number, actor
    _show_now(session, obs)  # a person's doing
    session.commit()
    return number, joined, len(alerts)


def _show_now(session: Session, obs: Observation) -> None:
    """Bring the message up to date at once, not after the edit interval."""
    obs.written_at = None
    session.add(obs)
    queue.hurry(
        session.connection(),
        effects.OBSERVE,
        effects.Observe(day=obs.day, cluster=obs.cluster, hub=obs.hub),
    )
