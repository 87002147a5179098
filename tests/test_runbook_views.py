"""`/runbooks/` and `/runbooks/<name>`: an index, HTML for browsers, markdown for the rest."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from tests.conftest import Service, running

HOSTILE = """---
title: Disk <b>full</b> & "quoted"
alerts: ['Disk.*Full', 'Home<Dir>']
---

# Disk full

1. Look at `df -h`.
2. Read [the guide](https://example.org/guide) and **act**.

<script>alert(1)</script>
<img src=x onerror=alert(2)>
[click](javascript:alert(3))

| a | b |
|---|---|
| 1 | 2 |
"""

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def svc(settings: Settings, tmp_path: Path) -> Iterator[Service]:
    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "disk-full.md").write_text(HOSTILE)
    (folder / "other.md").write_text("---\ntitle: Other\nalerts: [Other]\n---\n\n# Other\n")
    with running(settings.model_copy(update={"runbooks_dir": folder})) as service:
        yield service


def test_the_index_lists_each_runbook_its_alerts_and_a_link(svc: Service):
    with svc.client() as c:
        r = c.get("/runbooks/")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        page = r.text
        assert re.findall(r"href='([^']+)'", page) == [
            "/runbooks/",
            "/runbooks/disk-full",
            "/runbooks/other",
        ]
        assert "Disk &lt;b&gt;full&lt;/b&gt; &amp; &quot;quoted&quot;" in page
        assert "<code>Disk.*Full</code>" in page and "<code>Home&lt;Dir&gt;</code>" in page
        assert "<b>" not in page
        r = c.get("/runbooks")
        assert r.status_code == 307 and r.headers["location"].endswith("/runbooks/")


def test_a_browser_gets_the_runbook_rendered_and_escaped(svc: Service):
    with svc.client() as c:
        r = c.get("/runbooks/disk-full", headers=BROWSER)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src" not in r.headers["content-security-policy"]
    assert "default-src 'none'" in r.headers["content-security-policy"]
    page = r.text
    assert "<h1>Disk full</h1>" in page
    assert "<li>Look at <code>df -h</code>.</li>" in page
    assert '<a href="https://example.org/guide">the guide</a>' in page
    assert "<strong>act</strong>" in page and "<table>" in page
    # Raw HTML from the runbook is text, and a javascript: link is no link.
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "javascript:" not in re.sub(r"\[click\]\(javascript:alert\(3\)\)", "", page)
    assert "<title>Disk &lt;b&gt;full&lt;/b&gt; &amp; &quot;quoted&quot;</title>" in page


def test_other_clients_get_the_markdown_as_written(svc: Service):
    with svc.client() as c:
        for headers, params in [({}, {}), (BROWSER, {"format": "md"}), ({"Accept": "*/*"}, {})]:
            r = c.get("/runbooks/disk-full", headers=headers, params=params)
            assert r.status_code == 200
            assert r.headers["content-type"] == "text/markdown; charset=utf-8"
            assert r.text.startswith("# Disk full\n") and "<script>alert(1)</script>" in r.text
        r = c.get("/runbooks/disk-full", params={"format": "html"})
        assert "<h1>Disk full</h1>" in r.text
        assert c.get("/runbooks/disk-full", params={"format": "pdf"}).status_code == 422
        assert c.get("/runbooks/nope", headers=BROWSER).status_code == 404
