"""`/docs` and `/redoc` from assets the bot serves itself, and the schema's security schemes.

The schemes only describe: every credential is still checked by the view that needs it
(bot.auth, the webhooks' signature checks), so declaring one changes no answer.
"""

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.security import APIKeyHeader, HTTPBearer
from fastapi.staticfiles import StaticFiles

# fastapi-offline ships Swagger UI 5 (which reads OpenAPI 3.1, as FastAPI writes it) and ReDoc.
ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/docs-assets"

# Used as `dependencies=[Security(...)]` by the webhooks: none raises (auto_error=False).
ALERTMANAGER_BEARER = HTTPBearer(
    scheme_name="AlertmanagerToken",
    description="`Authorization: Bearer <ALERTMANAGER_TOKEN>`",
    auto_error=False,
)
SLACK_SIGNATURE = APIKeyHeader(
    name="X-Slack-Signature",
    scheme_name="SlackSignature",
    description="Slack request signing: `v0=<hex HMAC-SHA256(SLACK_SIGNING_SECRET, "
    "'v0:' + timestamp + ':' + raw body)>`, the timestamp (Unix seconds) sent as "
    "X-Slack-Request-Timestamp and refused outside a 5-minute window",
    auto_error=False,
)
PAGERDUTY_SIGNATURE = APIKeyHeader(
    name="X-PagerDuty-Signature",
    scheme_name="PagerDutySignature",
    description="`v1=<hex HMAC-SHA256(PAGERDUTY_WEBHOOK_SECRET, raw body)>`, several "
    "comma-separated may be sent",
    auto_error=False,
)
# /api/* is guarded by bot.deps.ApiAuth; its lock is added to the schema by path, below.
API_BEARER = HTTPBearer(
    scheme_name="ApiToken", description="`Authorization: Bearer <API_TOKEN>`", auto_error=False
)
API_PREFIX = "/api/"


def install(app: FastAPI) -> None:
    """Serve `/docs`, `/redoc` and their assets; add the API's security to the schema."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    original = app.openapi

    def openapi() -> dict[str, Any]:
        built = app.openapi_schema is not None
        schema = original()  # FastAPI's own, built once and kept
        return schema if built else with_api_security(schema)

    app.openapi = openapi  # type: ignore[method-assign]


def with_api_security(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with the API token's scheme, required by each `/api/*` operation."""
    name = API_BEARER.scheme_name
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[name] = API_BEARER.model.model_dump(mode="json", by_alias=True, exclude_none=True)
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for operation in operations.values():
            if isinstance(operation, dict):
                operation.setdefault("security", [{name: []}])
    return schema
