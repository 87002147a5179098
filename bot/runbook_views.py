"""`/runbooks/` and `/runbooks/<name>`: the runbooks, readable in a browser when
RUNBOOKS_BASE_URL is unset; markdown as written for other clients (or `?format=md`)."""

from html import escape
from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from markdown_it import MarkdownIt

from bot.negotiation import preferred
from bot.runbooks import Runbook, Runbooks

router = APIRouter(tags=["runbooks"])

# Raw HTML in a runbook is shown as text, never passed through; markdown-it also refuses
# javascript:, vbscript: and data: (but images) links by itself.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")
_HEADERS = {
    # Nothing runs and nothing loads from elsewhere: a runbook's images only over https.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src https:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Vary": "Accept",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5}pre{overflow-x:auto;background:#f6f8fa;padding:.75rem}"
    "code{font-size:.95em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
    "padding:.25rem .5rem;text-align:left;vertical-align:top}"
)
_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "content": {"text/html": {}, "text/markdown": {}},
        "description": "HTML for a browser (`Accept: text/html`), else the markdown as written",
    },
    404: {"description": "no such runbook"},
}


def wants_html(accept: str | None) -> bool:
    """Whether `Accept` prefers HTML to markdown (curl's `*/*` does not)."""
    best = preferred(
        accept,
        {
            "html": ("text/html", "application/xhtml+xml"),
            "markdown": ("text/markdown", "text/plain"),
        },
    )
    return best["html"] > best["markdown"]


def _page(title: str, body: str, root: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<nav><a href='{escape(root)}/runbooks/'>All runbooks</a></nav>{body}</body></html>"
    )


def _runbooks(request: Request) -> Runbooks:
    books: Runbooks = request.app.state.runtime.runbooks
    return books


@router.get("/runbooks/", response_class=HTMLResponse)
def runbook_index(request: Request) -> HTMLResponse:
    """Every runbook: its title, the alert names it answers (regular expressions), a link."""
    root = request.scope.get("root_path", "")
    rows = "".join(
        f"<tr><td><a href='{escape(root)}/runbooks/{escape(b.slug)}'>{escape(b.title)}</a></td>"
        f"<td>{'<br>'.join(f'<code>{escape(p.pattern)}</code>' for p in b.patterns)}</td></tr>"
        for b in _runbooks(request).books
    )
    body = "<h1>Runbooks</h1>" + (
        f"<table><thead><tr><th>Runbook</th><th>Alerts it answers</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        if rows
        else "<p>No runbooks are loaded.</p>"
    )
    return HTMLResponse(_page("Runbooks", body, root), headers=_HEADERS)


@router.get("/runbooks/{name}", response_class=HTMLResponse, responses=_RESPONSES)
def runbook(name: str, request: Request, format: Literal["md", "html"] | None = None) -> Response:
    """One runbook: HTML for a browser, its markdown as written otherwise."""
    book = _runbooks(request).get(name)
    if book is None:
        raise HTTPException(404, detail=f"no runbook {name!r}")
    as_html = format == "html" if format else wants_html(request.headers.get("accept"))
    if not as_html:
        return Response(
            book.body.strip() + "\n", media_type="text/markdown; charset=utf-8", headers=_HEADERS
        )
    return HTMLResponse(render(book, root=request.scope.get("root_path", "")), headers=_HEADERS)


def render(book: Runbook, *, root: str = "") -> str:
    """The runbook as a page of its own: its markdown rendered, raw HTML escaped."""
    return _page(book.title, f"<main>{_MARKDOWN.render(book.body)}</main>", root)
