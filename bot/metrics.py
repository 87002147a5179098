"""The bot's own Prometheus metrics, on a registry per app (tests run several apps)."""

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from bot.incidents.models import Incident
from bot.jobs.health import IntegrationHealth
from bot.jobs.models import DEAD, DONE, PENDING, RUNNING
from bot.jobs.reads import depth, oldest_ready_age

incident = Incident.__table__  # type: ignore[attr-defined]

# Time to acknowledge and to resolve: a minute to a week.
RESPONSE_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800)


def _response_times(conn: sa.Connection, end: sa.ColumnElement[Any]) -> list[sa.Row[Any]]:
    """Per severity: how many incidents reached `end`, the seconds summed, and how many did
    within each bucket, counted by the database (one row per severity, however many)."""
    if conn.dialect.name == "postgresql":
        seconds: sa.ColumnElement[Any] = sa.func.extract("epoch", end - incident.c.started_at)
    else:  # SQLite keeps times as text that julianday() reads
        seconds = (sa.func.julianday(end) - sa.func.julianday(incident.c.started_at)) * 86400.0
    # To the millisecond: julianday()'s floating point would put 300 s just past 300.
    seconds = sa.func.round(seconds, 3)
    within = [sa.func.sum(sa.case((seconds <= b, 1), else_=0)) for b in RESPONSE_BUCKETS]
    query = (
        sa.select(incident.c.severity, sa.func.count(), sa.func.sum(seconds), *within)
        .where(end.is_not(None))
        .group_by(incident.c.severity)
        .order_by(incident.c.severity)
    )
    return list(conn.execute(query))


class Metrics:
    """Counters and latencies the service updates as it works."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.alerts_received = Counter(
            "incident_bot_alerts_received",
            "Alerts received from Alertmanager, by status.",
            ["status"],
            registry=self.registry,
        )
        self.webhook_seconds = Histogram(
            "incident_bot_webhook_duration_seconds",
            "Time to answer an inbound webhook, storage included.",
            ["source"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        # The webhook's own series, bound once: it is the hot path.
        self.alerts_firing = self.alerts_received.labels("firing")
        self.alerts_resolved = self.alerts_received.labels("resolved")
        self.alertmanager_seconds = self.webhook_seconds.labels("alertmanager")
        self.jobs_finished = Counter(
            "incident_bot_jobs_finished",
            "Job attempts, by kind and outcome (done, pending: failed and to be retried, dead, "
            "postponed: its turn or interval had not come, unreachable: its integration did "
            "not answer).",
            ["kind", "status"],
            registry=self.registry,
        )
        self._database = _FromDatabase(engine)
        self.registry.register(self._database)

    def watch(self, health: IntegrationHealth, integrations: list[str]) -> None:
        """Report these integrations' state from the worker's view of them."""
        self._database.health = health
        self._database.integrations = integrations

    def job_outcome(self, kind: str, status: str) -> None:
        """Count one job attempt."""
        self.jobs_finished.labels(kind, status).inc()


class _FromDatabase(Collector):
    # Read at scrape time from the shared tables, so every replica reports the same figures,
    # and incidents opened from Slack or PagerDuty count as well as Alertmanager's.
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.health: IntegrationHealth | None = None
        self.integrations: list[str] = []

    def collect(self) -> Iterator[Metric]:
        try:
            with self.engine.connect() as conn:
                counts = depth(conn)
                oldest = oldest_ready_age(conn)
                opened = conn.execute(
                    sa.select(incident.c.source, sa.func.count()).group_by(incident.c.source)
                ).all()
                acks = _response_times(conn, incident.c.acknowledged_at)
                resolves = _response_times(conn, incident.c.resolved_at)
        except sa.exc.SQLAlchemyError:
            return
        totals = dict.fromkeys((PENDING, RUNNING, DONE, DEAD), 0)
        for (_, status), n in counts.items():
            totals[status] = totals.get(status, 0) + n
        queue = GaugeMetricFamily(
            "incident_bot_job_queue_depth",
            "Jobs in the durable queue, by status (dead ones wait for a person).",
            labels=["status"],
        )
        for status, n in totals.items():
            queue.add_metric([status], n)
        yield queue
        by_kind = GaugeMetricFamily(
            "incident_bot_job_queue_depth_by_kind",
            "Jobs in the durable queue, by kind and status.",
            labels=["kind", "status"],
        )
        for (kind, status), n in sorted(counts.items()):
            by_kind.add_metric([kind, status], n)
        yield by_kind
        yield GaugeMetricFamily(
            "incident_bot_job_oldest_ready_seconds",
            "How long the longest-waiting ready job has been due.",
            value=oldest,
        )
        yield GaugeMetricFamily(
            "incident_bot_jobs_dead",
            "Jobs given up on, kept for `incident-bot jobs --dead`.",
            value=totals[DEAD],
        )
        if self.health is not None:
            down = self.health.unreachable()
            up = GaugeMetricFamily(
                "incident_bot_integration_up",
                "Whether an integration answered its last call, as this replica saw it.",
                labels=["integration"],
            )
            for name in self.integrations:
                up.add_metric([name], 0 if name in down else 1)
            yield up
        total = CounterMetricFamily(
            "incident_bot_incidents_opened", "Incidents opened, by source.", labels=["source"]
        )
        for source, n in opened:
            total.add_metric([source], n)
        yield total
        yield _histogram(
            "incident_bot_time_to_acknowledge_seconds",
            "From an incident's opening to its first acknowledgement, by severity.",
            acks,
        )
        yield _histogram(
            "incident_bot_time_to_resolve_seconds",
            "From an incident's opening to its resolution, by severity.",
            resolves,
        )


def _histogram(name: str, documentation: str, rows: list[sa.Row[Any]]) -> Metric:
    # Built from the shared table at each scrape: every replica reports the same histogram,
    # and it survives restarts.
    family = HistogramMetricFamily(name, documentation, labels=["severity"])
    for row in rows:
        severity, count, total, *within = tuple(row)
        # `le` written as prometheus_client writes its own ("300.0").
        buckets = [
            (str(float(b)), float(n or 0)) for b, n in zip(RESPONSE_BUCKETS, within, strict=True)
        ]
        buckets.append(("+Inf", float(count)))
        family.add_metric([severity], buckets, sum_value=float(total or 0))
    return family
