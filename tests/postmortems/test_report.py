"""The incident report: a scripted incident, as its people and Alertmanager made it, written
in the shape of 2i2c's public incident reports; POSTMORTEM_TEMPLATE; the report shared in the
channel when the incident resolves."""

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.alerts.intake import ingest
from bot.alerts.schemas import AlertmanagerPayload
from bot.config import Settings
from bot.db import make_engine
from bot.effects.messages import MessageEffects
from bot.followups.models import FollowUp
from bot.hubs import Registry
from bot.incidents import flows
from bot.incidents.models import Incident
from bot.incidents.naming import alert_title
from bot.pagerduty import flows as pd_flows
from bot.postmortems.draft import report_filename, write
from bot.slack.client import SlackClient
from bot.timeline.models import TimelineEvent
from tests.conftest import ROOT, running
from tests.payloads import alert, delivery, resolved
from tests.rig import SLACK_TOKEN, SlackRig

# 2i2c-org/incident-reports, scripts/convert_reports.py (read at commit 80936ba), quoted as
# they are there. `clean_title` strips this from a report's title:
TITLE_PREFIX = r"^(Incident\s+report\s+\w+\s+\d{1,2}\s+\d{4}\s*-\s*|Postmortem\s+Report\s*-\s*)"
# and `generate_report_table` reads each report's duration, for the index, with this:
DURATION_ROW = r"\|\s*\*\*Duration\*\*\s*\|\s*(.+?)\s*\|"
# (`extract_duration`, for PDF exports, knows a duration by this shape:)
DURATION_SHAPE = r"(\d+[dhm]\s+\d+[hms](?:\s+\d+[ms])?)"

SECTIONS = [
    "Overview",
    "What Happened",
    "Resolution",
    "Where We Got Lucky",
    "What Went Well",
    "What Didn't Go So Well",
    "Action Items",
    "Timeline",
]
NAMES = {"UADA": "Ada Lovelace", "UBOB": "Bob Builder"}
PD_URL = "https://acme.pagerduty.com/incidents/PQ1ABC"


def t(stamp: str) -> datetime:
    """A UTC time: `2026-11-25T10:04`."""
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC)


@pytest.fixture
def registry() -> Registry:
    return Registry.load(ROOT / "hubs.yaml")


@dataclass
class Script:
    """Acts on an incident as Alertmanager and its people would, each step at its time.

    Alerts carry their own times (startsAt, endsAt, and `now` for what they open). The flows
    stamp what they write with the wall clock, so each step's timeline entries, and the
    acknowledgement or resolution it made, are moved to the step's time afterwards: the
    report's times are then known."""

    engine: Engine
    registry: Registry
    number: int = 0

    def deliver(self, now: str, *alerts: dict[str, Any]) -> None:
        payload = AlertmanagerPayload.model_validate(delivery(*alerts))
        with self.engine.begin() as conn:
            [result] = ingest(conn, self.registry, [payload], now=t(now))
        self.number = self.number or result.incidents_opened[0]

    def declare(self, now: str, title: str, *, cluster: str, hub: str) -> None:
        def act(session: Session, _: Incident | None) -> None:
            incident, _ = flows.declare_incident(
                session,
                self.registry,
                cluster=cluster,
                hub=hub,
                severity="sev2",
                title=title,
                actor="UADA",
            )
            self.number = incident.number or 0

        self.at(now, act)
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(Incident).where(Incident.number == self.number).values(started_at=t(now))
            )

    def at(self, when: str, act: Callable[[Session, Any], object]) -> None:
        with Session(self.engine) as session:
            last = session.exec(sa.select(sa.func.max(TimelineEvent.id))).one()[0] or 0
            incident = session.get(Incident, self.number) if self.number else None
            before = (incident.acknowledged_at, incident.resolved_at) if incident else (None, None)
            act(session, incident)
        moment = t(when)
        with self.engine.begin() as conn:
            conn.execute(sa.update(TimelineEvent).where(TimelineEvent.id > last).values(at=moment))
            row = conn.execute(
                sa.select(Incident.acknowledged_at, Incident.resolved_at).where(
                    Incident.number == self.number
                )
            ).one()
            moved = {
                name: moment
                for name, old, new in zip(
                    ("acknowledged_at", "resolved_at"), before, row, strict=True
                )
                if new is not None and old is None
            }
            if moved:
                conn.execute(
                    sa.update(Incident).where(Incident.number == self.number).values(**moved)
                )

    def followup(self, created: str, text: str, url: str | None = None) -> None:
        with Session(self.engine) as session:
            session.add(
                FollowUp(
                    incident_number=self.number,
                    text=text,
                    repo="2i2c-org/infrastructure",
                    issue_number=int(url.rsplit("/", 1)[1]) if url else None,
                    issue_url=url,
                    created_by="UADA",
                    created_at=t(created),
                )
            )
            session.commit()

    def report(self, timezone: str = "UTC", **kwargs: Any) -> str:
        with Session(self.engine) as session:
            incident = session.get(Incident, self.number)
            assert incident is not None
            return write(
                session, self.registry, incident, timezone=timezone, names=NAMES, **kwargs
            ).text

    def filename(self, timezone: str) -> str:
        with Session(self.engine) as session:
            incident = session.get(Incident, self.number)
            assert incident is not None
            return report_filename(incident, session=session, timezone=timezone)


