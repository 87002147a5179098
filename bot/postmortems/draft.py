"""The incident report: an incident's facts and timeline, in the shape of 2i2c's published
incident reports (MyST front matter, a field table, the review sections, the timeline), ready
to fill in and add to a reports repository as it is."""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, col, select

from bot.alerts.models import Alert
from bot.db import utcnow
from bot.followups.models import FollowUp
from bot.hubs import Registry
from bot.incidents.models import Incident, Role
from bot.incidents.naming import place, slug
from bot.incidents.timing import duration_text, time_to_acknowledge, time_to_resolve
from bot.postmortems import jinja
from bot.postmortems.mrkdwn import (
    MENTION,
    Mrkdwn,
    cell,
    escape,
    no_headings,
    one_line,
    quoted,
    quoted_yaml,
)
from bot.timeline.models import TimelineEvent

# The timeline entry that links a PagerDuty incident (pagerduty.flows.link_pagerduty), which
# alone keeps its address: `PagerDuty incident <url|title> is linked`.
PAGERDUTY_LINKED = re.compile(r"^PagerDuty incident <(https?://[^|>\s]+)[|>]")


@dataclass(frozen=True)
class Draft:
    """A written report, and why POSTMORTEM_TEMPLATE was not used for it, if it was not."""

    text: str
    template_problem: str | None = None


@dataclass(frozen=True)
class Entry:
    """One timeline event as the report shows it; `at` in the report's time zone."""

    at: datetime
    kind: str
    text: str
    visibility: str


@dataclass(frozen=True)
class Day:
    """A date of the timeline (`November 25, 2026`) and its entries, in time order."""

    label: str
    entries: list[Entry]


@dataclass(frozen=True)
class FollowUpItem:
    """A follow-up: its issue once GitHub opened it."""

    text: str
    url: str | None
    number: int | None

    @property
    def pending(self) -> bool:
        """No issue yet."""
        return self.url is None


@dataclass(frozen=True)
class AlertItem:
    """An alert of the incident, for What Happened; times in the report's time zone."""

    name: str
    where: str
    summary: str
    starts_at: datetime
    ends_at: datetime | None


def write(
    session: Session,
    registry: Registry,
    incident: Incident,
    *,
    timezone: str,
    names: dict[str, str] | None = None,
    template: str = "",
) -> Draft:
    """The report, in markdown; Slack users are written by name where `names` knows them.

    `template` is POSTMORTEM_TEMPLATE: a Jinja2 file used instead of the bundled one. If it is
    missing or broken the bundled one is used, the error logged, and the draft says why."""
    context = facts(session, registry, incident, timezone=timezone, names=names)
    text, problem = jinja.render(context, template)
    return Draft(text, problem)


