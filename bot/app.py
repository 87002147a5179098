"""`create_app(settings)`: the FastAPI app; its lifespan runs the intake writer and worker."""

import gc
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from bot import __version__, rules, runbook_views
from bot.alerts import views as alert_views
from bot.alerts.intake import IngestResult
from bot.alerts.writer import IntakeWriter
from bot.config import Settings
from bot.db import make_engine, migrate, readonly
from bot.health import router as health_router
from bot.hubs import Registry
from bot.incidents import views as incident_views
from bot.metrics import Metrics
from bot.pagerduty import views as pagerduty_views
from bot.pagerduty.client import PagerDutyClient
from bot.pagerduty.jobs import PagerDutyJobs
from bot.prometheus.context import PrometheusContext
from bot.prometheus.jobs import PrometheusJobs
from bot.rules import Rule
from bot.runbooks import Runbooks
from bot.runtime import Runtime
from bot.slack import views as slack_views
from bot.slack.app import build_bolt_app
from bot.slack.client import SlackClient
from bot.slack.jobs import SlackJobs
from bot.worker import Handler, Worker

log = logging.getLogger(__name__)


def _rules(settings: Settings) -> dict[str, Rule]:
    # Only a fallback for alerts without a generatorURL: a broken file must not stop the bot.
    try:
        return rules.by_name(rules.load(settings.resolved_alerts_dir()))
    except rules.RulesError as exc:
        log.error("alert rules not loaded: %s", exc)
        return {}


def create_app(
    settings: Settings,
    *,
    registry: Registry | None = None,
    job_handlers: Mapping[str, Handler] | None = None,
) -> FastAPI:
    """Build the service; raises `RegistryError` if the hub registry is invalid."""
    registry = registry or Registry.load(settings.resolved_hubs_file())
    runbooks = Runbooks.load(
        settings.resolved_runbooks_dir(),
        base_url=settings.runbooks_base_url,
        public_url=settings.public_url,
        strict=False,
    )
    engine = make_engine(settings.database_url)
    reader = readonly(engine)
    metrics = Metrics(reader)
    slack = pagerduty = None
    if settings.slack_bot_token.get_secret_value():
        slack = SlackClient(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    if settings.pagerduty_api_token.get_secret_value():
        pagerduty = PagerDutyClient(
            settings.pagerduty_api_token.get_secret_value(),
            settings.pagerduty_api_url,
            settings.pagerduty_from_email,
        )
    handlers: dict[str, Handler] = {}
    if slack is not None:
        handlers.update(
            SlackJobs(engine, registry, runbooks, slack, pagerduty, settings.timezone).handlers()
        )
    handlers.update(PagerDutyJobs(engine, registry, pagerduty, slack).handlers())
    prometheus = None
    if settings.prometheus_url:
        prometheus = PrometheusContext(settings.prometheus_url)
        handlers.update(PrometheusJobs(engine, prometheus, _rules(settings), slack).handlers())
    handlers.update(job_handlers or {})
    worker = Worker(
        engine,
        handlers,
        threads=settings.worker_threads,
        backoff_base=settings.worker_backoff_seconds,
        on_outcome=metrics.job_outcome,
    )
    runtime = Runtime(settings, registry, runbooks, engine, worker, slack)
    bolt = None
    if slack is not None and settings.slack_signing_secret.get_secret_value():
        bolt = build_bolt_app(runtime, slack.web)

    def after_commit(results: list[IngestResult]) -> None:
        if any(r.jobs or r.incidents for r in results):
            worker.wake()

    intake = IntakeWriter(
        engine, registry, on_commit=after_commit, prometheus_context=prometheus is not None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.log_unconfigured()
        await run_in_threadpool(migrate, engine)
        log.info(
            "hub registry %s: %d clusters, %d hubs",
            registry.source,
            len(registry.clusters),
            sum(len(c.hubs) for c in registry.clusters.values()),
        )
        intake.start()
        worker.start()
        # Everything loaded so far lives as long as the process: keep the cyclic garbage
        # collector from walking it again and again (p99 under an alert storm halves).
        gc.freeze()
        try:
            yield
        finally:
            intake.stop()
            worker.stop()
            engine.dispose()

    app = FastAPI(
        title="incident-bot",
        version=__version__,
        summary="Incident response for teams that run many JupyterHubs.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.engine = engine
    app.state.reader = reader
    app.state.metrics = metrics
    app.state.intake = intake
    app.state.worker = worker
    app.state.runtime = runtime
    app.state.slack_bolt = bolt

    @app.exception_handler(sa.exc.OperationalError)
    async def database_unavailable(_request: Request, exc: sa.exc.OperationalError) -> JSONResponse:
        log.error("database error: %s", exc)
        return JSONResponse({"detail": "database unavailable; retry"}, status_code=503)

    # The webhook first: routes are matched in order, and it is the hot path.
    app.include_router(alert_views.router)
    app.include_router(health_router)
    app.include_router(incident_views.router)
    app.include_router(slack_views.router)
    app.include_router(pagerduty_views.router)
    app.include_router(runbook_views.router)
    return app