def leap_outage(script: Script) -> None:
    """LEAP's hub down for an hour, from the first alert to the resolve, with everything that
    can happen to an incident on the way."""
    down = alert(
        "HubHealthCheckFailing",
        cluster="leap",
        namespace="prod",
        starts_at="2026-11-25T10:00:00Z",
        summary="LEAP hub outage",
    )
    # A warning that began earlier joins the incident: the impact began with it.
    restarts = alert(
        "HubPodRestarts",
        cluster="leap",
        namespace="prod",
        severity="warning",
        starts_at="2026-11-25T09:56:00Z",
        summary="The hub pod restarted 5 times",
    )
    s = script
    s.deliver("2026-11-25T10:01:00", down)
    s.deliver("2026-11-25T10:03:00", restarts)
    s.at(
        "2026-11-25T10:04",
        lambda db, i: flows.assign_role(
            db, s.registry, i, role="commander", user="UADA", actor="UBOB"
        ),
    )
    s.at("2026-11-25T10:05", lambda db, i: flows.acknowledge(db, s.registry, i, actor="UADA"))
    s.at(
        "2026-11-25T10:10",
        lambda db, i: flows.change_status(
            db, i, status="identified", text="the home disk is full", actor="UADA"
        ),
    )
    s.at("2026-11-25T10:12", lambda db, i: flows.add_note(db, i, text="df says 100%", actor="UBOB"))
    s.at(
        "2026-11-25T10:15",
        lambda db, i: flows.post_update(
            db, s.registry, i, text="Your hub is down; we are on it.", actor="UADA"
        ),
    )
    s.at(
        "2026-11-25T10:20",
        lambda db, i: pd_flows.page(db, s.registry, i, policy=None, actor="UADA"),
    )
    s.at(
        "2026-11-25T10:21",
        lambda db, i: pd_flows.link_pagerduty(
            db, i, pd_id="PQ1ABC", key="k1", url=PD_URL, title="LEAP hub outage"
        ),
    )
    s.at(
        "2026-11-25T10:25",
        lambda db, i: pd_flows.pagerduty_event(
            db,
            i,
            kind="escalated",
            text="Escalated on PagerDuty to Bob Builder",
            external_id="pd:1",
        ),
    )
    s.at(
        "2026-11-25T10:30",
        lambda db, i: flows.change_severity(db, s.registry, i, severity="sev2", actor="UADA"),
    )
    s.deliver("2026-11-25T10:50:00", resolved(down, ends_at="2026-11-25T10:50:00Z"))
    s.at(
        "2026-11-25T11:04",
        lambda db, i: flows.resolve_incident(
            db, i, summary="Grew the home disk to 2 TB", actor="UADA"
        ),
    )
    s.followup("2026-11-25T11:10", "Alert on home disk usage", "https://github.com/o/r/issues/42")
    s.followup("2026-11-25T11:12", "Write the disk runbook")


