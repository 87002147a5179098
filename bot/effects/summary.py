"""What an incident's summary message shows, gathered from the incident and its alerts."""

from collections.abc import Sequence
from dataclasses import dataclass

from bot.alerts.models import Alert
from bot.hubs import Registry
from bot.hubs.schema import ROLE_NAMES
from bot.incidents.models import Incident
from bot.runbooks import Runbooks
from bot.slack import blocks


@dataclass(frozen=True)
class AlertLine:
    alertname: str
    status: str
    runbook_url: str | None


@dataclass(frozen=True)
class SummaryInputs:
    """The rows a summary is built from, read in one transaction and then let go."""

    incident: Incident
    alerts: tuple[AlertLine, ...]

    @classmethod
    def read(cls, incident: Incident, alerts: Sequence[Alert]) -> "SummaryInputs":
        """Copy what the summary needs out of the rows."""
        lines = tuple(
            AlertLine(a.alertname, a.status, a.annotations.get("runbook_url") or None)
            for a in alerts
        )
        return cls(incident, lines)


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
        domain=hub.domain if hub else None,
        community=community.name if community else None,
        alerts=[(a.alertname, a.status) for a in inputs.alerts],
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
