"""`/healthz`, `/readyz` and `/metrics`."""

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.engine import Engine

from bot.jobs.models import DEAD
from bot.jobs.queue import job

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """200 while the process runs."""
    return {"status": "ok"}


def _dead_jobs(engine: Engine) -> int | None:
    try:
        with engine.connect() as conn:
            found = conn.execute(sa.select(sa.func.count()).where(job.c.status == DEAD)).scalar()
        return int(found or 0)
    except sa.exc.SQLAlchemyError:
        return None


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 when the database answers and alerts are being stored, 503 otherwise.

    The detail names what needs a person without failing readiness: dead jobs, and the
    integrations this replica cannot reach (taking every replica out of service would not
    bring Slack back)."""
    state = request.app.state
    if not state.intake.alive:
        return JSONResponse({"status": "intake writer stopped"}, status_code=503)
    dead = await run_in_threadpool(_dead_jobs, state.reader)
    if dead is None:
        return JSONResponse({"status": "database unavailable"}, status_code=503)
    return JSONResponse(
        {
            "status": "ok",
            "dead_jobs": dead,
            "unreachable": state.worker.health.unreachable(),
        }
    )


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """The bot's own metrics in Prometheus text format."""
    body = generate_latest(request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