def sections(report: str) -> list[str]:
    return re.findall(r"^## (.+)$", report, re.MULTILINE)


def section(report: str, name: str) -> str:
    return report.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0].strip()


def fields(report: str) -> dict[str, str]:
    return dict(re.findall(r"^\| \*\*(.+?)\*\* \| (.*) \|$", report, re.MULTILINE))


def timeline(report: str) -> list[tuple[str, str, str]]:
    """(date, time, text) of each entry, as the report orders them."""
    found, day = [], ""
    for block in re.split(r"\n(?=\*\*|### )", section(report, "Timeline")):
        if block.startswith("**"):
            day = block.strip().strip("*")
        elif block.startswith("### "):
            clock, _, text = block[4:].partition("\n")
            found.append((day, clock, text.strip()))
    return found


def front_matter(report: str) -> dict[str, Any]:
    """As 2i2c's convert_reports.py reads it."""
    assert report.strip().startswith("---")
    parts = report.split("---", 2)
    loaded: dict[str, Any] = yaml.safe_load(parts[1])
    return loaded


def test_the_report_of_a_scripted_incident(engine: Engine, registry: Registry):
    script = Script(engine, registry)
    leap_outage(script)
    report = script.report()

    assert report.startswith(
        '---\ntitle: "LEAP hub outage"\ndate: 2026-11-25\n---\n\n# LEAP hub outage\n\n'
        "| Field | Value |\n| --- | --- |\n| **Impact Time** |"
    )
    assert sections(report) == SECTIONS
    assert report.endswith("runbook\n")  # one newline at the end, as a text file has
    assert fields(report) == {
        # From the earliest alert's startsAt to the resolve.
        "Impact Time": "Nov 25 at 09:56 to Nov 25 at 11:04",
        "Duration": "1h 8m",
        "Hubs": "leap/prod (leap.2i2c.cloud)",
        "Communities": "LEAP (Learning the Earth with AI and Physics)",
        "Severity": "P2",
        "Incident Commander": "Ada Lovelace",
        # The bare address, as the reports write it.
        "PagerDuty": PD_URL,
        # From the incident's opening (10:01).
        "Time to Acknowledge": "4m 0s",
        "Time to Resolve": "1h 3m",
    }
    assert section(report, "Resolution") == "Grew the home disk to 2 TB"
    action_items = section(report, "Action Items").splitlines()
    assert action_items[:2] == [
        "- [Alert on home disk usage](https://github.com/o/r/issues/42)",
        "- Write the disk runbook (issue pending)",
    ]
    assert len(action_items) > 2 and all(re.match(r"- _.+_$", a) for a in action_items[2:])
    assert "- HubPodRestarts on leap/prod, from Nov 25 at 09:56" in section(report, "What Happened")
    for prompt in ("Overview", "Where We Got Lucky", "What Went Well", "What Didn't Go So Well"):
        assert re.fullmatch(r"(- )?_.+_", section(report, prompt)), prompt

    assert section(report, "Timeline").startswith("_All times in UTC._\n\n**November 25, 2026**\n")
    day = "November 25, 2026"
    assert timeline(report) == [
        (day, "9:56 AM", "HubPodRestarts firing on leap/prod: The hub pod restarted 5 times"),
        (day, "10:00 AM", "HubHealthCheckFailing firing on leap/prod: LEAP hub outage"),
        (day, "10:01 AM", "Incident opened by Alertmanager (P1): HubHealthCheckFailing"),
        (day, "10:04 AM", "Ada Lovelace is Incident Commander by Bob Builder"),
        (day, "10:05 AM", "Acknowledged by Ada Lovelace"),
        (
            day,
            "10:10 AM",
            "Status: investigating → identified: the home disk is full (Ada Lovelace)",
        ),
        (day, "10:12 AM", "Note from Bob Builder: df says 100%"),
        (
            day,
            "10:15 AM",
            "Update shared with the community from Ada Lovelace: Your hub is down; we are on it.",
        ),
        (day, "10:20 AM", "Paged escalation policy PL3AP9X by Ada Lovelace"),
        (day, "10:21 AM", f"PagerDuty incident [LEAP hub outage]({PD_URL}) is linked"),
        (day, "10:25 AM", "Escalated on PagerDuty to Bob Builder"),
        (day, "10:30 AM", "Severity: P1 → P2 (Ada Lovelace)"),
        (day, "10:50 AM", "HubHealthCheckFailing resolved on leap/prod"),
        (day, "11:04 AM", "Resolved by Ada Lovelace: Grew the home disk to 2 TB"),
        (
            day,
            "11:10 AM",
            "Follow-up opened: [Alert on home disk usage](https://github.com/o/r/issues/42)",
        ),
        (day, "11:12 AM", "Follow-up noted (issue pending): Write the disk runbook"),
    ]
    assert script.filename("UTC") == "2026-11-25-leap-hub-outage.md"

    # As 2i2c's site reads it: the front matter, a title with no prefix to strip, the duration.
    assert front_matter(report) == {"title": "LEAP hub outage", "date": date(2026, 11, 25)}
    heading = re.search(r"^#\s+(.+)$", report, re.MULTILINE)
    assert heading is not None
    for title in (front_matter(report)["title"], heading.group(1)):
        assert re.sub(TITLE_PREFIX, "", title, flags=re.IGNORECASE).strip() == title
    duration = re.search(DURATION_ROW, report)
    assert duration is not None and duration.group(1).strip() == "1h 8m"
    assert re.fullmatch(DURATION_SHAPE, duration.group(1))


