"""`/healthz`, `/readyz` and `/metrics`."""

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.db import ping

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """200 while the process runs."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 when the database answers and alerts are being stored, 503 otherwise."""
    if not request.app.state.intake.alive:
        return JSONResponse({"status": "intake writer stopped"}, status_code=503)
    if await run_in_threadpool(ping, request.app.state.reader):
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "database unavailable"}, status_code=503)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """The bot's own metrics in Prometheus text format."""
    body = generate_latest(request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
