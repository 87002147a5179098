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
    queue_key: str | None
    last_error: str | None


def listing(conn: sa.Connection, *, dead_only: bool, limit: int = 200) -> list[JobRow]:
    """Dead jobs, then pending and running ones (or the dead alone), oldest first: what
    needs a person comes first, and a storm's pending jobs never hide it."""
    statuses = [DEAD] if dead_only else [DEAD, PENDING, RUNNING]
    rows = conn.execute(
        sa.select(
            job.c.id,
            job.c.kind,
            job.c.status,
            job.c.attempts,
            job.c.run_at,
            job.c.created_at,
            job.c.queue_key,
            job.c.last_error,
        )
        .where(job.c.status.in_(statuses))
        .order_by(sa.case((job.c.status == DEAD, 0), else_=1), job.c.id)
        .limit(limit)
    ).all()
    return [JobRow(*r) for r in rows]


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