def test_a_report_across_midnight_is_dated_and_grouped_in_timezone(
    engine: Engine, registry: Registry, settings: Settings
):
    script = Script(engine, registry)
    # 23:40 on November 25 in Los Angeles (PST, UTC-8) is 07:40 UTC on November 26.
    script.deliver(
        "2026-11-26T07:41:00",
        alert(cluster="leap", starts_at="2026-11-26T07:40:00Z", summary="LEAP hub outage"),
    )
    script.at(
        "2026-11-26T08:05",
        lambda db, i: flows.add_note(db, i, text="<@UADA> is on it", actor="UBOB"),
    )
    script.at(
        "2026-11-26T08:20:30",
        lambda db, i: flows.resolve_incident(db, i, summary="", actor="UADA"),
    )
    la = settings.model_copy(update={"timezone": "America/Los_Angeles"})
    with running(la) as svc, svc.api as c:
        r = c.get(f"/api/incidents/{script.number}/postmortem")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    report = r.text

    assert front_matter(report)["date"] == date(2026, 11, 25)
    assert script.filename("America/Los_Angeles") == "2026-11-25-leap-hub-outage.md"
    # Without the zone, the file is named for the UTC day it opened.
    with Session(engine) as session:
        incident = session.get(Incident, script.number)
        assert incident is not None and report_filename(incident) == "2026-11-26-leap-hub-outage.md"
    assert fields(report)["Impact Time"] == "Nov 25 at 23:40 to Nov 26 at 00:20"
    assert fields(report)["Duration"] == "40m 30s"
    duration = re.search(DURATION_ROW, report)
    assert duration is not None and re.fullmatch(DURATION_SHAPE, duration.group(1))
    assert section(report, "Timeline").startswith("_All times in America/Los_Angeles._\n")
    assert section(report, "Resolution").startswith("_")  # no summary: a prompt
    # The API knows no Slack names: people are their ids.
    assert timeline(report) == [
        (
            "November 25, 2026",
            "11:40 PM",
            "HubHealthCheckFailing firing on leap/prod: LEAP hub outage",
        ),
        (
            "November 25, 2026",
            "11:41 PM",
            "Incident opened by Alertmanager (P1): HubHealthCheckFailing",
        ),
        ("November 26, 2026", "12:05 AM", "Note from @UBOB: @UADA is on it"),
        ("November 26, 2026", "12:20 AM", "Resolved by @UADA"),
    ]
    lines = section(report, "Timeline").splitlines()
    assert lines.index("**November 25, 2026**") < lines.index("### 11:40 PM")
    assert lines.index("### 11:41 PM") < lines.index("**November 26, 2026**")
    assert lines.index("**November 26, 2026**") < lines.index("### 12:05 AM")