def facts(
    session: Session,
    registry: Registry,
    incident: Incident,
    *,
    timezone: str,
    names: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What a report template is given (the bundled template shows how each is used)."""
    tz = zone(timezone)
    md = Mrkdwn(names)
    number = incident.number
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
    roles = session.exec(
        select(Role).where(Role.incident_number == number).order_by(col(Role.id))
    ).all()
    followups = session.exec(
        select(FollowUp)
        .where(FollowUp.incident_number == number)
        .order_by(col(FollowUp.created_at), col(FollowUp.id))
    ).all()

    start = _impact_start(incident, alerts).astimezone(tz)
    end = incident.resolved_at.astimezone(tz) if incident.resolved_at else None
    if end is None:
        duration = f"{duration_text(max(utcnow() - start, timedelta(0)))} so far"
    else:
        duration = duration_text(max(end - start, timedelta(0)))
    impact_time = f"{jinja.short(start)} to {jinja.short(end) if end else 'ongoing'}"
    acknowledge, resolve = time_to_acknowledge(incident), time_to_resolve(incident)
    commander = next((md.person(r.user_id) for r in roles if r.role == "commander"), None)
    pagerduty = _pagerduty(incident, events)
    fields = [
        ("Impact Time", impact_time),
        ("Duration", duration),
        ("Hubs", ", ".join(_hubs(registry, incident, alerts))),
        ("Communities", ", ".join(_communities(registry, incident, alerts)) or "unknown"),
        ("Severity", registry.severity_name(incident.severity)),
        ("Incident Commander", commander or "not assigned"),
        ("PagerDuty", pagerduty or "not paged"),
        (
            "Time to Acknowledge",
            "not acknowledged" if acknowledge is None else duration_text(acknowledge),
        ),
        ("Time to Resolve", "not resolved" if resolve is None else duration_text(resolve)),
    ]
    fields = [(name, cell(value)) for name, value in fields]
    items = [
        FollowUpItem(no_headings(md(_words(f.text))), f.issue_url, f.issue_number)
        for f in followups
    ]
    entries = [_entry(e, md, tz) for e in events] + [
        Entry(f.created_at.astimezone(tz), "followup", _followup_text(md, f), "internal")
        for f in followups
        if not _on_timeline(f, events)
    ]
    entries.sort(key=lambda e: e.at)  # stable: events keep their order at equal times
    days = [
        Day(label, list(group)) for label, group in groupby(entries, key=lambda e: jinja.day(e.at))
    ]
    # One line: the heading `# {{ title }}` and the front matter must not break. A title is
    # plain text: escaped for markdown in the heading, quoted for YAML in the front matter.
    title = one_line(incident.title)
    return {
        "incident": incident,
        "title": escape(title),
        "title_yaml": quoted_yaml(title),
        "date": f"{start:%Y-%m-%d}",
        "timezone": tz.key,
        "fields": fields,
        **{name.lower().replace(" ", "_"): value for name, value in fields},
        "impact_start": start,
        "impact_end": end,
        "roles": [(registry.role_name(r.role), md.person(r.user_id)) for r in roles],
        "alerts": [_alert(a, md, tz) for a in alerts],
        "resolution": _resolution(events, md),
        "followups": items,
        "days": days,
    }


def report_file(
    session: Session,
    registry: Registry,
    incident: Incident,
    *,
    timezone: str,
    names: dict[str, str] | None = None,
    template: str = "",
) -> tuple[Draft, str]:
    """The report (see `write`) and the file name it goes by (see `report_filename`)."""
    draft = write(session, registry, incident, timezone=timezone, names=names, template=template)
    return draft, report_filename(incident, session=session, timezone=timezone)


def report_filename(
    incident: Incident, *, session: Session | None = None, timezone: str = "UTC"
) -> str:
    """`YYYY-MM-DD-<slug of title>.md`, as reports repositories name their files.

    With `session` and `timezone`, the date is the report's own (its front matter `date`:
    when the impact began, in TIMEZONE); without, the UTC date the incident opened."""
    name = slug(incident.title)[:60].strip("-_") or "incident"
    when = impact_start(session, incident) if session is not None else incident.started_at
    return f"{when.astimezone(zone(timezone)):%Y-%m-%d}-{name}.md"


def impact_start(session: Session, incident: Incident) -> datetime:
    """When the impact began: the earliest start of the incident's alerts, else its opening."""
    alerts = session.exec(select(Alert).where(Alert.incident_number == incident.number)).all()
    return _impact_start(incident, alerts)


def people(session: Session, incident: Incident) -> set[str]:
    """The Slack users a report mentions: actors, role holders and @-mentions in the text."""
    found = set(session.exec(select(Role.user_id).where(Role.incident_number == incident.number)))
    for e in session.exec(
        select(TimelineEvent).where(TimelineEvent.incident_number == incident.number)
    ):
        found.update(MENTION.findall(e.text))
        if e.actor:
            found.add(e.actor)
    for f in session.exec(select(FollowUp).where(FollowUp.incident_number == incident.number)):
        found.update(MENTION.findall(f.text))
    return found


def zone(timezone: str) -> ZoneInfo:
    """The named zone; UTC if the name is not one (settings refuse such names anyway)."""
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _impact_start(incident: Incident, alerts: Any) -> datetime:
    return min((a.starts_at for a in alerts), default=incident.started_at)


