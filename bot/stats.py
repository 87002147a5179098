"""`incident-bot stats [--days N] [--csv]`: incidents per hub and severity, time to
acknowledge and to resolve (p50/p90), and pages per person, over the last N days."""

import argparse
import csv
import io
import math
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from bot.config import Settings
from bot.db import make_engine, readonly, utcnow
from bot.hubs import Registry, RegistryError
from bot.hubs.schema import SEVERITIES
from bot.incidents.models import Incident, Role
from bot.incidents.naming import place
from bot.incidents.timing import duration_text, time_to_acknowledge, time_to_resolve
from bot.timeline.models import TimelineEvent


@dataclass(frozen=True)
class Timing:
    """Times to acknowledge and to resolve of one severity (or of all, `severity` None)."""

    severity: str | None
    acknowledged: int
    mtta_p50: float | None
    mtta_p90: float | None
    resolved: int
    mttr_p50: float | None
    mttr_p90: float | None


@dataclass
class Stats:
    days: int
    since: datetime
    incidents: Counter[tuple[str, str]] = field(default_factory=Counter)  # (place, sev) -> n
    timing: list[Timing] = field(default_factory=list)
    # Slack user -> (incidents led as commander, acknowledgements)
    people: dict[str, tuple[int, int]] = field(default_factory=dict)


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0..100), interpolated between the nearest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def gather(session: Session, *, days: int, now: datetime | None = None) -> Stats:
    """The figures of incidents opened in the last `days` days."""
    since = (now or utcnow()) - timedelta(days=days)
    stats = Stats(days=days, since=since)
    incidents = session.exec(select(Incident).where(Incident.started_at >= since)).all()
    by_severity: dict[str | None, tuple[list[float], list[float]]] = {None: ([], [])}
    for inc in incidents:
        stats.incidents[(place(inc), inc.severity)] += 1
        ack, res = time_to_acknowledge(inc), time_to_resolve(inc)
        for key in (None, inc.severity):
            acks, resolves = by_severity.setdefault(key, ([], []))
            if ack is not None:
                acks.append(ack.total_seconds())
            if res is not None:
                resolves.append(res.total_seconds())
    for key in (None, *SEVERITIES):
        if key is not None and key not in by_severity:
            continue
        acks, resolves = by_severity[key]
        stats.timing.append(
            Timing(
                key,
                len(acks),
                percentile(acks, 50),
                percentile(acks, 90),
                len(resolves),
                percentile(resolves, 50),
                percentile(resolves, 90),
            )
        )
    window = select(Incident.number).where(Incident.started_at >= since)
    # Who each incident called in: its commander (the on-call person the bot looked up, who
    # acknowledged first, or who was named), and who acknowledged it from Slack.
    led = Counter(
        session.exec(
            select(Role.user_id).where(
                col(Role.incident_number).in_(window), Role.role == "commander"
            )
        )
    )
    acked = Counter(
        a
        for a in session.exec(
            select(TimelineEvent.actor).where(
                col(TimelineEvent.incident_number).in_(window),
                TimelineEvent.kind == "acknowledged",
            )
        )
        if a
    )
    stats.people = {p: (led[p], acked[p]) for p in sorted(set(led) | set(acked))}
    return stats


def _seconds(value: float | None) -> str:
    return "-" if value is None else duration_text(timedelta(seconds=value))


def as_text(stats: Stats, registry: Registry) -> str:
    """The figures as tables for a terminal."""
    name = registry.severity_name
    lines = [f"Incidents opened since {stats.since:%Y-%m-%d %H:%M} UTC (last {stats.days} days)"]
    if not stats.incidents:
        lines.append("  none")
    width = max([len(p) for p, _ in stats.incidents] + [4])
    for (where, severity), n in sorted(stats.incidents.items()):
        lines.append(f"  {where:<{width}}  {name(severity):<8} {n:>5}")
    lines += ["", "Time to acknowledge and to resolve (p50 / p90)"]
    lines.append(
        f"  {'severity':<10} {'acked':>5}  {'MTTA p50':>9} {'p90':>9}  "
        f"{'resolved':>8}  {'MTTR p50':>9} {'p90':>9}"
    )
    for t in stats.timing:
        label = "all" if t.severity is None else name(t.severity)
        lines.append(
            f"  {label:<10} {t.acknowledged:>5}  {_seconds(t.mtta_p50):>9} "
            f"{_seconds(t.mtta_p90):>9}  {t.resolved:>8}  {_seconds(t.mttr_p50):>9} "
            f"{_seconds(t.mttr_p90):>9}"
        )
    lines += ["", "Pages per person: incidents led as commander / acknowledged"]
    if not stats.people:
        lines.append("  none")
    for person, (led, acked) in stats.people.items():
        lines.append(f"  {person:<12} {led:>5} {acked:>5}")
    return "\n".join(lines)


def as_csv(stats: Stats, registry: Registry) -> str:
    """The figures as one long CSV table: `metric,place,severity,person,value`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metric", "place", "severity", "person", "value"])
    for (where, severity), n in sorted(stats.incidents.items()):
        writer.writerow(["incidents", where, registry.severity_name(severity), "", n])
    for t in stats.timing:
        label = "all" if t.severity is None else registry.severity_name(t.severity)
        for metric, value in (
            ("acknowledged", t.acknowledged),
            ("mtta_p50_seconds", t.mtta_p50),
            ("mtta_p90_seconds", t.mtta_p90),
            ("resolved", t.resolved),
            ("mttr_p50_seconds", t.mttr_p50),
            ("mttr_p90_seconds", t.mttr_p90),
        ):
            shown = (
                "" if value is None else (round(value, 1) if isinstance(value, float) else value)
            )
            writer.writerow([metric, "", label, "", shown])
    for person, (led, acked) in stats.people.items():
        writer.writerow(["commander", "", "", person, led])
        writer.writerow(["acknowledgements", "", "", person, acked])
    return out.getvalue()


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """The `stats` subcommand's arguments."""
    stats = sub.add_parser(
        "stats", help="incidents per hub and severity, MTTA/MTTR p50/p90, pages per person"
    )
    stats.add_argument("--days", type=int, default=30, help="how far back (default 30)")
    stats.add_argument("--csv", action="store_true", help="one CSV table, for spreadsheets")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Print the figures; 2 for a bad argument or registry, 1 if the database fails."""
    if not 1 <= args.days <= 36500:
        print("error: --days takes a number of days from 1 to 36500", file=sys.stderr)
        return 2
    try:
        registry = Registry.load(settings.resolved_hubs_file())
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    try:
        with Session(readonly(engine)) as session:
            found = gather(session, days=args.days)
    finally:  # a database failure is said by bot.cli, on one line
        engine.dispose()
    print(
        as_csv(found, registry) if args.csv else as_text(found, registry),
        end="" if args.csv else "\n",
    )
    return 0
