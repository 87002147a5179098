"""`create_app(settings)`: the FastAPI app; its lifespan runs the intake writer and worker."""

import gc
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bot import __version__, access_log, docs, home, rules, runbook_views
from bot.alerts import views as alert_views
from bot.alerts import webhook
from bot.alerts.intake import Extras, IngestResult
from bot.alerts.writer import IntakeWriter
from bot.body_limits import BodyLimits
from bot.config import Settings
from bot.db import make_engine, migrate, readonly
from bot.effects.channel import ChannelEffects
from bot.effects.context import ContextEffects
from bot.effects.github import GitHubEffects
from bot.effects.messages import MessageEffects
from bot.effects.observe import QuietChannelEffects
from bot.effects.paging import PagingEffects
from bot.github.client import GitHubClient
from bot.health import router as health_router
from bot.hubs import Registry
from bot.incidents import views as incident_views
from bot.incidents.catch_up import open_missing_channels
from bot.jobs import queue
from bot.jobs.worker import Performer, Worker
from bot.metrics import Metrics
from bot.pagerduty import views as pagerduty_views
from bot.pagerduty.client import PagerDutyClient
from bot.pagerduty.events import PagerDutyEvents
from bot.prometheus.context import PrometheusContext
from bot.rules import Rule
from bot.runbooks import Runbooks
from bot.runtime import Runtime
from bot.slack import views as slack_views
from bot.slack.app import build_bolt_app
from bot.slack.client import SlackClient
from bot.slack.pacing import SlackPacer
from bot.slack.socket_mode import SocketMode
from bot.status import views as status_views

log = logging.getLogger(__name__)

# At most one edit of an incident's summary message per this many seconds.
EDIT_INTERVAL = 15.0


