"""`GET /runbooks/<name>`: the runbooks, readable in a browser when RUNBOOKS_BASE_URL is unset."""

import html

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["runbooks"])


@router.get("/runbooks/{name}", response_class=HTMLResponse)
def runbook(name: str, request: Request) -> HTMLResponse:
    """One runbook, its markdown shown as written."""
    book = request.app.state.runtime.runbooks.get(name)
    if book is None:
        raise HTTPException(404, detail=f"no runbook {name!r}")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(book.title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem}pre{white-space:pre-wrap;font-size:1rem;line-height:1.5}</style>"
        f"</head><body><h1>{html.escape(book.title)}</h1>"
        f"<pre>{html.escape(book.body.strip())}</pre></body></html>"
    )
    return HTMLResponse(page)
