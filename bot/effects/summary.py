"""What an incident's summary message shows, gathered from the incident and its alerts."""

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from bot.alerts.models import Alert
from bot.hubs import Registry
from bot.hubs.schema import ROLE_NAMES
from bot.incidents.models import Incident
from bot.runbooks import Runbooks
from bot.slack import blocks

alert_t = Alert.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class AlertLine:
    """Alerts of one name and status: how many, and a runbook link one of them carries."""

    alertname: str
    status: str
    count: int
    runbook_url: str | None


# Counted by the database: an incident of a storm holds thousands of alerts, and the summary
# shows a line per name.
_LINES = (
    sa.select(
        alert_t.c.alertname,
        alert_t.c.status,
        sa.func.count(),
        sa.func.max(alert_t.c.annotations["runbook_url"].as_string()),
    )
    .where(alert_t.c.incident_number == sa.bindparam("number"))
    .group_by(alert_t.c.alertname, alert_t.c.status)
    .order_by(sa.func.min(alert_t.c.id))
)


@dataclass(frozen=True)
class SummaryInputs:
    """What a summary is built from, read in one transaction and then let go."""

    incident: Incident
    alerts: tuple[AlertLine, ...]

    @classmethod
    def read(cls, session: Session, incident: Incident) -> "SummaryInputs":
        """The incident's alerts, counted by name and status, oldest name first."""
        rows = session.connection().execute(_LINES, {"number": incident.number})
        return cls(incident, tuple(AlertLine(a, s, n, url or None) for a, s, n, url in rows))


def build_summary(
    registry: Registry, runbooks: Runbooks, inputs: SummaryInputs, roles: dict[str, str]
) -> blocks.Summary:
    """The summary of an incident: hub, community, alerts, context, runbook."""
    incident = inputs.incident
    hub = registry.hub(incident.cluster or "", incident.hub or "")
    community = registry.communities.get(incident.community or "")
    summary = blocks.Summary(
        incident=incident,
        roles=roles,
        role_names={r: registry.role_name(r) for r in ROLE_NAMES},
        severity_name=registry.severity_name(incident.severity),
        domain=hub.domain if hub else None,
        community=community.name if community else None,
        alerts=[(a.alertname, a.status, a.count) for a in inputs.alerts],
        context=[incident.prometheus_context] if incident.prometheus_context else [],
    )
    _runbook(runbooks, summary, inputs.alerts)
    return summary


def _runbook(runbooks: Runbooks, summary: blocks.Summary, alerts: Sequence[AlertLine]) -> None:
    # The first alert with a runbook decides: its `runbook_url` annotation, else a match.
    for alert in alerts:
        book = runbooks.match(alert.alertname)
        if alert.runbook_url:
            summary.runbook_url = alert.runbook_url
            summary.runbook_title = f"Runbook for {alert.alertname}"
        elif book:
            summary.runbook_url, summary.runbook_title = runbooks.url(book), book.title
        else:
            continue
        if book:
            summary.first_steps = book.first_steps
        return
