"""`/status/{community}`: partner status pages, an incident's partner timeline, the Atom feed."""

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from bot.db import utcnow
from bot.deps import ReadSessionDep, RegistryDep, SettingsDep
from bot.incidents.views import IncidentNumber
from bot.negotiation import preferred
from bot.status import feed, pages, reads
from bot.status.access import Viewer, ViewerDep
from bot.status.schemas import StatusIncidentDetail, StatusPageRead

router = APIRouter(prefix="/status", tags=["status pages"])

_HTML: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/html": {}},
        "description": "HTML, or JSON with `Accept: application/json`",
    }
}
_REFUSED: dict[int | str, dict[str, Any]] = {
    401: {"description": "a private community's token is missing or wrong"},
    404: {"description": "no such community, or no such incident of it"},
}


def wants_json(accept: str | None) -> bool:
    """Whether `Accept` prefers JSON to HTML (a browser's `*/*` does not)."""
    best = preferred(
        accept, {"json": ("application/json", "application/*"), "html": ("text/html", "text/*")}
    )
    return best["json"] > best["html"]


def _headers(viewer: Viewer) -> dict[str, str]:
    private = viewer.community.visibility == "private"
    return {
        # A page's address may hold a token, and so may its links: no Referer carries them
        # to a hub's site, and no shared cache keeps a private community's page.
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "private, no-store" if private else "no-cache",
        "Content-Security-Policy": pages.CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept, Authorization",
    }


@router.get("/{community}", response_model=StatusPageRead, responses={**_HTML, **_REFUSED})
def status_page(
    request: Request,
    viewer: ViewerDep,
    session: ReadSessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
) -> Response:
    """The community's open incidents, then those of the last 90 days."""
    now = utcnow()
    page = reads.status_page(
        session, registry, viewer.community, now=now, public_url=settings.public_url
    )
    if wants_json(request.headers.get("accept")):
        return JSONResponse(page.model_dump(mode="json"), headers=_headers(viewer))
    root = request.scope.get("root_path", "")
    html = pages.status_page_html(page, viewer, root=root, now=now)
    return HTMLResponse(html, headers=_headers(viewer))


@router.get(
    "/{community}/incidents/{number}",
    response_model=StatusIncidentDetail,
    responses={**_HTML, **_REFUSED},
)
def incident_page(
    request: Request,
    number: IncidentNumber,
    viewer: ViewerDep,
    session: ReadSessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
) -> Response:
    """One incident of the community with its partner-visible timeline."""
    incident = reads.incident_of(session, viewer.community, number)
    if incident is None:
        # The same answer for another community's incident as for a missing one.
        raise HTTPException(404, detail=f"no incident {number} on this status page")
    detail = reads.incident_detail(
        session, registry, viewer.community, incident, public_url=settings.public_url
    )
    if wants_json(request.headers.get("accept")):
        return JSONResponse(detail.model_dump(mode="json"), headers=_headers(viewer))
    root = request.scope.get("root_path", "")
    html = pages.incident_page_html(detail, viewer, root=root, now=utcnow())
    return HTMLResponse(html, headers=_headers(viewer))


@router.get(
    "/{community}/feed.xml",
    response_class=Response,
    responses={200: {"content": {feed.MEDIA_TYPE: {}}}, **_REFUSED},
)
def atom_feed(
    viewer: ViewerDep, session: ReadSessionDep, registry: RegistryDep, settings: SettingsDep
) -> Response:
    """Atom: one entry per partner-visible update of the last 90 days, newest first."""
    now = utcnow()
    events = reads.feed_events(
        session, registry, viewer.community, now=now, public_url=settings.public_url
    )
    body = feed.atom_feed(
        viewer.community,
        events,
        public_url=settings.public_url,
        token=viewer.link_token,
        now=now,
    )
    return Response(body, media_type=f"{feed.MEDIA_TYPE}; charset=utf-8", headers=_headers(viewer))
