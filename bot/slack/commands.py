"""`/incident`: one handler per subcommand, registered in a table."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from bot.followups import flows as followup_flows
from bot.hubs.schema import ROLE_NAMES, SEVERITIES
from bot.incidents import flows
from bot.incidents.flows import FlowError
from bot.incidents.models import Incident
from bot.incidents.naming import place
from bot.jobs.attempt import RetryLater, Unreachable
from bot.pagerduty import flows as pd_flows
from bot.postmortems.mrkdwn import escape, to_partner
from bot.runtime import Runtime
from bot.slack import blocks
from bot.slack.client import SlackError
from bot.slack.modals import declare_modal
from bot.timeline.models import TimelineEvent

MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
OPEN_STATUSES = ("investigating", "identified", "monitoring")


class UsageError(Exception):
    """The arguments do not fit the subcommand; the reply shows its usage."""


@dataclass
class Invocation:
    rt: Runtime
    session: Session
    user: str
    channel: str
    trigger_id: str
    args: str
    incident: Incident | None


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    help: str
    in_incident: bool
    run: Callable[[Invocation], str]
    writes: bool = True


COMMANDS: dict[str, Command] = {}


def command(
    name: str, usage: str, help: str, *, in_incident: bool = True, writes: bool = True
) -> Callable[[Callable[[Invocation], str]], Callable[[Invocation], str]]:
    """Register a subcommand (`writes=False`: it only reads, and takes no write lock)."""

    def register(fn: Callable[[Invocation], str]) -> Callable[[Invocation], str]:
        COMMANDS[name] = Command(name, usage, help, in_incident, fn, writes)
        return fn

    return register


def handle(rt: Runtime, body: dict[str, Any]) -> str:
    """Run `/incident <text>`; returns the ephemeral reply (empty when a modal opened)."""
    text = str(body.get("text") or "").strip()
    # The subcommand ends at any blank: `note` then a newline is still a note.
    name, args = (text.split(None, 1) + ["", ""])[:2]
    name = name.lower()
    if name in ("", "help"):
        return usage()
    cmd = COMMANDS.get(name)
    if cmd is None:
        return f":warning: Unknown subcommand `{name}`.\n\n{usage()}"
    channel = str(body.get("channel_id") or "")
    number = None
    if cmd.in_incident and channel:
        with Session(rt.reader) as session:
            number = session.exec(
                select(Incident.number).where(Incident.slack_channel_id == channel)
            ).first()
    # Only commands that change something take the write lock (SQLite's one writer), and
    # no transaction is open before a command runs: `declare` may call Slack first.
    with Session(rt.engine if cmd.writes else rt.reader) as session:
        incident = session.get(Incident, number) if number is not None else None
        if cmd.in_incident and incident is None:
            return (
                f":warning: `/incident {cmd.usage}` must be run in an incident channel "
                "(one the bot opened, named `inc-...`)."
            )
        inv = Invocation(
            rt,
            session,
            str(body.get("user_id") or ""),
            channel,
            str(body.get("trigger_id") or ""),
            args.strip(),
            incident,
        )
        try:
            reply = cmd.run(inv)
        except UsageError as exc:
            reply = f":warning: {exc}\nUsage: `/incident {cmd.usage}`"
        except FlowError as exc:
            reply = f":warning: {exc}"
    rt.worker.wake()
    return reply


def usage() -> str:
    """The help text."""
    lines = [f"• `/incident {c.usage}`: {c.help}" for c in COMMANDS.values()]
    return (
        "*Usage*\n"
        + "\n".join(lines)
        + "\n\nReact with :pushpin: to a message in an incident channel to add it to the timeline."
    )


def _incident(inv: Invocation) -> Incident:
    assert inv.incident is not None
    return inv.incident


def _mention(word: str) -> str:
    found = MENTION.match(word)
    if not found:
        raise UsageError(f"`{word}` is not a person: mention them, like @name")
    return found.group(1)


@command(
    "declare",
    "declare [<cluster/hub or hub> <sev1..sev4> <title>]",
    "declare an incident (no arguments: a form)",
    in_incident=False,
)
def _declare(inv: Invocation) -> str:
    reg = inv.rt.registry
    if not inv.args:
        if inv.rt.slack is None:
            raise FlowError("Slack is not configured on the bot (SLACK_BOT_TOKEN)")
        try:
            inv.rt.slack.open_view(inv.trigger_id, declare_modal(reg))
        except (SlackError, RetryLater, Unreachable) as exc:
            # Slack slow or away, or the trigger expired: say so, and how to do without.
            raise FlowError(
                f"could not open the form ({exc}); declare in one line instead: "
                "`/incident declare <cluster/hub> <sev1..sev4> <title>`"
            ) from None
        return ""
    parts = inv.args.split(maxsplit=2)
    if len(parts) < 3:
        raise UsageError("declare needs a hub, a severity and a title")
    ref, severity, title = parts
    where = reg.parse_hub_ref(ref)
    if where is None:
        raise UsageError(
            f"unknown hub `{ref}`: use `cluster/hub` (e.g. `leap/prod`), a hub "
            "name found in one cluster only, or a cluster name"
        )
    severity = severity.lower()
    if severity not in SEVERITIES:
        raise UsageError(f"`{severity}` is not a severity: use sev1, sev2, sev3 or sev4")
    incident, already = flows.declare_incident(
        inv.session,
        reg,
        cluster=where[0],
        hub=where[1],
        severity=severity,
        # A title is plain text, and partners read it on the status pages: Slack's escapes
        # undone, links by their labels, and a person named in it "an engineer" there too.
        title=to_partner(title),
        actor=inv.user,
    )
    reply = (
        f":rotating_light: Declared incident #{incident.number} "
        f"({inv.rt.registry.severity_name(severity)}) on "
        f"`{place(incident)}`: {escape(incident.title)}. Its channel is being opened."
    )
    if already:
        reply += (
            f"\nNote: incident #{already.number} is also open for this hub and keeps "
            "receiving its alerts."
        )
    return reply


@command("list", "list", "open incidents", in_incident=False, writes=False)
def _list(inv: Invocation) -> str:
    rows = inv.session.exec(
        select(Incident).where(Incident.status != "resolved").order_by(col(Incident.number).desc())
    ).all()
    lines = [
        f"• #{i.number} {blocks.SEVERITY_EMOJI.get(i.severity, '')} "
        f"{inv.rt.registry.severity_name(i.severity)} {i.status} "
        f"`{place(i)}` {escape(i.title)}"
        + (f" <#{i.slack_channel_id}>" if i.slack_channel_id else "")
        for i in rows
    ]
    return blocks.ephemeral_lines("Open incidents", lines)


@command("commander", "commander <@user>", "name the incident commander")
def _commander(inv: Invocation) -> str:
    return _assign(inv, "commander", inv.args)


@command("role", f"role <{'|'.join(ROLE_NAMES)}> <@user>", "give someone a role")
def _role(inv: Invocation) -> str:
    parts = inv.args.split()
    if len(parts) != 2:
        raise UsageError("role needs a role and a person")
    role = parts[0].lower()
    if role not in ROLE_NAMES:
        raise UsageError(f"`{role}` is not a role: use {', '.join(ROLE_NAMES)}")
    return _assign(inv, role, parts[1])


def _assign(inv: Invocation, role: str, who: str) -> str:
    if not who or len(who.split()) != 1:
        raise UsageError("name exactly one person")
    user = _mention(who)
    name = inv.rt.registry.role_name(role)
    changed = flows.assign_role(
        inv.session, inv.rt.registry, _incident(inv), role=role, user=user, actor=inv.user
    )
    return f"<@{user}> is {name}." if changed else f"<@{user}> already is {name}."


@command("status", f"status <{'|'.join(OPEN_STATUSES)}> [text]", "change the status")
def _status(inv: Invocation) -> str:
    status, text = (inv.args.split(None, 1) + ["", ""])[:2]
    status = status.lower()
    if status not in OPEN_STATUSES:
        raise UsageError(
            f"`{status or '(nothing)'}` is not a status; to close, use `/incident resolve`"
        )
    flows.change_status(
        inv.session, _incident(inv), status=status, text=text.strip(), actor=inv.user
    )
    return f"Status is now {status}."


@command("severity", "severity <sev1..sev4>", "change the severity")
def _severity(inv: Invocation) -> str:
    severity = inv.args.lower()
    if severity not in SEVERITIES:
        raise UsageError(f"`{severity or '(nothing)'}` is not a severity")
    flows.change_severity(
        inv.session,
        inv.rt.registry,
        _incident(inv),
        severity=severity,
        actor=inv.user,
    )
    return f"Severity is now {inv.rt.registry.severity_name(severity)}."


@command("note", "note <text>", "add an internal note to the timeline")
def _note(inv: Invocation) -> str:
    if not inv.args:
        raise UsageError("a note needs some text")
    flows.add_note(inv.session, _incident(inv), text=inv.args, actor=inv.user)
    return "Noted on the timeline."


@command("update", "update <text>", "post a partner-visible update")
def _update(inv: Invocation) -> str:
    if not inv.args:
        raise UsageError("an update needs some text")
    channel = flows.post_update(
        inv.session, inv.rt.registry, _incident(inv), text=inv.args, actor=inv.user
    )
    where = f" and to <#{channel}>" if channel else ""
    return f"Update posted here{where}, and shown on the community's status page."


@command("page", "page [escalation policy id]", "page on PagerDuty")
def _page(inv: Invocation) -> str:
    policy = inv.args.split()[0] if inv.args else None
    if policy is not None and not re.fullmatch(r"P[A-Z0-9]{5,}", policy):
        raise UsageError(f"`{policy}` does not look like a PagerDuty escalation policy id")
    if not inv.rt.settings.pagerduty_api_token.get_secret_value():
        raise FlowError("PagerDuty is not configured on the bot (PAGERDUTY_API_TOKEN)")
    target = pd_flows.page(
        inv.session, inv.rt.registry, _incident(inv), policy=policy, actor=inv.user
    )
    return f"Paging escalation policy {target} on PagerDuty."


@command("resolve", "resolve [summary]", "resolve the incident")
def _resolve(inv: Invocation) -> str:
    flows.resolve_incident(inv.session, _incident(inv), summary=inv.args, actor=inv.user)
    return "Resolved."


@command("timeline", "timeline", "show the timeline", writes=False)
def _timeline(inv: Invocation) -> str:
    events = inv.session.exec(
        select(TimelineEvent)
        .where(TimelineEvent.incident_number == _incident(inv).number)
        .order_by(col(TimelineEvent.at), col(TimelineEvent.id))
    ).all()
    lines = [
        f"• {e.at:%Y-%m-%d %H:%M} UTC `{e.kind}` {e.text}"
        + (" _(partner)_" if e.visibility == "partner" else "")
        for e in events
    ]
    text = blocks.ephemeral_lines(f"Timeline of incident #{_incident(inv).number}", lines)
    return text if len(text) < 3500 else text[:3400] + "\n... (see the API for the rest)"


@command(
    "postmortem",
    "postmortem [publish]",
    "post the report draft here; `publish`: open a pull request adding it to the reports "
    "repository (GITHUB_REPO)",
)
def _postmortem(inv: Invocation) -> str:
    action = inv.args.lower()
    if action == "publish":
        return _publish(inv)
    if action:
        raise UsageError(f"`{inv.args}`: only `publish` may follow `postmortem`")
    number = flows.request_postmortem(inv.session, _incident(inv), actor=inv.user)
    return f"Writing the postmortem draft of incident #{number}; it will be posted here."


def _publish(inv: Invocation) -> str:
    settings = inv.rt.settings
    if not settings.github_token.get_secret_value() or not settings.github_repo:
        raise FlowError(
            "publishing needs GitHub: set GITHUB_TOKEN and GITHUB_REPO (the reports "
            "repository, `owner/name`) on the bot"
        )
    followup_flows.check_repo(settings.github_repo)
    incident = _incident(inv)
    already = followup_flows.request_publish(inv.session, incident, actor=inv.user)
    if already:
        return f"The report of incident #{incident.number} is published already: {already}"
    return (
        f"Opening a pull request that adds the report of incident #{incident.number} to "
        f"`{settings.github_repo}`; its link will be posted here."
    )


@command(
    "followup",
    "followup <text>",
    "open a GitHub issue for a follow-up (in the hub's `github_repo`, else GITHUB_REPO)",
)
def _followup(inv: Invocation) -> str:
    if not inv.args:
        raise UsageError("a follow-up needs some text: what should be done")
    settings = inv.rt.settings
    if not settings.github_token.get_secret_value():
        raise FlowError(
            "follow-ups need GitHub: set GITHUB_TOKEN on the bot (and GITHUB_REPO, or the "
            "hub's `github_repo` in the registry)"
        )
    row = followup_flows.add_followup(
        inv.session,
        inv.rt.registry,
        _incident(inv),
        text=inv.args,
        actor=inv.user,
        default_repo=settings.github_repo,
    )
    return f"Opening a GitHub issue in `{row.repo}` for this follow-up; its link will follow here."
