"""`incident-bot serve | migrate | check | route | import-clusters | jobs | stats`.

Exit codes: 0 done, 1 a runtime failure, 2 a configuration mistake (a setting, the database
unreachable); every error is one line on stderr."""

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from pydantic import ValidationError

from bot import __version__, rules, stats
from bot.checks import CheckError, check_all
from bot.config import Settings, settings_error
from bot.db import (
    MIGRATE_FIRST,
    DatabaseUnavailable,
    check_connection,
    make_engine,
    migrate,
    migration_sql,
    normalize_url,
    one_line,
    revision,
    shown_url,
)
from bot.hubs import Registry, RegistryError
from bot.hubs.import_clusters import CommunityPer, FleetError, import_clusters, read_fleet
from bot.incidents import cli as incidents_cli
from bot.incidents.naming import alert_title, channel_name, channel_subject
from bot.jobs import cli as jobs_cli
from bot.runbooks import RunbookError, Runbooks


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `incident-bot` command."""
    parser = argparse.ArgumentParser(
        prog="incident-bot",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"incident-bot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the service (API, webhooks, Slack app, worker)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="do not log every request (saves CPU under alert storms)",
    )

    mig = sub.add_parser("migrate", help="bring the database schema to the newest revision")
    mig.add_argument(
        "--sql", action="store_true", help="print the SQL instead of running it (touches nothing)"
    )

    check = sub.add_parser("check", help="validate the hub registry, runbooks and alert rules")
    check.add_argument("--hubs", type=Path, help="registry file (default: HUBS_FILE)")
    check.add_argument("--runbooks", type=Path, help="runbooks folder (default: RUNBOOKS_DIR)")
    check.add_argument("--alerts", type=Path, help="alert rules folder (default: alerts)")

    route = sub.add_parser("route", help="show what an alert with these labels would become")
    route.add_argument(
        "--label",
        "-l",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an alert label; repeat for each",
    )
    route.add_argument("--hubs", type=Path, help="registry file (default: HUBS_FILE)")
    route.add_argument("--json", action="store_true", help="one JSON object, for scripts")

    imp = sub.add_parser(
        "import-clusters",
        help="add or update the registry's clusters and hubs from <cluster>/cluster.yaml files",
    )
    imp.add_argument("folder", type=Path, help="e.g. infrastructure/config/clusters")
    imp.add_argument("--hubs", type=Path, help="registry file to update (default: HUBS_FILE)")
    imp.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    imp.add_argument(
        "--community-per",
        choices=["hub", "cluster"],
        default="hub",
        help="a new hub's community: its own (default), or one per cluster",
    )

    jobs_cli.add_parser(sub)
    stats.add_parser(sub)
    incidents_cli.add_parser(sub)

    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"error: {settings_error(exc)}", file=sys.stderr)
        return 2
    try:
        if args.command in READS_DATABASE and (missing := _missing_sqlite(settings)):
            # Connecting would leave an empty file behind, in whatever folder this runs in.
            print(
                f"error: DATABASE_URL: no database at {missing}: {MIGRATE_FIRST}", file=sys.stderr
            )
            return 2
        if args.command in USES_DATABASE and not getattr(args, "sql", False):
            _check_database(settings)
        return _run(args, settings, parser)
    except DatabaseUnavailable as exc:
        print(f"error: DATABASE_URL: {exc}", file=sys.stderr)
        return 2
    except sa.exc.SQLAlchemyError as exc:
        if isinstance(exc, sa.exc.DBAPIError) and exc.statement is None:
            # Failed to connect (no statement ran): the database is unreachable.
            print(
                f"error: DATABASE_URL: cannot connect: {one_line(exc.orig or exc)}", file=sys.stderr
            )
            return 2
        # Past the connection check, a database failure is a runtime one.
        print(f"error: database: {one_line(exc.__cause__ or exc)}", file=sys.stderr)
        return 1


# Commands that read or write the database: they first check it answers (else exit 2).
USES_DATABASE = frozenset({"serve", "migrate", "jobs", "stats", "incidents"})
# Of those, the ones that never create it.
READS_DATABASE = frozenset({"jobs", "stats", "incidents"})


def _missing_sqlite(settings: Settings) -> str | None:
    url = sa.make_url(normalize_url(settings.database_url))
    path = url.database
    if url.get_backend_name() == "sqlite" and path and path != ":memory:":
        return None if Path(path).exists() else path
    return None


def _check_database(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    try:
        check_connection(engine)
    finally:
        engine.dispose()


def _run(args: argparse.Namespace, settings: Settings, parser: argparse.ArgumentParser) -> int:
    if args.command == "serve":
        return _serve(settings, args.host, args.port, args.log_level, args.access_log)
    if args.command == "migrate":
        return _migrate(settings, sql=args.sql)
    if args.command == "jobs":
        return jobs_cli.run(settings, args)
    if args.command == "stats":
        return stats.run(settings, args)
    if args.command == "incidents":
        return incidents_cli.run(settings, args)
    if args.command == "import-clusters":
        return _import_clusters(
            args.folder, args.hubs or settings.hubs_file, args.dry_run, args.community_per
        )
    try:
        registry = Registry.load(args.hubs or settings.resolved_hubs_file())
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.command == "check":
        for warning in registry.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        return _check(registry, settings, args.runbooks, args.alerts)
    return _route(registry, settings, args.label, args.json, parser)


def _serve(settings: Settings, host: str, port: int, log_level: str, access_log: bool) -> int:
    import uvicorn

    from bot.app import create_app
    from bot.logs import configure, log_config

    # One format for the bot's lines and uvicorn's (access log included), set before the app
    # is built so that its first lines have it too; uvicorn applies the same dict again.
    config = log_config(log_level, settings.log_format)
    configure(config)
    try:
        app = create_app(settings)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2  # a configuration mistake
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=config,
        access_log=access_log,
        ws="none",
    )
    return 0


def _migrate(settings: Settings, *, sql: bool) -> int:
    if sql:
        migration_sql(settings.database_url, sys.stdout)
        return 0
    engine = make_engine(settings.database_url)
    try:
        before = revision(engine)
        migrate(engine)
        after = revision(engine)
    finally:
        engine.dispose()
    where = shown_url(settings.database_url)
    if before == after:
        print(f"{where}: up to date (revision {after})")
    else:
        print(f"{where}: migrated from revision {before or 'none'} to {after}")
    return 0


def _import_clusters(folder: Path, hubs: Path, dry_run: bool, per: CommunityPer) -> int:
    try:
        before = hubs.read_text(encoding="utf-8") if hubs.exists() else ""
        result = import_clusters(read_fleet(folder), before, community_per=per)
    except (OSError, FleetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not result.changed:
        print(f"{hubs}: up to date ({folder})")
        return 0
    if dry_run:
        print(result.diff(hubs), end="")
        return 0
    hubs.write_text(result.after, encoding="utf-8")
    print(
        f"{hubs}: {len(result.clusters_added)} clusters added, {len(result.hubs_added)} hubs "
        f"added, {len(result.hubs_updated)} updated, {len(result.communities_added)} "
        "communities added (private, no token yet)"
    )
    return 0


def _check(
    registry: Registry, settings: Settings, runbooks_dir: Path | None, alerts_dir: Path | None
) -> int:
    runbooks_dir = runbooks_dir or settings.resolved_runbooks_dir()
    alerts_dir = alerts_dir or settings.resolved_alerts_dir()
    try:
        books = Runbooks.load(runbooks_dir)
        found = rules.load(alerts_dir)
        print(check_all(registry, books, found, alerts_dir))
    except (RunbookError, rules.RulesError, CheckError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _route(
    registry: Registry,
    settings: Settings,
    pairs: list[str],
    as_json: bool,
    parser: argparse.ArgumentParser,
) -> int:
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            parser.error(f"--label takes KEY=VALUE, not {pair!r}")
        labels[key] = value
    r = registry.route(labels)
    community = registry.communities.get(r.community) if r.community else None
    hub = registry.hub(r.cluster, r.hub) if r.cluster and r.hub else None
    alertname = labels.get("alertname")
    books = Runbooks.load(
        settings.resolved_runbooks_dir(),
        base_url=settings.runbooks_base_url,
        public_url=settings.public_url,
        strict=False,
    )
    book = books.match(alertname) if alertname else None
    # The same name the service gives the channel, were the incident opened today.
    subject = channel_subject(alertname, alert_title(alertname or "", None, r.cluster, r.hub))
    channel = channel_name(datetime.now(UTC), r.cluster, r.hub, subject)
    pages = r.escalation_policy if r.opens_incident else None
    opened = channel if r.opens_incident else None
    # Where it is shown when it opens nothing and its hub has no open incident.
    slack = bool(settings.slack_bot_token.get_secret_value())
    quiet = (settings.observe_channel or None) if slack and not r.opens_incident else None
    if as_json:
        print(
            json.dumps(
                {
                    "cluster": r.cluster,
                    "hub": r.hub,
                    "domain": hub.domain if hub else None,
                    "community": r.community,
                    "scope": r.scope,
                    "severity": r.severity,
                    "severity_name": registry.severity_name(r.severity),
                    "severity_label": labels.get("severity"),
                    "opens_incident": r.opens_incident,
                    "runbook": books.url(book) if book else None,
                    "runbook_title": book.title if book else None,
                    "channel": opened,
                    "quiet_channel": quiet,
                    "pages": pages,
                },
                indent=2,
            )
        )
        return 0
    scope = "hub" if r.hub else ("cluster-wide" if r.cluster else "unmapped")
    severity = registry.severity_name(r.severity)
    shown = severity if severity == r.severity else f"{severity} ({r.severity})"
    rows = [
        ("cluster", r.cluster or "-"),
        ("hub", r.hub or "-"),
        ("domain", hub.domain if hub and hub.domain else "-"),
        ("community", f"{community.name} ({community.id})" if community else "-"),
        ("scope", scope),
        ("severity", f"{shown} (label: {labels.get('severity', 'none')})"),
        (
            "opens incident",
            "yes" if r.opens_incident else "no (joins its hub's open incident, if any)",
        ),
        ("runbook", f"{book.title} <{books.url(book)}>" if book else "none matches"),
        ("channel", opened or "none of its own (it joins its hub's open incident, if any)"),
        (
            "quiet channel",
            "-"
            if r.opens_incident
            else f"{quiet}, in its hub's message of the day (if no incident is open)"
            if quiet
            else "none (OBSERVE_CHANNEL and SLACK_BOT_TOKEN are not both set): only stored",
        ),
        (
            "pages",
            f"the on-call of PagerDuty escalation policy {pages}, invited as commander"
            if pages
            else "nobody",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0
