"""The reads behind the status pages: a community's incidents and their partner timelines.

Every query is bounded and filtered to one community and to partner-visible events; nothing
here can return an internal note."""

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from bot.hubs import Registry
from bot.hubs.schema import Community
from bot.incidents.models import Incident
from bot.incidents.naming import place
from bot.incidents.timing import duration_text, time_to_resolve
from bot.postmortems.mrkdwn import to_partner
from bot.status import links
from bot.status.schemas import (
    CommunityRead,
    PartnerEventRead,
    StatusIncidentDetail,
    StatusIncidentRead,
    StatusPageRead,
)
from bot.timeline.models import TimelineEvent

# How far back a status page and its feed look (open incidents are shown whatever their age).
WINDOW_DAYS = 90
MAX_OPEN = 100
MAX_PAST = 200
MAX_EVENTS = 500
MAX_FEED_ENTRIES = 200

PARTNER = "partner"


def community_read(community: Community) -> CommunityRead:
    """The community as the pages name it."""
    return CommunityRead(id=community.id, name=community.name)


def incident_read(incident: Incident, registry: Registry, *, public_url: str) -> StatusIncidentRead:
    """What a status page says of one incident."""
    assert incident.number is not None
    hub = registry.hub(incident.cluster or "", incident.hub or "")
    ended = incident.resolved_at
    lasted = time_to_resolve(incident)
    return StatusIncidentRead(
        number=incident.number,
        # A title declared in Slack before migration 0008 may hold its tokens (`<@U123>`): 0008
        # undid only the escapes.
        title=to_partner(incident.title),
        status=incident.status,
        open=ended is None,
        severity=incident.severity,
        severity_name=registry.severity_name(incident.severity),
        cluster=incident.cluster,
        hub=incident.hub,
        place=place(incident),
        domain=hub.domain if hub else None,
        started_at=incident.started_at,
        resolved_at=ended,
        duration="ongoing" if lasted is None else duration_text(lasted),
        url=links.absolute(
            public_url, links.incident_path(incident.community or "", incident.number)
        ),
    )


def status_page(
    session: Session, registry: Registry, community: Community, *, now: datetime, public_url: str
) -> StatusPageRead:
    """A community's open incidents, then those resolved in the last WINDOW_DAYS days."""
    since = now - timedelta(days=WINDOW_DAYS)
    mine = Incident.community == community.id
    still_open = session.exec(
        select(Incident)
        .where(mine, col(Incident.resolved_at).is_(None))
        .order_by(col(Incident.started_at).desc(), col(Incident.number).desc())
        .limit(MAX_OPEN)
    ).all()
    past = session.exec(
        select(Incident)
        .where(mine, col(Incident.resolved_at) >= since)
        .order_by(col(Incident.started_at).desc(), col(Incident.number).desc())
        .limit(MAX_PAST)
    ).all()
    return StatusPageRead(
        community=community_read(community),
        generated_at=now,
        window_days=WINDOW_DAYS,
        incidents=[incident_read(i, registry, public_url=public_url) for i in [*still_open, *past]],
    )


def incident_of(session: Session, community: Community, number: int) -> Incident | None:
    """Incident `number` if it is this community's; None for another's or a missing one."""
    return session.exec(
        select(Incident).where(Incident.number == number, Incident.community == community.id)
    ).first()


def incident_detail(
    session: Session,
    registry: Registry,
    community: Community,
    incident: Incident,
    *,
    public_url: str,
) -> StatusIncidentDetail:
    """One incident with its partner-visible timeline, oldest first: its newest MAX_EVENTS
    events, where its story stands now."""
    newest = session.exec(
        select(TimelineEvent)
        .where(
            TimelineEvent.incident_number == incident.number,
            TimelineEvent.visibility == PARTNER,
        )
        .order_by(col(TimelineEvent.at).desc(), col(TimelineEvent.id).desc())
        .limit(MAX_EVENTS)
    ).all()
    events = list(reversed(newest))
    summary = incident_read(incident, registry, public_url=public_url)
    return StatusIncidentDetail(
        **summary.model_dump(),
        community=community_read(community),
        timeline=[event_read(e) for e in events],
    )


def event_read(event: TimelineEvent) -> PartnerEventRead:
    """A partner-visible timeline entry."""
    assert event.id is not None
    return PartnerEventRead(id=event.id, at=event.at, kind=event.kind, text=to_partner(event.text))


def feed_events(
    session: Session, registry: Registry, community: Community, *, now: datetime, public_url: str
) -> list[tuple[PartnerEventRead, StatusIncidentRead]]:
    """The community's partner-visible events of the last WINDOW_DAYS days, newest first,
    at most MAX_FEED_ENTRIES, each with its incident."""
    since = now - timedelta(days=WINDOW_DAYS)
    rows = session.exec(
        select(TimelineEvent, Incident)
        .join(Incident, col(Incident.number) == col(TimelineEvent.incident_number))
        .where(
            Incident.community == community.id,
            TimelineEvent.visibility == PARTNER,
            col(TimelineEvent.at) >= since,
        )
        .order_by(col(TimelineEvent.at).desc(), col(TimelineEvent.id).desc())
        .limit(MAX_FEED_ENTRIES)
    ).all()
    incidents: dict[int, StatusIncidentRead] = {}
    found = []
    for event, incident in rows:
        number = event.incident_number
        if number not in incidents:
            incidents[number] = incident_read(incident, registry, public_url=public_url)
        found.append((event_read(event), incidents[number]))
    return found
