"""Reading incidents, their roles, alerts and timelines."""

from typing import Literal

from sqlmodel import Session, col, select

from bot.alerts.models import Alert
from bot.alerts.schemas import AlertRead
from bot.incidents.models import Incident, Role
from bot.incidents.schemas import IncidentDetail, IncidentRead, TimelineEventRead
from bot.incidents.timing import time_to_acknowledge, time_to_resolve
from bot.timeline.models import TimelineEvent


def get(session: Session, *, number: int) -> Incident | None:
    """One incident by number."""
    return session.get(Incident, number)


def list_incidents(
    session: Session,
    *,
    status: Literal["open", "resolved"] | None = None,
    cluster: str | None = None,
    hub: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[IncidentRead]:
    """Incidents, newest first."""
    query = select(Incident).order_by(col(Incident.number).desc()).limit(limit).offset(offset)
    if status == "open":
        query = query.where(Incident.status != "resolved")
    elif status == "resolved":
        query = query.where(Incident.status == "resolved")
    if cluster is not None:
        query = query.where(Incident.cluster == cluster)
    if hub is not None:
        query = query.where(Incident.hub == hub)
    incidents = session.exec(query).all()
    roles = roles_of(session, numbers=[i.number for i in incidents if i.number is not None])
    return [to_read(i, roles.get(i.number or 0, {})) for i in incidents]


def roles_of(session: Session, *, numbers: list[int]) -> dict[int, dict[str, str]]:
    """The role holders of several incidents: number -> role -> Slack user."""
    found: dict[int, dict[str, str]] = {}
    if numbers:
        for r in session.exec(select(Role).where(col(Role.incident_number).in_(numbers))):
            found.setdefault(r.incident_number, {})[r.role] = r.user_id
    return found


def to_read(incident: Incident, roles: dict[str, str]) -> IncidentRead:
    """The API shape of an incident without alerts and timeline."""
    ack, resolve = time_to_acknowledge(incident), time_to_resolve(incident)
    return IncidentRead(
        roles=roles,
        time_to_acknowledge_seconds=ack.total_seconds() if ack is not None else None,
        time_to_resolve_seconds=resolve.total_seconds() if resolve is not None else None,
        **incident.model_dump(exclude={"scope", "open_scope"}),
    )


def detail(session: Session, incident: Incident) -> IncidentDetail:
    """The API shape of one incident, with its alerts and timeline."""
    number = incident.number or 0
    alerts = session.exec(
        select(Alert)
        .where(Alert.incident_number == number)
        .order_by(col(Alert.starts_at), col(Alert.id))
    ).all()
    events = session.exec(
        select(TimelineEvent)
        .where(TimelineEvent.incident_number == number)
        .order_by(col(TimelineEvent.at), col(TimelineEvent.id))
    ).all()
    base = to_read(incident, roles_of(session, numbers=[number]).get(number, {}))
    return IncidentDetail(
        **base.model_dump(),
        alerts=[alert_read(a) for a in alerts],
        timeline=[TimelineEventRead.model_validate(e, from_attributes=True) for e in events],
    )


def alert_read(alert: Alert) -> AlertRead:
    """The API shape of an alert."""
    return AlertRead(incident=alert.incident_number, **alert.model_dump())
