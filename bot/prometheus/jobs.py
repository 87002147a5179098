"""The `prometheus.context` job: when an alert opens an incident, what Prometheus says."""

import logging

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.alerts.models import Alert
from bot.incidents.flows import refresh_later
from bot.incidents.models import Incident
from bot.jobs.queue import ClaimedJob
from bot.prometheus.context import PrometheusContext, describe, expression_of
from bot.rules import Rule
from bot.slack.client import SlackClient
from bot.worker import GiveUp, Handler

log = logging.getLogger(__name__)


class PrometheusJobs:
    """Query the opening alert's expression; graph it into the channel."""

    def __init__(
        self,
        engine: Engine,
        prometheus: PrometheusContext,
        rules: dict[str, Rule],
        slack: SlackClient | None,
    ) -> None:
        self.engine = engine
        self.prometheus = prometheus
        self.rules = rules
        self.slack = slack

    def handlers(self) -> dict[str, Handler]:
        """Kind -> handler."""
        return {"prometheus.context": self.context}

    def context(self, job: ClaimedJob) -> None:
        """Store the current value for the summary and share a graph of the last hour."""
        with Session(self.engine) as session:
            incident = session.get(Incident, job.payload["incident"])
            if incident is None:
                raise GiveUp(f"no incident {job.payload['incident']}")
            first = session.exec(
                select(Alert)
                .where(Alert.incident_number == incident.number)
                .order_by(col(Alert.id))
            ).first()
            if first is None:
                return
            alertname = first.alertname
            rule = self.rules.get(alertname)
            expr = expression_of(first.generator_url) or (rule.expr if rule else None)
            if not expr:
                return
            graph = None
            try:
                text = describe(expr, self.prometheus.now(expr))
                graph = self.prometheus.graph(expr)
            except Exception as exc:
                # Prometheus away only means no context; the incident goes on without it.
                log.warning("Prometheus context for incident %s failed: %s", incident.number, exc)
                text = (
                    f":chart_with_upwards_trend: Prometheus could not be asked for `{expr}`: "
                    "no context"
                )
            incident.prometheus_context = text
            session.add(incident)
            number = incident.number
            refresh_later(session.connection(), number or 0)
            session.commit()
            channel = incident.slack_channel_id
        if graph and channel and self.slack is not None:
            self.slack.upload_file(
                channel,
                filename=f"incident-{number}-last-hour.png",
                title=f"{alertname}: the last hour",
                content=graph,
                comment=f"`{expr}` over the last hour",
            )
