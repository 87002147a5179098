"""Prometheus context: when an alert opens an incident, what Prometheus says about it."""

import logging
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.alerts.models import Alert
from bot.db import readonly
from bot.effects.rows import incident_of
from bot.incidents import effects
from bot.jobs import queue, reads
from bot.jobs.attempt import RetryLater
from bot.jobs.queue import ClaimedJob
from bot.jobs.worker import Performer
from bot.prometheus.context import PrometheusContext, describe, expression_of
from bot.rules import Rule
from bot.slack.client import SlackClient

log = logging.getLogger(__name__)

CHANNEL_WAIT_SECONDS = 120.0


class ContextEffects:
    """Query the opening alert's expression; graph it into the channel."""

    def __init__(
        self,
        engine: Engine,
        prometheus: PrometheusContext,
        rules: dict[str, Rule],
        slack: SlackClient | None,
    ) -> None:
        self.engine = engine
        self.reader = readonly(engine)
        self.prometheus = prometheus
        self.rules = rules
        self.slack = slack

    def performers(self) -> list[Performer[Any]]:
        """The jobs performed here."""
        return [Performer(effects.CONTEXT, self.context)]

    def context(self, p: effects.IncidentRef, job: ClaimedJob) -> None:
        """Store the current value for the summary and share a graph of the last hour."""
        with Session(self.reader) as session:
            incident = incident_of(session, p.incident)
            first = session.exec(
                select(Alert).where(Alert.incident_number == p.incident).order_by(col(Alert.id))
            ).first()
            channel, known = incident.slack_channel_id, incident.prometheus_context
            opening = channel is None and reads.pending(
                session.connection(), effects.OPEN_CHANNEL.name, f"incident:{p.incident}"
            )
            alertname = first.alertname if first else ""
            generator = first.generator_url if first else ""
        if first is None:
            return
        if opening and self.slack is not None:
            # The graph goes to the channel: wait for it, holding up nothing else (posting
            # the summary hurries this job along).
            raise RetryLater(CHANNEL_WAIT_SECONDS, "the channel is still being opened")
        rule = self.rules.get(alertname)
        expr = expression_of(generator) or (rule.expr if rule else None)
        if not expr:
            return
        graph = None
        try:
            text = describe(expr, self.prometheus.now(expr))
            if channel and self.slack is not None:
                graph = self.prometheus.graph(expr)
        except Exception as exc:
            # Prometheus away only means no context; the incident goes on without it.
            log.warning("Prometheus context for incident %s failed: %s", p.incident, exc)
            text = (
                f":chart_with_upwards_trend: Prometheus could not be asked for `{expr}`: no context"
            )
        if text != known:
            with Session(self.engine) as session:
                stored = incident_of(session, p.incident)
                stored.prometheus_context = text
                session.add(stored)
                queue.enqueue(session.connection(), effects.REFRESH, p)
                session.commit()
        if graph and channel and self.slack is not None:
            self.slack.upload_file(
                channel,
                filename=f"incident-{p.incident}-last-hour.png",
                title=f"{alertname}: the last hour",
                content=graph,
                comment=f"`{expr}` over the last hour",
            )
