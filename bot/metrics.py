"""The bot's own Prometheus metrics, on a registry per app (tests run several apps)."""

from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from bot.incidents.models import Incident
from bot.jobs.queue import depth

incident = Incident.__table__  # type: ignore[attr-defined]


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
        self.jobs_finished = Counter(
            "incident_bot_jobs_finished",
            "Job attempts, by kind and outcome.",
            ["kind", "status"],
            registry=self.registry,
        )
        self.registry.register(_FromDatabase(engine))

    def job_outcome(self, kind: str, status: str) -> None:
        """Count one job attempt."""
        self.jobs_finished.labels(kind, status).inc()


class _FromDatabase(Collector):
    # Read at scrape time from the shared tables, so every replica reports the same figures,
    # and incidents opened from Slack or PagerDuty count as well as Alertmanager's.
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        try:
            with self.engine.connect() as conn:
                counts = depth(conn)
                opened = conn.execute(
                    sa.select(incident.c.source, sa.func.count()).group_by(incident.c.source)
                ).all()
        except sa.exc.SQLAlchemyError:
            return
        queue = GaugeMetricFamily(
            "incident_bot_job_queue_depth",
            "Jobs in the durable queue, by status.",
            labels=["status"],
        )
        for status, n in counts.items():
            queue.add_metric([status], n)
        yield queue
        total = CounterMetricFamily(
            "incident_bot_incidents_opened", "Incidents opened, by source.", labels=["source"]
        )
        for source, n in opened:
            total.add_metric([source], n)
        yield total
