"""Enqueue, claim and settle jobs; safe for several processes sharing one PostgreSQL."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.db import insert_ignoring, utcnow
from bot.jobs.models import DEAD, DONE, PENDING, RUNNING, Job

job = Job.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job this worker holds the lease on."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


def enqueue(
    conn: sa.Connection,
    kind: str,
    payload: dict[str, Any],
    *,
    queue_key: str | None = None,
    dedup_key: str | None = None,
    run_at: datetime | None = None,
    max_attempts: int = 25,
) -> None:
    """Add a job in the caller's transaction, so it exists exactly when the change does."""
    now = utcnow()
    values = {
        "kind": kind,
        "payload": payload,
        "status": PENDING,
        "queue_key": queue_key,
        "dedup_key": dedup_key,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_at": run_at or now,
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(insert_ignoring(conn, job, "dedup_key").values(**values))


def claim(
    engine: Engine, *, worker_id: str, kinds: list[str], limit: int = 1, lease: float = 600
) -> list[ClaimedJob]:
    """Take up to `limit` ready jobs; another process running this at once gets others."""
    now = utcnow()
    earlier = job.alias("earlier")
    ready = sa.or_(
        sa.and_(job.c.status == PENDING, job.c.run_at <= now),
        # A worker that died mid-job left its lease behind; it expires and the job is taken again.
        sa.and_(job.c.status == RUNNING, job.c.locked_until < now),
    )
    blocked = (
        sa.select(earlier.c.id)
        .where(
            earlier.c.queue_key == job.c.queue_key,
            earlier.c.id < job.c.id,
            earlier.c.status.in_([PENDING, RUNNING]),
        )
        .exists()
    )
    pick = (
        sa.select(job.c.id)
        .where(ready, job.c.kind.in_(kinds), ~blocked)
        .order_by(job.c.run_at, job.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    take = (
        sa.update(job)
        .where(job.c.id.in_(sa.bindparam("ids", expanding=True)))
        .values(
            status=RUNNING,
            # A job being performed no longer stands in for later requests of the same work
            # (it may have read the state before they were made): free its dedup key.
            dedup_key=None,
            attempts=job.c.attempts + 1,
            locked_by=worker_id,
            locked_until=now + timedelta(seconds=lease),
            updated_at=now,
        )
        .returning(job.c.id, job.c.kind, job.c.payload, job.c.attempts, job.c.max_attempts)
    )
    # Two statements, not UPDATE ... WHERE id IN (subquery): PostgreSQL may run such a
    # subquery more than once and so take more rows than LIMIT. The row locks (PostgreSQL)
    # or the write lock taken at BEGIN (SQLite) keep other workers off the picked rows.
    with engine.begin() as conn:
        ids = list(conn.execute(pick).scalars())
        rows = conn.execute(take, {"ids": ids}).all() if ids else []
    return [ClaimedJob(r.id, r.kind, r.payload, r.attempts, r.max_attempts) for r in rows]


def complete(engine: Engine, job_id: int, *, worker_id: str) -> None:
    """Mark a job done (only if this worker still holds it)."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(job)
            .where(job.c.id == job_id, job.c.locked_by == worker_id)
            .values(status=DONE, locked_until=None, last_error=None, updated_at=utcnow())
        )


def retry_later(
    engine: Engine,
    claimed: ClaimedJob,
    *,
    worker_id: str,
    error: str,
    delay: float,
    permanent: bool = False,
) -> str:
    """Put a failed job back to run after `delay` seconds, or give up; returns the new status."""
    dead = permanent or claimed.attempts >= claimed.max_attempts
    status = DEAD if dead else PENDING
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            sa.update(job)
            .where(job.c.id == claimed.id, job.c.locked_by == worker_id)
            .values(
                status=status,
                run_at=now + timedelta(seconds=delay),
                locked_by=None,
                locked_until=None,
                last_error=error[:2000],
                updated_at=now,
            )
        )
    return status


def depth(conn: sa.Connection) -> dict[str, int]:
    """How many jobs are in each status (done ones included)."""
    rows = conn.execute(sa.select(job.c.status, sa.func.count()).group_by(job.c.status)).all()
    counts = {PENDING: 0, RUNNING: 0, DONE: 0, DEAD: 0}
    counts.update(dict(rows))
    return counts


def purge_done(engine: Engine, *, older_than: timedelta) -> int:
    """Delete finished jobs older than `older_than`; dead ones stay for a person to look at."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.delete(job).where(job.c.status == DONE, job.c.updated_at < utcnow() - older_than)
        )
    return result.rowcount