def test_an_open_incident_is_ongoing_and_unknowns_are_said(engine: Engine, registry: Registry):
    script = Script(engine, registry)
    script.deliver("2026-11-25T10:01:00", alert(cluster="leap", summary="LEAP hub outage"))
    # A PagerDuty incident linked without an address: its id.
    script.at(
        "2026-11-25T10:02",
        lambda db, i: pd_flows.link_pagerduty(db, i, pd_id="PQ9", key=None, url=None, title="x"),
    )
    report = script.report()
    table = fields(report)
    assert table["Impact Time"] == "Nov 25 at 10:00 to ongoing"
    assert table["Duration"].endswith(" so far")
    assert (table["Time to Acknowledge"], table["Time to Resolve"]) == (
        "not acknowledged",
        "not resolved",
    )
    assert (table["Incident Commander"], table["PagerDuty"]) == ("not assigned", "PQ9")
    assert sections(report) == SECTIONS


def test_a_title_is_quoted_safely_and_text_written_as_markdown(engine: Engine, registry: Registry):
    script = Script(engine, registry)
    title = 'Disk "full" --- again: 50% | C:\\ #1'
    script.declare("2026-11-25T10:00", title, cluster="2i2c", hub="staging")
    script.at(
        "2026-11-25T10:01",
        lambda db, i: flows.add_note(
            db,
            i,
            text="see <https://grafana.example/d/1|the dashboard>\n## not a heading",
            actor="UADA",
        ),
    )
    # Acknowledged as it was declared: no time at all, which is not "not acknowledged".
    script.at("2026-11-25T10:00", lambda db, i: flows.acknowledge(db, registry, i, actor="UBOB"))
    report = script.report()
    assert fields(report)["Time to Acknowledge"] == "0m 0s"
    assert front_matter(report) == {"title": title, "date": date(2026, 11, 25)}
    assert f"\n# {title}\n" in report
    assert sections(report) == SECTIONS  # the note's `## ...` line is quoted, not a section
    assert fields(report)["Hubs"] == "2i2c/staging (staging.2i2c.cloud)"
    [*_, note] = timeline(report)
    assert note[2] == (
        "Note from Ada Lovelace:\n\n> see [the dashboard](https://grafana.example/d/1)\n"
        "> \\## not a heading"
    )
    assert script.filename("UTC") == "2026-11-25-disk-full-again-50-c-1.md"


# Lines that markdown reads as headings (ATX, and setext underlines), in every text a person or
# an alert gives.
HEADINGS = "first line\n## Injected section\n### 1:00 PM\nUnderlined\n---\n  # x\n==="