class _App(FastAPI):
    """FastAPI, but for the Alertmanager webhook: each delivery of an alert storm goes
    straight to its endpoint, not through FastAPI's middleware, routing and dependencies."""

    alertmanager: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if webhook.is_delivery(scope):
            await self.alertmanager(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


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
    performers: Iterable[Performer[Any]] = (),
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
    scale = settings.slack_rate_scale
    if settings.slack_bot_token.get_secret_value():
        slack = SlackClient(
            settings.slack_bot_token.get_secret_value(),
            settings.slack_api_url,
            pacer=SlackPacer(scale),
        )
    if settings.pagerduty_api_token.get_secret_value():
        pagerduty = PagerDutyClient(
            settings.pagerduty_api_token.get_secret_value(),
            settings.pagerduty_api_url,
            settings.pagerduty_from_email,
        )
    # What the worker performs follows what is configured, and so does what is queued: jobs
    # for an integration that is not configured are not queued (turned on later, Slack gets
    # the channels of the incidents still open, at start-up). Replicas share one configuration.
    found: list[Performer[Any]] = [
        *PagerDutyEvents(engine, registry, people=bool(slack and pagerduty)).performers()
    ]
    if slack is not None:
        found += ChannelEffects(
            engine, registry, runbooks, slack, pagerduty, edit_interval=EDIT_INTERVAL / scale
        ).performers()
        found += MessageEffects(
            engine,
            registry,
            slack,
            timezone=settings.timezone,
            postmortem_template=settings.postmortem_template,
        ).performers()
        if settings.observe_channel:
            found += QuietChannelEffects(
                engine,
                registry,
                runbooks,
                slack,
                settings.observe_channel,
                edit_interval=EDIT_INTERVAL / scale,
            ).performers()
    if pagerduty is not None:
        found += PagingEffects(engine, registry, pagerduty, slack).performers()
    github = None
    if settings.github_token.get_secret_value():
        github = GitHubClient(settings.github_token.get_secret_value(), settings.github_api_url)
        found += GitHubEffects(
            engine,
            registry,
            github,
            slack,
            timezone=settings.timezone,
            reports_path=settings.github_reports_path,
            repo=settings.github_repo,
            public_url=settings.public_url,
            template=settings.postmortem_template,
        ).performers()
    prometheus = None
    if settings.prometheus_url:
        prometheus = PrometheusContext(settings.prometheus_url)
        found += ContextEffects(engine, prometheus, _rules(settings), slack).performers()
    found += performers
    # Jobs of an integration that nothing here performs are not queued at all.
    queue.configure(engine, (p.kind.integration for p in found))
    worker = Worker(
        engine,
        found,
        threads=settings.worker_threads,
        lease=settings.worker_lease_seconds,
        backoff_base=settings.worker_backoff_seconds,
        give_up_after=settings.worker_give_up_seconds,
        on_outcome=metrics.job_outcome,
    )
    metrics.watch(
        worker.health,
        sorted({p.kind.integration for p in found if p.kind.integration is not None}),
    )
    runtime = Runtime(settings, registry, runbooks, engine, worker, slack)
    bolt = socket_mode = None
    app_token = settings.slack_app_token.get_secret_value()
    if slack is not None and (settings.slack_signing_secret.get_secret_value() or app_token):
        bolt = build_bolt_app(runtime, slack.web)
    if bolt is not None and app_token:
        # The same listeners, fed over a WebSocket that the bot opens: no public URL needed.
        socket_mode = SocketMode(bolt, app_token)

    def after_commit(results: list[IngestResult]) -> None:
        # Only for new jobs: alerts joining an incident whose refresh waits already add none.
        jobs = sum(r.jobs for r in results)
        if jobs:
            worker.wake(jobs)

    extras = Extras(
        prometheus_context=prometheus is not None,
        # Alerts that open no incident are only stored, unless the quiet channel shows them.
        quiet_channel=slack is not None and bool(settings.observe_channel),
    )
    intake = IntakeWriter(engine, registry, on_commit=after_commit, extras=extras)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("incident-bot %s starting", __version__)
        settings.log_configured()
        settings.log_unconfigured()
        await run_in_threadpool(migrate, engine)
        if slack is not None:
            # Slack turned on later: channels for the incidents still open that have none.
            await run_in_threadpool(open_missing_channels, engine)
        log.info(
            "hub registry %s: %d clusters, %d hubs",
            registry.source,
            len(registry.clusters),
            sum(len(c.hubs) for c in registry.clusters.values()),
        )
        for warning in registry.warnings:
            log.warning("%s", warning)
        intake.start()
        worker.start()
        if socket_mode is not None:
            socket_mode.start()  # connects in its own thread, Slack reachable or not
        # Everything loaded so far lives as long as the process: keep the cyclic garbage
        # collector from walking it again and again (p99 under an alert storm halves).
        gc.freeze()
        try:
            yield
        finally:
            if socket_mode is not None:
                await run_in_threadpool(socket_mode.stop)
            intake.stop()
            worker.stop()
            if github is not None:
                github.close()
            engine.dispose()

    app = _App(
        title="incident-bot",
        version=__version__,
        summary="Incident response for teams that run many JupyterHubs.",
        lifespan=lifespan,
        # The bot exports its own metrics (/metrics); FastAPI's OpenTelemetry hooks would
        # look up the providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Served by bot.docs from the bot's own assets, not a CDN.
        docs_url=None,
        redoc_url=None,
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
    app.state.socket_mode = socket_mode
    app.alertmanager = webhook.alertmanager_endpoint(app.state)

    @app.exception_handler(sa.exc.OperationalError)
    async def database_unavailable(_request: Request, exc: sa.exc.OperationalError) -> JSONResponse:
        log.error("database error: %s", exc)
        return JSONResponse({"detail": "database unavailable; retry"}, status_code=503)

    app.include_router(alert_views.router)
    app.include_router(health_router)
    app.include_router(incident_views.router)
    app.include_router(slack_views.router)
    app.include_router(pagerduty_views.router)
    app.include_router(runbook_views.router)
    app.include_router(status_views.router)
    app.include_router(home.router)
    docs.install(app)
    # Outermost of ours: a body is limited while it is read, before any view authenticates.
    app.add_middleware(BodyLimits)
    # Wherever the app is served, its access log never shows a token passed in a query string.
    access_log.install()
    return app
