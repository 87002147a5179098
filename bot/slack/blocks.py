"""Block Kit for incident messages: every layout in one place."""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bot.incidents.models import Incident
from bot.incidents.naming import place

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


def topic(incident: Incident, commander: str | None, severity_name: str) -> str:
    """The channel topic: severity (as people read it), status, commander."""
    ic = f"<@{commander}>" if commander else "none yet"
    shown = severity_name.upper() if severity_name == incident.severity else severity_name
    return f"{shown} | {incident.status} | IC: {ic} | #{incident.number} {incident.title}"


def summary(s: Summary) -> tuple[str, list[Block]]:
    """The summary message: fallback text and blocks."""
    inc = s.incident
    emoji = SEVERITY_EMOJI.get(inc.severity, "")
    text = f"{emoji} Incident #{inc.number} ({s.severity_name}, {inc.status}): {inc.title}"
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
