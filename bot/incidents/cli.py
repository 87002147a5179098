"""`incident-bot incidents list|show|declare|resolve|note`: incidents, straight on DATABASE_URL.

The same flows, timeline and jobs as the API and the slash commands; the jobs are performed by
the running service's worker. The schema is not migrated here (`incident-bot migrate` is)."""

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.config import Settings
from bot.db import MIGRATE_FIRST, make_engine, readonly
from bot.hubs import Registry, RegistryError
from bot.hubs.schema import SEVERITIES
from bot.incidents import flows, service
from bot.incidents.flows import FlowError
from bot.incidents.models import Incident
from bot.incidents.naming import place
from bot.incidents.schemas import IncidentDetail
from bot.jobs import queue
from bot.timeline.models import TimelineEvent

T = TypeVar("T")
SOURCE = "cli"
# Terminal control characters (an alert's title may hold any): shown as `?`.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class Failed(Exception):
    """A one-line error for stderr; the command exits 1."""


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """The `incidents` subcommand and its own subcommands."""
    incidents = sub.add_parser(
        "incidents", help="list, show, declare, resolve and note incidents (no Slack needed)"
    )
    what = incidents.add_subparsers(dest="action", required=True)

    listing = what.add_parser("list", help="incidents, newest first")
    listing.add_argument("--status", choices=["open", "resolved"])
    listing.add_argument("--hub", metavar="CLUSTER[/HUB]", help="only this hub or cluster")
    listing.add_argument("--limit", type=_positive, default=50)
    listing.add_argument("--json", action="store_true", help="the API's JSON, for scripts")

    show = what.add_parser("show", help="one incident with its alerts and timeline")
    show.add_argument("number", type=_positive)
    show.add_argument("--json", action="store_true", help="the API's JSON, for scripts")

    declare = what.add_parser("declare", help="declare an incident (its channel is opened)")
    declare.add_argument("hub", help="cluster/hub, a hub name found in one cluster, or a cluster")
    declare.add_argument("severity", type=str.lower, choices=SEVERITIES)
    declare.add_argument("title", nargs="+")
    declare.add_argument("--hubs", type=Path, help="registry file (default: HUBS_FILE)")

    resolve = what.add_parser("resolve", help="resolve an incident")
    resolve.add_argument("number", type=_positive)
    resolve.add_argument("--summary", default="", help="what ended it, on the timeline")

    note = what.add_parser("note", help="add an internal note to an incident's timeline")
    note.add_argument("number", type=_positive)
    note.add_argument("text", nargs="+")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run one `incidents` action; 1 (and one line on stderr) if it cannot be done."""
    actions: dict[str, Callable[[Settings, Engine, argparse.Namespace], None]] = {
        "list": _list,
        "show": _show,
        "declare": _declare,
        "resolve": _resolve,
        "note": _note,
    }
    try:
        with _engine(settings) as engine:
            actions[args.action](settings, engine, args)
    except Failed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except sa.exc.SQLAlchemyError as exc:
        reason = " ".join(str(exc.__cause__ or exc).split())
        print(f"error: database: {reason[:300]}", file=sys.stderr)
        return 1
    return 0


# -- the actions


def _list(_settings: Settings, engine: Engine, args: argparse.Namespace) -> None:
    cluster, _, hub = (args.hub or "").partition("/")
    with Session(readonly(engine)) as session:
        rows = service.list_incidents(
            session,
            status=args.status,
            cluster=cluster or None,
            hub=hub or None,
            limit=args.limit,
        )
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return
    if not rows:
        print("no incidents")
        return
    print(f"{'#':>5}  {'sev':<4}  {'status':<13}  {'started (UTC)':<16}  {'where':<28}  title")
    for r in rows:
        print(
            f"{r.number:>5}  {r.severity:<4}  {r.status:<13}  {_time(r.started_at):<16}  "
            f"{_clean(place(r)):<28}  {_clean(r.title)}"
        )


def _show(_settings: Settings, engine: Engine, args: argparse.Namespace) -> None:
    with Session(readonly(engine)) as session:
        found = _incident(session, args.number)
        incident = service.detail(session, found)
    if args.json:
        print(incident.model_dump_json(indent=2))
        return
    print("\n".join(_details(incident)))


def _declare(settings: Settings, engine: Engine, args: argparse.Namespace) -> None:
    try:
        registry = Registry.load(args.hubs or settings.resolved_hubs_file())
    except RegistryError as exc:
        raise Failed(str(exc)) from None
    ref = args.hub
    where = registry.parse_hub_ref(ref)
    if where is None:
        raise Failed(
            f"unknown hub {ref!r}: use cluster/hub, a hub name found in one cluster only, "
            "or a cluster name (`incident-bot check` lists the registry)"
        )
    title = " ".join(args.title)
    with Session(engine) as session:
        incident, already = _flow(
            lambda: flows.declare_incident(
                session,
                registry,
                cluster=where[0],
                hub=where[1],
                severity=args.severity,
                title=title,
                actor=None,
                source=SOURCE,
            )
        )
        print(
            f"declared incident #{incident.number} ({registry.severity_name(args.severity)}) "
            f"on {_clean(place(incident))}: {_clean(incident.title)}"
        )
    if already is not None:
        print(f"note: incident #{already.number} is also open there and keeps its alerts")


def _resolve(_settings: Settings, engine: Engine, args: argparse.Namespace) -> None:
    with Session(engine) as session:
        incident = _incident(session, args.number, lock=True)
        _flow(
            lambda: flows.resolve_incident(
                session, incident, summary=args.summary.strip(), actor=None, source=SOURCE
            )
        )
    print(f"resolved incident #{args.number}")


def _note(_settings: Settings, engine: Engine, args: argparse.Namespace) -> None:
    with Session(engine) as session:
        incident = _incident(session, args.number, lock=True)
        _flow(lambda: flows.add_note(session, incident, text=" ".join(args.text), actor=None))
    print(f"noted on incident #{args.number}'s timeline")


# -- helpers


@contextmanager
def _engine(settings: Settings) -> Iterator[Engine]:
    """An engine on DATABASE_URL (a missing SQLite file is refused before, by `bot.cli`);
    `Failed` if the database has not been migrated. It queues every job: the service that
    performs them knows what it has configured, this shell may not."""
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            needed = (Incident.__tablename__, TimelineEvent.__tablename__, queue.job.name)
            missing = [str(t) for t in needed if not inspector.has_table(str(t))]
        if missing:
            raise Failed(f"the database is not migrated (no {', '.join(missing)}): {MIGRATE_FIRST}")
        yield engine
    finally:
        engine.dispose()


def _incident(session: Session, number: int, *, lock: bool = False) -> Incident:
    query = select(Incident).where(Incident.number == number)
    found = session.exec(query.with_for_update() if lock else query).first()
    if found is None:
        raise Failed(f"no incident {number}")
    return found


def _flow(do: Callable[[], T]) -> T:
    try:
        return do()
    except FlowError as exc:
        raise Failed(str(exc)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= value <= 2**31 - 1:
        raise argparse.ArgumentTypeError(f"out of range: {value}")
    return value


def _clean(text: str) -> str:
    return CONTROL.sub("?", text)


def _time(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else "-"


def _details(i: IncidentDetail) -> list[str]:
    lines = [f"#{i.number} {_clean(i.title)}", ""]
    rows = [
        ("status", i.status),
        ("severity", i.severity),
        ("where", place(i)),
        ("community", i.community or "-"),
        ("started (UTC)", _time(i.started_at)),
        ("resolved (UTC)", _time(i.resolved_at)),
        ("slack channel", f"#{i.slack_channel_name}" if i.slack_channel_name else "-"),
        ("pagerduty", i.pagerduty_incident_id or "-"),
        ("roles", ", ".join(f"{k} {v}" for k, v in sorted(i.roles.items())) or "-"),
    ]
    width = max(len(k) for k, _ in rows)
    lines += [f"{k:<{width}}  {_clean(v)}" for k, v in rows]
    if i.alerts:
        lines += ["", f"alerts ({len(i.alerts)}):"]
        lines += [f"  {a.status:<8} {_time(a.starts_at)}  {_clean(a.alertname)}" for a in i.alerts]
    lines += ["", "timeline (UTC):"]
    for e in i.timeline:
        text = _clean(" ".join(e.text.split()))
        lines.append(f"  {_time(e.at)}  {e.kind:<16} {text}")
    return lines
