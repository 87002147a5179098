"""`/docs` and `/redoc` from the bot's own assets; security schemes and webhook bodies in the
schema, which describe the credentials without changing who gets in."""

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium, needs_chromium
from tests.conftest import Service


@pytest.fixture
def schema(service: Service) -> dict[str, Any]:
    with service.client() as c:
        r = c.get("/openapi.json")
    assert r.status_code == 200
    found: dict[str, Any] = r.json()
    return found


def test_security_schemes_describe_each_credential(schema: dict[str, Any]):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <API_TOKEN>`",
    }
    assert schemes["AlertmanagerToken"]["type"] == "http"
    assert schemes["AlertmanagerToken"]["scheme"] == "bearer"
    for name, header in [
        ("SlackSignature", "X-Slack-Signature"),
        ("PagerDutySignature", "X-PagerDuty-Signature"),
    ]:
        assert schemes[name]["type"] == "apiKey"
        assert schemes[name]["in"] == "header" and schemes[name]["name"] == header


def test_each_operation_shows_its_lock(schema: dict[str, Any]):
    paths = schema["paths"]
    api = [(p, op) for p, ops in paths.items() if p.startswith("/api/") for op in ops.values()]
    assert len(api) >= 4
    assert all(op["security"] == [{"ApiToken": []}] for _, op in api), api
    assert paths["/webhooks/alertmanager"]["post"]["security"] == [{"AlertmanagerToken": []}]
    assert paths["/webhooks/pagerduty"]["post"]["security"] == [{"PagerDutySignature": []}]
    assert paths["/slack/events"]["post"]["security"] == [{"SlackSignature": []}]
    for open_path in ("/healthz", "/readyz", "/metrics", "/", "/runbooks/"):
        assert "security" not in paths[open_path]["get"], open_path


def test_webhooks_declare_their_bodies(schema: dict[str, Any]):
    paths = schema["paths"]

    def body(path: str) -> dict[str, Any]:
        content: dict[str, Any] = paths[path]["post"]["requestBody"]["content"]
        return content

    am = body("/webhooks/alertmanager")["application/json"]["schema"]
    assert {"version", "groupKey", "status", "alerts"} <= set(am["required"])
    assert "startsAt" in am["properties"]["alerts"]["items"]["properties"]
    pd = body("/webhooks/pagerduty")["application/json"]["schema"]
    assert pd["required"] == ["event"] and "event_type" in pd["properties"]["event"]["properties"]
    slack = body("/slack/events")["application/x-www-form-urlencoded"]["schema"]
    assert slack["properties"]["command"]["enum"] == ["/incident"]
    # Inlined: no reference into a `$defs` that an OpenAPI document does not have.
    assert "$defs" not in str(paths)


def test_declaring_the_schemes_lets_no_one_in(service: Service):
    with service.client() as c:
        r = c.get("/api/incidents")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        r = c.post("/webhooks/alertmanager", json={})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        r = c.post("/webhooks/pagerduty", json={}, headers={"X-PagerDuty-Signature": "v1=00"})
        assert r.status_code == 401
        r = c.post("/slack/events", data={"command": "/incident"})
        assert r.status_code == 401
    with service.client("wrong") as c:
        assert c.get("/api/alerts").status_code == 401
    with service.api as c:
        assert c.get("/api/alerts").status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_load_nothing_from_elsewhere(service: Service, path: str):
    with service.client() as c:
        page = c.get(path)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        assert assets and all(a.startswith("/docs-assets/") for a in assets), assets
        assert "/openapi.json" in page.text
        assert "cdn" not in page.text.lower() and "fonts.googleapis" not in page.text
        for asset in assets:
            r = c.get(asset)
            assert r.status_code == 200 and len(r.content) > 1000, asset
        assert c.get("/docs-assets/no-such-file.js").status_code == 404


@needs_chromium
def test_swagger_ui_renders_with_an_authorize_button(service: Service, tmp_path: Path):
    dom = chromium(
        tmp_path,
        # Swagger UI fetches the schema and renders after load: give it time to.
        "--virtual-time-budget=10000",
        "--dump-dom",
        f"{service.url}/docs",
        timeout=90,
    )
    assert "btn authorize" in dom, dom[-2000:]
    assert "/webhooks/alertmanager" in dom and "/api/incidents" in dom
    # One lock per operation that needs a credential.
    assert dom.count("authorization__btn") >= 8
    assert "Unable to render this definition" not in dom
