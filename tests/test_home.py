"""`GET /`: a page linking the docs, health, runbooks and the public communities' status pages."""

import re
from pathlib import Path

import yaml

from bot.config import Settings
from tests.conftest import ROOT, running


def registry(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "hubs.yaml").read_text())
    data["communities"] = [
        {"id": "alpha", "name": "Alpha <Lab>", "visibility": "public"},
        {"id": "beta", "name": "Beta Private", "visibility": "private", "token_sha256": "a" * 64},
    ]
    for cluster in data["clusters"]:
        for hub in cluster["hubs"]:
            hub["community"] = "alpha"
    path = tmp_path / "hubs.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_home_links_docs_health_runbooks_and_public_status_pages(
    settings: Settings, tmp_path: Path
):
    with running(settings.model_copy(update={"hubs_file": registry(tmp_path)})) as svc:
        with svc.client() as c:
            r = c.get("/")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
            links = re.findall(r'href="([^"]+)"', r.text)
            for path in ("/docs", "/healthz", "/readyz", "/metrics", "/runbooks/"):
                assert path in links
            assert "/status/alpha" in links and "/status/beta" not in links
            assert "Beta Private" not in r.text
            assert "Alpha &lt;Lab&gt;" in r.text  # names escaped
            # No script and nothing loaded from elsewhere.
            assert "<script" not in r.text and "http" not in r.text.replace("http-equiv", "")
            for link in links:
                assert c.get(link).status_code == 200, link
