"""What partners read of Slack's text, typed in a real incident channel; the newest entries of
a long timeline. Each test has a service of its own (the rest of this folder shares one)."""

import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from bot.config import Settings
from bot.db import utcnow
from bot.incidents import flows
from bot.status.reads import MAX_EVENTS
from bot.timeline.models import TimelineEvent
from bot.timeline.service import add_many, event_row
from tests.conftest import running
from tests.rig import SlackRig
from tests.status.test_status_pages import JSON, A, Parsed

# As a person types them, and as Slack sends them in a slash command's text: `&`, `<` and `>`
# escaped, a mention, a link, a call to the channel.
TYPED = "Fish & chips <b>"
SENT = "Fish &amp; chips &lt;b&gt;"
MENTIONS = "<@UADA|ada> is on it: <https://grafana.example/d/1?a=1&amp;b=2|the graph> <!here>"


def page(rig: SlackRig, path: str, **kwargs: Any) -> Any:
    with rig.service.client() as c:
        r = c.get(path, **kwargs)
    assert r.status_code == 200, r.text
    return r


def test_slack_text_reads_on_the_status_pages_as_it_was_typed(rig: SlackRig):
    # 2i2c/staging belongs to the public community `2i2c`: its pages need no token.
    reply = rig.reply(f"declare 2i2c/staging sev2 {SENT} at <@UADA|ada>'s hub", user="UADA")
    assert "Declared incident #1" in reply, reply
    rig.wait_idle()
    with rig.service.api as c:
        channel = c.get("/api/incidents/1").json()["slack_channel_id"]
    assert channel
    assert rig.reply(f"update {SENT}", channel=channel, user="UADA").startswith("Update")
    assert rig.reply(f"update {MENTIONS}", channel=channel, user="UADA").startswith("Update")
    assert rig.reply("resolve <@UBOB|bob> &amp; I fixed it", channel=channel, user="UADA")
    rig.wait_idle()
    # Slack got its own text back, escapes kept.
    assert any(SENT in str(m.get("text")) for m in rig.slack.messages(channel))
    title = f"{TYPED} at an engineer's hub"
    mentions = "an engineer is on it: the graph "

    html = page(rig, "/status/2i2c/incidents/1").text
    shown = Parsed(html).words
    assert TYPED in shown and mentions.strip() in shown and title in shown
    # Escaped once for HTML: never twice, never markup.
    assert "Fish &amp; chips &lt;b&gt;" in html
    assert "&amp;amp;" not in html and "&amp;lt;" not in html and "<b>" not in html
    for name in ("ada", "UADA", "bob", "UBOB"):
        assert not re.search(rf"\b{name}\b", html, re.IGNORECASE), name
    for hidden in ("<!here>", "@here", "grafana.example"):
        assert hidden not in html, hidden
    assert title in Parsed(page(rig, "/status/2i2c").text).words

    detail = page(rig, "/status/2i2c/incidents/1", headers=JSON).json()
    assert detail["title"] == title
    updates = [e["text"] for e in detail["timeline"] if e["kind"] == "update"]
    assert updates == [TYPED, mentions]
    # Who did what is the team's business: partners read "an engineer".
    [resolved] = [e["text"] for e in detail["timeline"] if e["kind"] == "resolved"]
    assert resolved == "Resolved by an engineer: an engineer & I fixed it"

    feed = ET.fromstring(page(rig, "/status/2i2c/feed.xml").content)
    contents = [e.findtext(f"{A}content") or "" for e in feed.findall(f"{A}entry")]
    assert [c.split("\n\n")[0] for c in contents[:3]] == [resolved, mentions, TYPED]
    titles = [e.findtext(f"{A}title") or "" for e in feed.findall(f"{A}entry")]
    assert all(t.endswith(f"#1 {title}") for t in titles)


def test_a_long_timeline_shows_its_newest_entries(settings: Settings):
    with running(settings) as svc:
        registry = svc.app.state.registry
        with Session(svc.engine) as s:
            incident, _ = flows.declare_incident(
                s,
                registry,
                cluster="2i2c",
                hub="staging",
                severity="sev2",
                title="A long one",
                actor="UADA",
            )
            number = incident.number
        assert number is not None
        start = utcnow() - timedelta(days=1)
        with svc.engine.begin() as conn:
            conn.execute(
                sa.update(TimelineEvent)
                .where(col(TimelineEvent.incident_number) == number)
                .values(at=start)
            )
        # Partner updates, one a minute after the declaration; internal notes in between.
        rows = [
            event_row(number, "update", f"update {n}", at=start + timedelta(minutes=n))
            for n in range(1, MAX_EVENTS + 21)
        ] + [
            event_row(number, "note", f"note {n}", at=start + timedelta(minutes=n, seconds=30))
            for n in range(1, 30)
        ]
        with svc.engine.begin() as conn:
            add_many(conn, rows)
        with svc.client() as c:
            timeline = c.get(f"/status/2i2c/incidents/{number}", headers=JSON).json()["timeline"]
    # The newest MAX_EVENTS, in time order: the declaration and the first 20 updates are cut.
    assert len(timeline) == MAX_EVENTS
    assert [e["text"] for e in timeline] == [f"update {n}" for n in range(21, MAX_EVENTS + 21)]