def test_no_text_given_by_people_or_alerts_adds_a_heading(engine: Engine, registry: Registry):
    script = Script(engine, registry)
    # A title is plain text; in the heading it is escaped as markdown needs.
    title = "Disk \n full\t  again & <b>\r\n"
    script.declare("2026-11-25T10:00", title, cluster="leap", hub="prod")
    script.deliver(
        "2026-11-25T10:01:00",
        alert("HubPodRestarts", cluster="leap", summary=f"Alert: {HEADINGS}"),
    )

    def step(when: str, act: Callable[[Session, Any], object]) -> None:
        script.at(when, act)

    step(
        "2026-11-25T10:02",
        lambda db, i: flows.change_status(
            db, i, status="identified", text=f"Status: {HEADINGS}", actor="UADA"
        ),
    )
    step("2026-11-25T10:03", lambda db, i: flows.add_note(db, i, text=HEADINGS, actor="UBOB"))
    step(
        "2026-11-25T10:04",
        lambda db, i: flows.post_update(db, registry, i, text=f"Update: {HEADINGS}", actor="UADA"),
    )
    step("2026-11-25T10:05", lambda db, i: flows.add_note(db, i, text="## one line", actor=None))
    step(
        "2026-11-25T10:06",
        lambda db, i: flows.resolve_incident(db, i, summary=f"Fixed: {HEADINGS}", actor="UADA"),
    )
    script.followup("2026-11-25T10:07", "# Watch the disk")
    report = script.report()

    # The title, on one line in the front matter and in the heading.
    assert front_matter(report)["title"] == "Disk full again & <b>"
    assert report.count("\n# Disk full again &amp; &lt;b&gt;\n") == 1
    # The report's headings are the template's alone: the title, its sections, one `###` per
    # timeline entry; and no line is a setext underline.
    headings = re.findall(r"^ {0,3}#{1,6}(?:[ \t].*)?$", report, re.MULTILINE)
    entries = timeline(report)
    sections_and_entries = [f"## {name}" for name in SECTIONS] + [
        f"### {clock}" for _, clock, _ in entries
    ]
    assert headings == ["# Disk full again &amp; &lt;b&gt;", *sections_and_entries]
    assert not re.search(r"^ {0,3}(=+|-+)[ \t]*$", report.split("---", 2)[2], re.MULTILINE)
    assert [clock for _, clock, _ in entries] == [
        "10:00 AM",  # declared, and the alert began
        "10:00 AM",
        "10:01 AM",
        "10:02 AM",
        "10:03 AM",
        "10:04 AM",
        "10:05 AM",
        "10:06 AM",
        "10:07 AM",
    ]
    texts = {text.split("\n")[0]: text for _, _, text in entries}
    # Text of several lines is quoted, each of its lines kept, none a heading.
    quoted_lines = (
        "> first line\n> \\## Injected section\n> \\### 1:00 PM\n> Underlined\n> \\---\n"
        ">   \\# x\n> \\==="
    )
    assert texts["> HubPodRestarts firing on leap/prod: Alert: first line"].endswith(
        quoted_lines.split("\n", 1)[1]
    )
    assert texts["Note from Bob Builder:"] == f"Note from Bob Builder:\n\n{quoted_lines}"
    assert texts["Update shared with the community from Ada Lovelace:"].endswith(
        quoted_lines.split("\n", 1)[1]
    )
    # (Who changed it is said after the last line, which then underlines nothing.)
    assert texts["> Status: investigating → identified: Status: first line"].endswith(
        quoted_lines.split("\n", 1)[1].removesuffix("\\===") + "=== (Ada Lovelace)"
    )
    assert texts["> Resolved by Ada Lovelace: Fixed: first line"].endswith(
        quoted_lines.split("\n", 1)[1]
    )
    assert "Note: ## one line" in texts  # within a line, `#` is no heading
    # The resolve's summary in Resolution keeps its lines, none a heading.
    assert section(report, "Resolution") == (
        "Fixed: first line\n\\## Injected section\n\\### 1:00 PM\nUnderlined\n\\---\n  \\# x\n\\==="
    )
    assert section(report, "Action Items").startswith("- \\# Watch the disk (issue pending)\n")
    assert "Follow-up noted (issue pending): # Watch the disk" in texts
    # An alert's summary of several lines makes a title of one.
    assert alert_title("HubDown", " Disk\n full\n", "leap", "prod") == "Disk full"


# -- POSTMORTEM_TEMPLATE


@pytest.fixture
def scripted(engine: Engine, registry: Registry) -> Script:
    script = Script(engine, registry)
    leap_outage(script)
    return script


