"""Reads of the job queue: what the CLI lists, what /metrics shows, what performers check."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bot.db import as_aware, utcnow
from bot.jobs.models import DEAD, PENDING, RUNNING
from bot.jobs.queue import job


@dataclass(frozen=True, slots=True)
class JobRow:
    """A job as `incident-bot jobs` lists it."""

    id: int
    kind: str
    status: str
    attempts: int
    run_at: datetime
    created_at: datetime
    updated_at: datetime
    queue_key: str | None
    last_error: str | None


_COLUMNS = (
    job.c.id,
    job.c.kind,
    job.c.status,
    job.c.attempts,
    job.c.run_at,
    job.c.created_at,
    job.c.updated_at,
    job.c.queue_key,
    job.c.last_error,
)


def listing(conn: sa.Connection, *, dead_only: bool, limit: int = 200) -> list[JobRow]:
    """The dead jobs, newest first (what needs a person), then the pending and running ones,
    oldest first (or the dead alone); at most `limit` of each, so neither hides the other."""
    dead = sa.select(*_COLUMNS).where(job.c.status == DEAD).order_by(job.c.id.desc())
    rows = list(conn.execute(dead.limit(limit)).all())
    if not dead_only:
        waiting = sa.select(*_COLUMNS).where(job.c.status.in_([PENDING, RUNNING]))
        rows += conn.execute(waiting.order_by(job.c.id).limit(limit)).all()
    return [JobRow(*r) for r in rows]


def totals(conn: sa.Connection) -> dict[str, int]:
    """How many jobs there are in each status."""
    rows = conn.execute(sa.select(job.c.status, sa.func.count()).group_by(job.c.status)).all()
    return {str(status): int(n) for status, n in rows}


def depth(conn: sa.Connection) -> dict[tuple[str, str], int]:
    """How many jobs there are of each (kind, status), done ones included."""
    rows = conn.execute(
        sa.select(job.c.kind, job.c.status, sa.func.count()).group_by(job.c.kind, job.c.status)
    ).all()
    return {(kind, status): n for kind, status, n in rows}


def oldest_ready_age(conn: sa.Connection) -> float:
    """Seconds the longest-waiting ready job has been due (0 when none is)."""
    now = utcnow()
    oldest = conn.execute(
        sa.select(sa.func.min(job.c.run_at)).where(job.c.status == PENDING, job.c.run_at <= now)
    ).scalar()
    if oldest is None:
        return 0.0
    return max(0.0, (now - as_aware(oldest)).total_seconds())


def pending(conn: sa.Connection, kind: str, queue_key: str) -> bool:
    """Whether a job of this kind and queue key waits or runs."""
    found = conn.execute(
        sa.select(job.c.id)
        .where(
            job.c.kind == kind, job.c.queue_key == queue_key, job.c.status.in_([PENDING, RUNNING])
        )
        .limit(1)
    ).first()
    return found is not None


def any_pending(
    conn: sa.Connection, kind: str, *, besides: int | None = None, healthy: bool = False
) -> bool:
    """Whether any job of this kind (other than `besides`; with `healthy`, that has not
    failed or met an outage) waits or runs."""
    query = sa.select(job.c.id).where(job.c.kind == kind, job.c.status.in_([PENDING, RUNNING]))
    if besides is not None:
        query = query.where(job.c.id != besides)
    if healthy:
        query = query.where(job.c.last_error.is_(None))
    return conn.execute(query.limit(1)).first() is not None
