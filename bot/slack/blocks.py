"""Block Kit for incident messages: every layout in one place."""

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bot.incidents.models import Incident
from bot.incidents.naming import place
from bot.postmortems.mrkdwn import escape

SEVERITY_EMOJI = {
    "sev1": ":red_circle:",
    "sev2": ":large_orange_circle:",
    "sev3": ":large_yellow_circle:",
    "sev4": ":white_circle:",
}
MAX_ALERT_LINES = 10

Block = dict[str, Any]


@dataclass
class Summary:
    """Everything the summary message shows."""

    incident: Incident
    roles: dict[str, str]
    role_names: dict[str, str]
    severity_name: str  # how a person reads the incident's severity (registry severity_names)
    domain: str | None = None
    community: str | None = None
    # (alertname, status, how many), as counted by the database.
    alerts: list[tuple[str, str, int]] = field(default_factory=list)
    runbook_title: str | None = None
    runbook_url: str | None = None
    first_steps: tuple[str, ...] = ()
    context: list[str] = field(default_factory=list)


def digest(text: str, body: list[Block]) -> str:
    """What a message shows, in 64 hex characters: an edit that would change nothing is skipped."""
    raw = json.dumps([text, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def topic(incident: Incident, commander: str | None, severity_name: str) -> str:
    """The channel topic: severity (as people read it), status, commander."""
    ic = f"<@{commander}>" if commander else "none yet"
    shown = severity_name.upper() if severity_name == incident.severity else severity_name
    return f"{shown} | {incident.status} | IC: {ic} | #{incident.number} {incident.title}"


def summary(s: Summary) -> tuple[str, list[Block]]:
    """The summary message: fallback text and blocks."""
    inc = s.incident
    emoji = SEVERITY_EMOJI.get(inc.severity, "")
    text = f"{emoji} Incident #{inc.number} ({s.severity_name}, {inc.status}): {escape(inc.title)}"
    hub = f"`{place(inc)}`" + (f" <https://{s.domain}|{s.domain}>" if s.domain else "")
    commander = s.roles.get("commander")
    ic_name = s.role_names.get("commander", "Incident Commander")
    if commander:
        ic = f"<@{commander}>"
    elif inc.commander_problem:
        ic = f":warning: none: {inc.commander_problem}"
    else:
        ic = "looking up who is on call..."
    fields = [
        f"*Severity*\n{emoji} {s.severity_name}",
        f"*Status*\n{inc.status}",
        f"*Hub*\n{hub}",
        f"*Community*\n{s.community or '-'}",
        f"*{ic_name}*\n{ic}",
        f"*Started*\n<!date^{int(inc.started_at.timestamp())}"
        f"^{{date_short_pretty}} {{time}}|{inc.started_at:%Y-%m-%d %H:%M} UTC>",
    ]
    others = [f"*{s.role_names.get(r, r)}*: <@{u}>" for r, u in s.roles.items() if r != "commander"]
    blocks: list[Block] = [
        {"type": "header", "text": _plain(f"#{inc.number} {inc.title}"[:150])},
        {"type": "section", "fields": [_md(f) for f in fields]},
    ]
    if others:
        blocks.append({"type": "context", "elements": [_md(" · ".join(others))]})
    if s.alerts:
        blocks.append({"type": "section", "text": _md(_alert_lines(s.alerts))})
    for line in s.context:
        blocks.append({"type": "section", "text": _md(line[:2900])})
    if s.runbook_url:
        steps = "\n".join(f"{i}. {step}" for i, step in enumerate(s.first_steps[:6], 1))
        title = s.runbook_title or "Runbook"
        body = f":blue_book: *Runbook:* <{s.runbook_url}|{title}>"
        if steps:
            body += f"\n*First steps*\n{steps}"
        blocks.append({"type": "section", "text": _md(body[:2900])})
    else:
        blocks.append({"type": "context", "elements": [_md(":blue_book: no runbook matches")]})
    if inc.status != "resolved":
        value = str(inc.number)
        blocks.append(
            {
                "type": "actions",
                "block_id": "incident_actions",
                "elements": [
                    _button("Take command", "incident_take_command", value, "primary"),
                    _button("Acknowledge", "incident_acknowledge", value),
                    _button("Resolve", "incident_resolve", value, "danger"),
                ],
            }
        )
    return text, blocks


@dataclass(frozen=True)
class QuietLine:
    """Alerts of one name and severity in a quiet message."""

    alertname: str
    severity: str
    severity_name: str
    firing: int
    resolved: int
    summary: str | None = None
    runbook_url: str | None = None


@dataclass
class Quiet:
    """Everything a message of the quiet channel shows: one hub's alerts of one day that
    opened no incident."""

    observation: int
    day: str
    place: str  # as `place()` writes it
    domain: str | None = None
    community: str | None = None
    lines: list[QuietLine] = field(default_factory=list)
    # The incident someone declared from this message, its channel and who declared it.
    incident: int | None = None
    incident_channel: str | None = None
    declared_by: str | None = None


QUIET_DECLARE = "observe_declare"
MAX_QUIET_LINES = 15
# Of the 3000 characters Slack allows a section's text.
QUIET_TEXT_BUDGET = 2800


def quiet(q: Quiet) -> tuple[str, list[Block]]:
    """A message of the quiet channel: fallback text and blocks."""
    firing = sum(line.firing for line in q.lines)
    resolved = sum(line.resolved for line in q.lines)
    text = f"Quiet alerts on {q.place}, {q.day}: {firing} firing, {resolved} resolved"
    where = f"`{q.place}`" + (f" <https://{q.domain}|{q.domain}>" if q.domain else "")
    if q.community:
        where += f" · {q.community}"
    head = f":eyes: *Alerts that opened no incident* on {where} · {q.day} (UTC)"
    blocks: list[Block] = [{"type": "section", "text": _md(head[:2900])}]
    ordered = sorted(q.lines, key=lambda line: (line.firing == 0, line.severity, line.alertname))
    shown: list[str] = []
    size = 0
    for i, line in enumerate(ordered):
        counts = ", ".join(
            f"{n} {word}" for n, word in ((line.firing, "firing"), (line.resolved, "resolved")) if n
        )
        emoji = SEVERITY_EMOJI.get(line.severity, "") if line.firing else ":white_check_mark:"
        entry = f"{emoji} *{line.severity_name}* `{escape(line.alertname) or 'unnamed'}`: {counts}"
        if line.runbook_url:
            entry += f" · <{line.runbook_url}|runbook>"
        if line.summary:
            entry += f"\n      _{escape(' '.join(line.summary.split())[:150])}_"
        # Whole entries only (a cut could break a link), leaving room for the last line.
        if i == MAX_QUIET_LINES or size + len(entry) > QUIET_TEXT_BUDGET:
            shown.append(f"... and {len(ordered) - i} more alert names")
            break
        shown.append(entry)
        size += len(entry) + 1
    if shown:
        blocks.append({"type": "section", "text": _md("\n".join(shown))})
    if q.incident is not None:
        channel = f" <#{q.incident_channel}>" if q.incident_channel else ""
        by = f" by <@{q.declared_by}>" if q.declared_by else ""
        rest = " The alerts since are listed above." if shown else ""
        note = f":rotating_light: Declared as incident #{q.incident}{channel}{by}.{rest}"
        blocks.append({"type": "section", "text": _md(note)})
    if shown:
        button = _button("Declare incident", QUIET_DECLARE, str(q.observation), "danger")
        button["confirm"] = {
            "title": _plain("Declare an incident?"),
            "text": _md(
                f"Open an incident for `{q.place}` with the {firing + resolved} alerts listed."
            ),
            "confirm": _plain("Declare"),
            "deny": _plain("Cancel"),
        }
        blocks.append({"type": "actions", "block_id": "quiet_actions", "elements": [button]})
    return text, blocks


def _alert_lines(alerts: list[tuple[str, str, int]]) -> str:
    firing: Counter[str] = Counter()
    resolved: Counter[str] = Counter()
    for name, status, n in alerts:
        (firing if status == "firing" else resolved)[name] += n
    names = sorted(set(firing) | set(resolved), key=lambda n: (-firing[n], n))
    lines = []
    for name in names[:MAX_ALERT_LINES]:
        parts = []
        if firing[name]:
            parts.append(f"{firing[name]} firing")
        if resolved[name]:
            parts.append(f"{resolved[name]} resolved")
        lines.append(f"• `{name}`: {', '.join(parts)}")
    if len(names) > MAX_ALERT_LINES:
        lines.append(f"• ... and {len(names) - MAX_ALERT_LINES} more alert names")
    total = sum(firing.values())
    everything = total + sum(resolved.values())
    return f"*Alerts* ({total} firing of {everything})\n" + "\n".join(lines)


def _md(text: str) -> Block:
    return {"type": "mrkdwn", "text": text}


def _plain(text: str) -> Block:
    return {"type": "plain_text", "text": text, "emoji": True}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "text": _plain(text), "action_id": action_id, "value": value}
    if style:
        button["style"] = style
    return button


def ephemeral_lines(title: str, lines: list[str]) -> str:
    """A short ephemeral listing."""
    return "\n".join([f"*{title}*", *lines]) if lines else f"*{title}*\nnothing"