def test_postmortem_template_replaces_the_bundled_one(
    scripted: Script, settings: Settings, tmp_path: Path
):
    own = tmp_path / "report.md.j2"
    own.write_text(
        "{{ title }} ({{ date }}): {{ duration }}; {{ fields | length }} fields; "
        "{% for d in days %}{{ d.label }}: {{ d.entries | length }}{% endfor %}\n"
    )
    expected = "LEAP hub outage (2026-11-25): 1h 8m; 9 fields; November 25, 2026: 16\n"
    assert scripted.report(template=str(own)) == expected
    with running(settings.model_copy(update={"postmortem_template": str(own)})) as svc:
        with svc.api as c:
            r = c.get(f"/api/incidents/{scripted.number}/postmortem")
    assert (r.status_code, r.text) == (200, expected)
    assert "x-postmortem-template-error" not in r.headers

    # A template can extend the bundled one and replace a section.
    own.write_text('{% extends "bundled/draft.md.j2" %}{% block overview %}Ours.{% endblock %}')
    report = scripted.report(template=str(own))
    assert section(report, "Overview") == "Ours."
    assert sections(report) == SECTIONS and "### 11:04 AM" in report


BROKEN = {
    "missing": None,
    "syntax": "{% if %}",
    "undefined": "{{ no_such_thing }}",
    "failing": "{{ 1 // 0 }}",
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_a_broken_postmortem_template_falls_back_to_the_bundled_one(
    scripted: Script,
    settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    kind: str,
):
    path = tmp_path / "broken.md.j2"
    if BROKEN[kind] is not None:
        path.write_text(str(BROKEN[kind]))
    bundled = scripted.report()
    with caplog.at_level(logging.ERROR, logger="bot.postmortems"):
        assert scripted.report(template=str(path)) == bundled
    [record] = [r for r in caplog.records if r.name.startswith("bot.postmortems")]
    assert record.levelno == logging.ERROR and str(path) in record.getMessage()

    with Session(scripted.engine) as session:
        incident = session.get(Incident, scripted.number)
        assert incident is not None
        draft = write(session, scripted.registry, incident, timezone="UTC", template=str(path))
    assert draft.template_problem and str(path) in draft.template_problem

    with running(settings.model_copy(update={"postmortem_template": str(path)})) as svc:
        with svc.api as c:
            r = c.get(f"/api/incidents/{scripted.number}/postmortem")
    assert r.status_code == 200
    assert r.text.startswith('---\ntitle: "LEAP hub outage"') and sections(r.text) == SECTIONS
    assert "POSTMORTEM_TEMPLATE" in r.headers["x-postmortem-template-error"]


# -- shared in the channel when the incident resolves


def get(rig: SlackRig, number: int) -> dict[str, Any]:
    with rig.service.api as c:
        found: dict[str, Any] = c.get(f"/api/incidents/{number}").json()
    return found


def open_leap_outage(rig: SlackRig) -> tuple[int, str]:
    with rig.service.am as c:
        body = delivery(
            alert(cluster="leap", starts_at="2026-11-25T10:00:00Z", summary="LEAP hub outage")
        )
        assert c.post("/webhooks/alertmanager", json=body).status_code == 200
    rig.wait_idle()
    inc = get(rig, 1)
    return inc["number"], inc["slack_channel_id"]


def test_resolving_shares_the_report_in_the_channel(rig: SlackRig):
    number, channel = open_leap_outage(rig)
    assert rig.reply("resolve grew the home disk", channel=channel, user="UADA") == "Resolved."
    rig.wait_idle()
    [upload] = rig.slack.uploads
    assert upload["channel_id"] == channel
    assert upload["filename"] == "2026-11-25-leap-hub-outage.md"
    assert upload["title"] == "LEAP hub outage"
    report = upload["bytes"].decode()
    assert report.startswith('---\ntitle: "LEAP hub outage"\ndate: 2026-11-25\n---\n\n')
    assert sections(report) == SECTIONS
    assert section(report, "Resolution") == "grew the home disk"
    # Names come from Slack.
    assert fields(report)["Incident Commander"] == "Ada Lovelace"
    assert ("November 25, 2026", "10:00 AM") == timeline(report)[0][:2]
    assert "Resolved by Ada Lovelace: grew the home disk" in [e[2] for e in timeline(report)]
    assert "postmortem" in [e["kind"] for e in get(rig, number)["timeline"]]


def test_a_report_whose_upload_answer_was_lost_is_shared_once(rig: SlackRig):
    number, channel = open_leap_outage(rig)
    # Slack shares the file, but its answer never comes back (a gateway timing out).
    rig.slack.fail_next("files.completeUploadExternal", 503, applied=True)
    assert rig.reply("resolve grew the home disk", channel=channel, user="UADA") == "Resolved."
    rig.wait_idle()
    # The retry found the file shared in the channel, and did not share it again.
    assert len(rig.slack.calls("files.completeUploadExternal")) == 1
    [upload] = rig.slack.uploads
    shares = [m for m in rig.slack.messages(channel) if m.get("files")]
    assert [[f["name"] for f in m["files"]] for m in shares] == [["2026-11-25-leap-hub-outage.md"]]
    assert shares[0]["files"][0]["id"] == upload["file_id"]
    [looked] = rig.slack.calls("conversations.history")
    assert looked.args["channel"] == channel
    assert [e["kind"] for e in get(rig, number)["timeline"]].count("postmortem") == 1

    # A report asked for again is one of its own: when its first try fails, the retry does not
    # take the report shared a moment ago for it.
    rig.slack.fail_next("files.completeUploadExternal", 503)
    rig.reply("postmortem", channel=channel, user="UADA")
    rig.wait_idle()
    assert len(rig.slack.calls("files.completeUploadExternal")) == 3
    assert len(rig.slack.calls("conversations.history")) == 2
    assert len(rig.slack.uploads) == 2
    assert len([m for m in rig.slack.messages(channel) if m.get("files")]) == 2
    assert [e["kind"] for e in get(rig, number)["timeline"]].count("postmortem") == 2


@pytest.fixture
def own_template(tmp_path: Path) -> Path:
    path = tmp_path / "ours.md.j2"
    path.write_text("Ours: {{ title }}, {{ duration }}\n")
    return path


@pytest.fixture
def template_rig(
    slack_settings: Settings, fakes: Any, registry: Registry, own_template: Path
) -> Iterator[SlackRig]:
    """The rig, its report performer given POSTMORTEM_TEMPLATE (as bot.app gives it)."""
    slack, pd = fakes
    engine = make_engine(slack_settings.database_url)
    client = SlackClient(SLACK_TOKEN, slack_settings.slack_api_url)
    effects = MessageEffects(
        engine, registry, client, timezone="UTC", postmortem_template=str(own_template)
    )
    [performer] = [p for p in effects.performers() if p.kind.name == "slack.postmortem"]
    settings = slack_settings.model_copy(update={"postmortem_template": str(own_template)})
    try:
        with running(settings, performers=[performer]) as svc:
            yield SlackRig(svc, slack, pd)
    finally:
        engine.dispose()


def test_the_shared_report_uses_postmortem_template(template_rig: SlackRig, own_template: Path):
    _, channel = open_leap_outage(template_rig)
    template_rig.reply("resolve", channel=channel)
    template_rig.wait_idle()
    [upload] = template_rig.slack.uploads
    assert upload["bytes"].decode().startswith("Ours: LEAP hub outage, ")
    assert upload["filename"] == "2026-11-25-leap-hub-outage.md"

    # Broken, it is set aside for the bundled template, and the channel is told why.
    own_template.write_text("{% if %}")
    template_rig.reply("postmortem", channel=channel)
    template_rig.wait_idle()
    [_, again] = template_rig.slack.uploads
    assert again["bytes"].decode().startswith('---\ntitle: "LEAP hub outage"')
    assert "POSTMORTEM_TEMPLATE" in again["initial_comment"]
