"""`incident-bot jobs [--dead] [--retry ID]`: what the queue holds, and a second chance."""

import argparse
import sys

from bot.config import Settings
from bot.db import make_engine, readonly
from bot.jobs import queue, reads
from bot.jobs.models import DEAD, PENDING, RUNNING

# Rows of each kind listed: dead, and pending or running.
LIMIT = 200


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """The `jobs` subcommand's arguments."""
    jobs = sub.add_parser("jobs", help="list pending and dead jobs; retry a dead one")
    jobs.add_argument("--dead", action="store_true", help="list only the dead jobs")
    jobs.add_argument("--retry", type=int, metavar="ID", help="run a dead job again")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """List jobs, or retry one; 1 if the job is not dead (bot.cli says database failures)."""
    engine = make_engine(settings.database_url)
    try:
        if args.retry is not None:
            if not queue.retry_dead(engine, args.retry):
                print(
                    f"error: job {args.retry} is not dead (see `incident-bot jobs --dead`)",
                    file=sys.stderr,
                )
                return 1
            print(f"job {args.retry} will run again")
            return 0
        with readonly(engine).connect() as conn:
            rows = reads.listing(conn, dead_only=args.dead, limit=LIMIT)
            totals = reads.totals(conn)
    finally:  # a database failure is said by bot.cli, on one line
        engine.dispose()
    if not rows:
        print("no dead jobs" if args.dead else "no pending, running or dead jobs")
        return 0
    heading = "due/died (UTC)"
    print(f"{'id':>7}  {'kind':<20} {'status':<8} {'tries':>5}  {heading:<19}  queue / error")
    for r in rows:
        dead = r.status == DEAD
        detail = r.last_error if dead and r.last_error else (r.queue_key or "")
        when = (r.updated_at if dead else r.run_at).strftime("%Y-%m-%d %H:%M:%S")
        detail = " ".join(detail.split())[:120]  # an error may run over several lines
        print(f"{r.id:>7}  {r.kind:<20} {r.status:<8} {r.attempts:>5}  {when:<19}  {detail}")
    dead_n = totals.get(DEAD, 0)
    waiting_n = totals.get(PENDING, 0) + totals.get(RUNNING, 0)
    if dead_n > LIMIT or (not args.dead and waiting_n > LIMIT):
        print(
            f"(at most {LIMIT} of each shown, the newest dead and the oldest waiting: "
            f"{dead_n} dead, {waiting_n} pending or running in all)"
        )
    return 0
