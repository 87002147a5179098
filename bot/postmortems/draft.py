"""Render the postmortem draft of an incident from its facts and timeline."""

import re
from datetime import datetime, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlmodel import Session, col, select

from bot.db import utcnow
from bot.hubs import Registry
from bot.incidents.models import Incident, Role
from bot.incidents.naming import place, slug
from bot.timeline.models import TimelineEvent

MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")

_env = Environment(
    loader=PackageLoader("bot.postmortems", "templates"),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # markdown, not HTML
)


def render(
    session: Session,
    registry: Registry,
    incident: Incident,
    *,
    timezone: str,
    names: dict[str, str] | None = None,
) -> str:
    """The draft, in markdown; Slack users are written by name where `names` knows them."""
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    names = names or {}

    def who(text: str) -> str:
        return MENTION.sub(lambda m: f"@{names.get(m.group(1), m.group(1))}", text)

    events = session.exec(
        select(TimelineEvent)
        .where(TimelineEvent.incident_number == incident.number)
        .order_by(col(TimelineEvent.at), col(TimelineEvent.id))
    ).all()
    roles = session.exec(select(Role).where(Role.incident_number == incident.number)).all()
    started = incident.started_at.astimezone(tz)
    ended = incident.resolved_at.astimezone(tz) if incident.resolved_at else None
    local = [(e.at.astimezone(tz), e) for e in events]
    days = [
        (
            day,
            [
                _Entry(at, who(e.text), who(f"<@{e.actor}>") if e.actor else "", e.visibility)
                for at, e in group
            ],
        )
        for day, group in groupby(local, key=lambda pair: f"{pair[0]:%A}, {_day(pair[0])}")
    ]
    resolution = next((who(e.text) for e in reversed(events) if e.kind == "resolved"), "")
    env = _env.overlay()
    env.filters.update(day=_day, stamp=lambda d: f"{_day(d)} {_clock(d)}", clock=_clock)
    hub = registry.hub(incident.cluster or "", incident.hub or "")
    where = place(incident)
    if hub and hub.domain:
        where += f" ({hub.domain})"
    community = registry.communities.get(incident.community or "")
    return env.get_template("draft.md.j2").render(
        incident=incident,
        started=started,
        ended=ended,
        duration=_duration(
            (incident.resolved_at or utcnow()) - incident.started_at, ongoing=ended is None
        ),
        where=where,
        community=community.name if community else None,
        severity=registry.severity_name(incident.severity),
        roles=[(registry.role_name(r.role), who(f"<@{r.user_id}>")) for r in roles],
        summary="",
        resolution=resolution,
        tz=timezone,
        days=days,
    )


def report_filename(incident: Incident) -> str:
    """`YYYY-MM-DD-<slug of title>.md`, as reports repositories name their files."""
    name = slug(incident.title)[:60].strip("-_") or "incident"
    return f"{incident.started_at:%Y-%m-%d}-{name}.md"


def people(session: Session, incident: Incident) -> set[str]:
    """The Slack users a draft mentions: actors, role holders and @-mentions in the text."""
    found = set(session.exec(select(Role.user_id).where(Role.incident_number == incident.number)))
    for e in session.exec(
        select(TimelineEvent).where(TimelineEvent.incident_number == incident.number)
    ):
        found.update(MENTION.findall(e.text))
        if e.actor:
            found.add(e.actor)
    return found


class _Entry:
    def __init__(self, at: datetime, text: str, actor: str, visibility: str) -> None:
        self.at, self.text, self.actor, self.visibility = at, text, actor, visibility


def _day(d: datetime) -> str:
    return f"{d:%B} {d.day}, {d.year}"


def _clock(d: datetime) -> str:
    return f"{d.hour % 12 or 12}:{d:%M} {'AM' if d.hour < 12 else 'PM'}"


def _duration(delta: timedelta, *, ongoing: bool) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{hours} h {minutes} min" if hours else f"{minutes} min"
    return f"{text} so far" if ongoing else text