def _hubs(registry: Registry, incident: Incident, alerts: Any) -> list[str]:
    """The incident's own place first, then any other its alerts came from; a hub with its
    domain: `leap/prod (leap.2i2c.cloud)`."""
    found = []
    for placed in [incident, *alerts]:
        hub = registry.hub(placed.cluster, placed.hub) if placed.cluster and placed.hub else None
        where = place(placed)
        found.append(f"{where} ({hub.domain})" if hub and hub.domain else where)
    return list(dict.fromkeys(found))


def _communities(registry: Registry, incident: Incident, alerts: Any) -> list[str]:
    ids = [incident.community] + [a.community for a in alerts]
    return list(
        dict.fromkeys(found.name if (found := registry.communities.get(i)) else i for i in ids if i)
    )


def _pagerduty(incident: Incident, events: Any) -> str | None:
    """The linked PagerDuty incident's address if it is known, else its id."""
    pd_id = incident.pagerduty_incident_id
    if not pd_id:
        return None
    # The address (the webhook's `data.html_url`, or the REST API's) is kept only in the
    # words of the timeline entry that linked it.
    for e in reversed(events):
        if e.kind == "paged":
            for url in PAGERDUTY_LINKED.findall(e.text):
                if pd_id in url:
                    return str(url)
    return pd_id


def _entry(e: TimelineEvent, md: Mrkdwn, tz: ZoneInfo) -> Entry:
    """An event's words under its `### <time>` heading. Text of several lines (an alert's
    summary, a note, a resolve's summary) is quoted, and no line of any becomes a heading:
    the report's structure is the template's alone."""
    text = md(e.text).strip()
    who = md.person(e.actor) if e.actor else None
    if e.kind == "note":
        return Entry(e.at.astimezone(tz), e.kind, _said("Note", who, text), e.visibility)
    if e.kind == "update":
        said = _said("Update shared with the community", who, text)
        return Entry(e.at.astimezone(tz), e.kind, said, e.visibility)
    if who and f"<@{e.actor}" not in e.text:
        text = f"{text} ({who})"
    text = quoted(text) if _several_lines(text) else no_headings(text)
    return Entry(e.at.astimezone(tz), e.kind, text, e.visibility)


def _said(what: str, who: str | None, text: str) -> str:
    head = f"{what} from {who}" if who else what
    if not _several_lines(text):
        return f"{head}: {text}"
    return f"{head}:\n\n{quoted(text)}"


def _several_lines(text: str) -> bool:
    return len(text.splitlines()) > 1


def _followup_text(md: Mrkdwn, f: FollowUp) -> str:
    if f.issue_url:
        return f"Follow-up opened: [{md(_words(f.text))}]({f.issue_url})"
    return f"Follow-up noted (issue pending): {md(_words(f.text))}"


def _words(text: str) -> str:
    """Fit for a list item or a link's words: one line, brackets escaped."""
    return one_line(text).replace("[", "\\[").replace("]", "\\]")


def _on_timeline(f: FollowUp, events: Any) -> bool:
    """Whether the timeline already tells of this follow-up (its issue's opening is noted)."""
    return any(
        e.external_id == f"github:followup:{f.id}" or bool(f.issue_url and f.issue_url in e.text)
        for e in events
    )


def _alert(a: Alert, md: Mrkdwn, tz: ZoneInfo) -> AlertItem:
    summary = str(a.annotations.get("summary") or "") if isinstance(a.annotations, dict) else ""
    return AlertItem(
        name=a.alertname or a.fingerprint,
        where=place(a),
        summary=one_line(md(summary)),
        starts_at=a.starts_at.astimezone(tz),
        ends_at=a.ends_at.astimezone(tz) if a.ends_at else None,
    )


def _resolution(events: Any, md: Mrkdwn) -> str:
    """The summary given when the incident was resolved, if any."""
    for e in reversed(events):
        if e.kind == "resolved":
            # `Resolved by <@U1>: summary` (flows.resolve_incident)
            _, sep, summary = e.text.partition(": ")
            return no_headings(md(summary.strip())) if sep else ""
    return ""
