"""The bot's own Prometheus metrics, on a registry per app (tests run several apps)."""

from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from bot.jobs.queue import depth


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
        self.incidents_opened = Counter(
            "incident_bot_incidents_opened",
            "Incidents opened, by source.",
            ["source"],
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
        self.registry.register(_QueueDepth(engine))

    def job_outcome(self, kind: str, status: str) -> None:
        """Count one job attempt."""
        self.jobs_finished.labels(kind, status).inc()


class _QueueDepth(Collector):
    # Read at scrape time from the shared table, so every replica reports the same queue.
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "incident_bot_job_queue_depth",
            "Jobs in the durable queue, by status.",
            labels=["status"],
        )
        try:
            with self.engine.connect() as conn:
                counts = depth(conn)
        except sa.exc.SQLAlchemyError:
            return
        for status, n in counts.items():
            family.add_metric([status], n)
        yield family
