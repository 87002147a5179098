"""`GET /`: a small page linking the docs, health, runbooks and the public status pages."""

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bot import __version__
from bot.deps import RegistryDep

router = APIRouter(tags=["home"])

STYLE = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}"


@router.get("/", response_class=HTMLResponse)
def home(request: Request, registry: RegistryDep) -> HTMLResponse:
    """Where to go from here; private communities' status pages are not listed."""
    root = request.scope.get("root_path", "")

    def link(path: str, text: str) -> str:
        return f'<li><a href="{escape(root + path)}">{escape(text)}</a></li>'

    service = [
        link("/docs", "API documentation (Swagger UI)"),
        link("/redoc", "API documentation (ReDoc)"),
        link("/healthz", "/healthz: the process runs"),
        link("/readyz", "/readyz: the database answers"),
        link("/metrics", "/metrics: Prometheus metrics"),
        link("/runbooks/", "Runbooks"),
    ]
    public = sorted(
        (c for c in registry.communities.values() if c.visibility == "public"),
        key=lambda c: c.name.lower(),
    )
    status = [link(f"/status/{c.id}", c.name) for c in public]
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>incident-bot</title><style>{STYLE}</style></head><body>"
        f"<h1>incident-bot</h1><p>Version {escape(__version__)}.</p>"
        f"<h2>Service</h2><ul>{''.join(service)}</ul>"
        "<h2>Status pages</h2>"
        + (f"<ul>{''.join(status)}</ul>" if status else "<p>No public status pages.</p>")
        + "</body></html>"
    )
    return HTMLResponse(page)
