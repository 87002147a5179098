"""Partner status pages, driven over real HTTP: who may see what, what they see, the feed."""

import xml.etree.ElementTree as ET
from datetime import datetime
from html.parser import HTMLParser

import httpx
import pytest

from tests.conftest import count
from tests.status.conftest import (
    ALPHA_TOKEN,
    BETA_TITLE,
    BETA_TOKEN,
    HOSTILE_UPDATE,
    INTERNAL_NOTE,
    OLD_TITLE,
    PARTNER_UPDATE,
    PUBLIC_URL,
    Seeded,
)

A = "{http://www.w3.org/2005/Atom}"
JSON = {"Accept": "application/json"}


def get(seeded: Seeded, path: str, *, token: str | None = None, **kwargs: object) -> httpx.Response:
    with seeded.service.client(token) as c:
        return c.get(path, **kwargs)  # type: ignore[arg-type]


def pages(seeded: Seeded) -> list[str]:
    return [
        "/status/alpha",
        f"/status/alpha/incidents/{seeded.alpha_open}",
        "/status/alpha/feed.xml",
    ]


class Parsed(HTMLParser):
    """The text, links and other attribute values of a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.hrefs: list[str] = []
        self.other: list[str] = []
        self.tags: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            (self.hrefs if name == "href" else self.other).append(value or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


# Who may see what


@pytest.mark.parametrize("token", [None, "wrong", BETA_TOKEN, ALPHA_TOKEN.upper()])
def test_a_private_community_refuses_without_its_own_token(seeded: Seeded, token: str | None):
    before = count(seeded.service.engine, "timeline_event")
    for path in pages(seeded):
        for r in (
            get(seeded, path, token=token),
            get(seeded, path, params={"token": token} if token else {}),
        ):
            assert r.status_code == 401, (path, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.json()["detail"]
            assert "Alpha hub down" not in r.text
    assert count(seeded.service.engine, "timeline_event") == before


def test_the_token_works_as_a_bearer_header_and_in_the_query(seeded: Seeded):
    for path in pages(seeded):
        assert get(seeded, path, token=ALPHA_TOKEN).status_code == 200, path
        assert get(seeded, path, params={"token": ALPHA_TOKEN}).status_code == 200, path
        # A wrong header beside the right query token (or the other way round) still opens.
        r = get(seeded, path, token="wrong", params={"token": ALPHA_TOKEN})
        assert r.status_code == 200


def test_a_public_community_needs_no_token(seeded: Seeded):
    r = get(seeded, "/status/pub")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "Public Hubs" in r.text
    assert "No incidents in the last 90 days." in Parsed(r.text).words
    assert get(seeded, "/status/pub/feed.xml").status_code == 200
    assert get(seeded, "/status/pub", headers=JSON).json()["incidents"] == []
    # A token sent to a public page is not needed, and not carried into its links.
    r = get(seeded, "/status/pub", params={"token": "anything"})
    assert r.status_code == 200 and "anything" not in r.text


def test_a_private_community_without_a_token_hash_opens_to_nobody(seeded: Seeded):
    for token in (None, "", ALPHA_TOKEN, "closed"):
        for r in (
            get(seeded, "/status/closed", token=token),
            get(seeded, "/status/closed", params={"token": token} if token is not None else {}),
            get(seeded, f"/status/closed/incidents/{seeded.closed_open}", token=token),
            get(seeded, "/status/closed/feed.xml", token=token),
        ):
            assert r.status_code == 401
            assert "no token configured" in r.json()["detail"]
            assert "Closed hub down" not in r.text


@pytest.mark.parametrize(
    "path", ["/status/nope", "/status/nope/feed.xml", "/status/nope/incidents/1"]
)
def test_an_unknown_community_is_404(seeded: Seeded, path: str):
    r = get(seeded, path, token=ALPHA_TOKEN)
    assert r.status_code == 404
    assert r.json()["detail"]


def test_another_communitys_incident_is_404_without_its_title(seeded: Seeded):
    theirs = get(seeded, f"/status/alpha/incidents/{seeded.beta_open}", token=ALPHA_TOKEN)
    missing = get(seeded, "/status/alpha/incidents/999999", token=ALPHA_TOKEN)
    for r in (theirs, missing):
        assert r.status_code == 404
        assert "no incident" in r.json()["detail"]
    assert BETA_TITLE not in theirs.text and "Beta" not in theirs.text
    # The same shape either way: nothing tells another community's incident from none.
    assert theirs.json()["detail"].replace(str(seeded.beta_open), "N") == missing.json()[
        "detail"
    ].replace("999999", "N")
    # Beta's own token opens it on beta's page, and never on alpha's.
    assert get(seeded, f"/status/beta/incidents/{seeded.beta_open}", token=BETA_TOKEN).is_success
    r = get(seeded, f"/status/alpha/incidents/{seeded.beta_open}", token=BETA_TOKEN)
    assert r.status_code == 401


@pytest.mark.parametrize("number", [str(2**40), str(2**31), "0", "-1", "abc", "1.5"])
def test_a_number_out_of_range_is_refused_not_a_500(seeded: Seeded, number: str):
    r = get(seeded, f"/status/alpha/incidents/{number}", token=ALPHA_TOKEN)
    assert r.status_code in (404, 422)
    assert r.json()["detail"]


# What they see


def test_the_status_page_lists_open_then_recent_incidents(seeded: Seeded):
    r = get(seeded, "/status/alpha", token=ALPHA_TOKEN)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["cache-control"] == "private, no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    html = r.text
    page = Parsed(html)
    words = page.words
    # The community's name, escaped.
    assert "Alpha &amp; Co &lt;Research&gt;" in html and "Alpha & Co <Research>" in words
    # Open first, then the window's resolved; the one resolved 100 days ago is gone, and so
    # is every other community's.
    assert words.index("Alpha hub down") < words.index("Alpha storage full")
    assert words.index("Open incidents") < words.index("Alpha hub down")
    assert OLD_TITLE not in words and BETA_TITLE not in words and "Closed hub" not in words
    # Status words, severity names, hubs with domains, labelled UTC times, durations.
    for shown in (
        "Identified",
        "Resolved",
        "P1-Outage",
        "P2-Degraded",
        "shared/alpha",
        "alpha.example.org",
        "Started (UTC)",
        "Resolved (UTC)",
        "ongoing",
        "not yet",
        "All times are UTC",
    ):
        assert shown in words, shown
    # The resolved incident's duration is written as the reports write it (`12s`, `1m 3s`).
    assert any(w.endswith("s") and w[:-1].isdigit() for w in words.split()), words
    # No timeline text on the summary page, and no internal entry anywhere.
    assert INTERNAL_NOTE not in html and "hunter2" not in html
    # No JavaScript, nothing fetched from elsewhere; readable on a phone.
    assert "script" not in page.tags and "img" not in page.tags
    assert not any(h.startswith(("http:", "//")) for h in page.hrefs)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "default-src 'none'" in r.headers["content-security-policy"]


def test_the_incident_page_shows_only_the_partner_timeline_in_order(seeded: Seeded):
    r = get(seeded, f"/status/alpha/incidents/{seeded.alpha_open}", token=ALPHA_TOKEN)
    assert r.status_code == 200
    words = Parsed(r.text).words
    assert "Alpha hub down" in words
    order = [
        "Incident opened",
        PARTNER_UPDATE,
        "Status: investigating → identified: a bad node",
        "Watch <script>alert(1)</script>",
    ]
    assert [words.index(o) for o in order] == sorted(words.index(o) for o in order)
    # Escaped, never markup.
    assert "<script>" not in r.text and "&lt;script&gt;" in r.text
    assert "\x0b" not in r.text
    # Internal entries (a note, a role) are nowhere; Slack user ids neither.
    for hidden in (INTERNAL_NOTE, "hunter2", "Incident Commander", "UALICE", "UBOB"):
        assert hidden not in r.text, hidden
    assert "Incident declared by an engineer (P1-Outage): Alpha hub down" in words


def test_json_has_the_same_facts(seeded: Seeded):
    r = get(seeded, "/status/alpha", token=ALPHA_TOKEN, headers=JSON)
    assert r.headers["content-type"] == "application/json"
    page = r.json()
    assert page["community"] == {"id": "alpha", "name": "Alpha & Co <Research>"}
    assert page["window_days"] == 90
    assert [i["number"] for i in page["incidents"]] == [seeded.alpha_open, seeded.alpha_resolved]
    live, done = page["incidents"]
    assert set(live) >= {
        "number",
        "title",
        "status",
        "open",
        "severity",
        "severity_name",
        "cluster",
        "hub",
        "place",
        "domain",
        "started_at",
        "resolved_at",
        "duration",
        "url",
    }
    assert (live["status"], live["open"], live["duration"], live["resolved_at"]) == (
        "identified",
        True,
        "ongoing",
        None,
    )
    assert (live["severity"], live["severity_name"]) == ("sev1", "P1-Outage")
    assert (live["place"], live["domain"]) == ("shared/alpha", "alpha.example.org")
    assert live["url"] == f"{PUBLIC_URL}/status/alpha/incidents/{seeded.alpha_open}"
    assert live["started_at"].endswith("Z")
    assert (done["status"], done["open"]) == ("resolved", False)
    assert datetime.fromisoformat(done["resolved_at"]) >= datetime.fromisoformat(done["started_at"])
    assert done["duration"] != "ongoing"

    r = get(seeded, f"/status/alpha/incidents/{seeded.alpha_open}", token=ALPHA_TOKEN, headers=JSON)
    detail = r.json()
    assert detail["number"] == seeded.alpha_open
    assert detail["community"]["id"] == "alpha"
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds == ["declared", "update", "status_changed", "update"]
    assert set(detail["timeline"][0]) == {"id", "at", "kind", "text"}
    times = [e["at"] for e in detail["timeline"]]
    assert times == sorted(times)
    assert detail["timeline"][1]["text"] == PARTNER_UPDATE
    assert detail["timeline"][3]["text"] == HOSTILE_UPDATE.replace("\x0b", "")
    assert INTERNAL_NOTE not in r.text and "visibility" not in r.text and "UALICE" not in r.text
    # A browser's Accept gets HTML.
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    r = get(seeded, "/status/alpha", token=ALPHA_TOKEN, headers={"Accept": browser})
    assert r.headers["content-type"].startswith("text/html")


def test_links_carry_the_token_only_when_it_came_in_the_query(seeded: Seeded):
    for path in pages(seeded)[:2]:
        by_header = get(seeded, path, token=ALPHA_TOKEN)
        assert ALPHA_TOKEN not in by_header.text
        by_query = get(seeded, path, params={"token": ALPHA_TOKEN})
        page = Parsed(by_query.text)
        # Only in links, never in the text or another attribute.
        assert ALPHA_TOKEN not in page.words
        assert not any(ALPHA_TOKEN in v for v in page.other)
        carried = [h for h in page.hrefs if ALPHA_TOKEN in h]
        assert carried and all(h.startswith("/status/alpha") for h in carried)
        assert by_query.text.count(ALPHA_TOKEN) == len(carried)
    page = Parsed(get(seeded, "/status/alpha", params={"token": ALPHA_TOKEN}).text)
    link = f"/status/alpha/incidents/{seeded.alpha_open}?token={ALPHA_TOKEN}"
    assert link in page.hrefs
    # Following it opens the incident page, as a phone user's tap would.
    assert get(seeded, link).status_code == 200
    # External links (a hub's domain) never carry it.
    assert "https://alpha.example.org" in page.hrefs


# The feed


def entries(feed: ET.Element) -> list[ET.Element]:
    return feed.findall(f"{A}entry")


def test_the_feed_is_valid_atom_of_partner_updates(seeded: Seeded):
    r = get(seeded, "/status/alpha/feed.xml", token=ALPHA_TOKEN)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert r.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    feed = ET.fromstring(r.content)
    assert feed.tag == f"{A}feed"
    # RFC 4287 4.1.1: id, title, updated, an author; a self link is recommended.
    for tag in ("id", "title", "updated", "author/" + A + "name"):
        found = feed.find(A + tag)
        assert found is not None and (found.text or "").strip(), tag
    assert feed.findtext(f"{A}id") == f"{PUBLIC_URL}/status/alpha/feed.xml"
    assert "Alpha & Co <Research>" in (feed.findtext(f"{A}title") or "")
    rels = {link.get("rel"): link.get("href") for link in feed.findall(f"{A}link")}
    assert rels["self"] == f"{PUBLIC_URL}/status/alpha/feed.xml"
    assert rels["alternate"] == f"{PUBLIC_URL}/status/alpha"
    found = entries(feed)
    ids = [e.findtext(f"{A}id") for e in found]
    assert len(set(ids)) == len(ids) == 7  # 4 of the open incident, 3 of the resolved one
    stamps = []
    for entry in found:
        for tag in ("id", "title", "updated"):
            assert (entry.findtext(A + tag) or "").strip(), tag
        updated = entry.findtext(f"{A}updated") or ""
        assert updated.endswith("Z")
        stamps.append(datetime.fromisoformat(updated))
        link = entry.find(f"{A}link")
        assert link is not None
        assert (link.get("href") or "").startswith(f"{PUBLIC_URL}/status/alpha/incidents/")
    assert stamps == sorted(stamps, reverse=True)
    assert feed.findtext(f"{A}updated") == found[0].findtext(f"{A}updated")
    text = r.text
    assert PARTNER_UPDATE in text and "Disk expanded" in text
    # The control character is dropped, the markup escaped: the document parsed.
    assert "Watch &lt;script&gt;alert(1)&lt;/script&gt; &amp; this" in text
    for hidden in (INTERNAL_NOTE, "hunter2", "Incident Commander", OLD_TITLE, BETA_TITLE):
        assert hidden not in text, hidden
    # The same ids on every fetch, whoever fetches it and however.
    again = ET.fromstring(
        get(seeded, "/status/alpha/feed.xml", params={"token": ALPHA_TOKEN}).content
    )
    assert [e.findtext(f"{A}id") for e in entries(again)] == ids


def test_feed_links_carry_a_query_token_but_ids_never(seeded: Seeded):
    r = get(seeded, "/status/alpha/feed.xml", params={"token": ALPHA_TOKEN})
    feed = ET.fromstring(r.content)
    assert ALPHA_TOKEN not in (feed.findtext(f"{A}id") or "")
    for entry in entries(feed):
        assert ALPHA_TOKEN not in (entry.findtext(f"{A}id") or "")
        link = entry.find(f"{A}link")
        assert link is not None
        assert f"?token={ALPHA_TOKEN}#event-" in (link.get("href") or "")
    by_header = get(seeded, "/status/alpha/feed.xml", token=ALPHA_TOKEN)
    assert ALPHA_TOKEN not in by_header.text


def test_an_empty_feed_is_still_valid_atom(seeded: Seeded):
    feed = ET.fromstring(get(seeded, "/status/pub/feed.xml").content)
    assert feed.tag == f"{A}feed" and entries(feed) == []
    for tag in ("id", "title", "updated"):
        assert (feed.findtext(A + tag) or "").strip()
