"""Enqueue, claim and settle jobs; safe for several processes sharing one PostgreSQL.

Every function here is one short transaction and none calls anything outside the database:
the worker claims, lets go, performs the job with nothing open, then settles it. Looking for
work only reads, so idle workers never take SQLite's write lock.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.db import insert_ignoring, utcnow
from bot.jobs.kinds import JobKind, Payload
from bot.jobs.models import DEAD, DONE, PENDING, RUNNING, Job

job = Job.__table__  # type: ignore[attr-defined]

P = TypeVar("P", bound=Payload)


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job this worker holds the lease on."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    first_failed_at: datetime | None
    # The worker whose lease had expired when this one took the job over, if any.
    taken_from: str | None = None


def enqueue(conn: sa.Connection, kind: JobKind[P], payload: P, *, delay: float = 0) -> bool:
    """Add a job in the caller's transaction, so it exists exactly when the change does.

    Returns False when a job with the same dedup key is already waiting (nothing added)."""
    now = utcnow()
    values = {
        "kind": kind.name,
        "payload": payload.model_dump(mode="json"),
        "status": PENDING,
        "priority": kind.priority,
        "queue_key": kind.queue(payload),
        "dedup_key": kind.dedup(payload),
        "attempts": 0,
        "max_attempts": kind.max_attempts,
        "run_at": now + timedelta(seconds=delay),
        "created_at": now,
        "updated_at": now,
    }
    # RETURNING, since drivers disagree on the rowcount of an insert that did nothing.
    added = conn.execute(
        insert_ignoring(conn, job, "dedup_key").values(**values).returning(job.c.id)
    ).first()
    return added is not None


_WAITING = sa.select(job.c.dedup_key).where(
    job.c.dedup_key.in_(sa.bindparam("keys", expanding=True))
)


def waiting(conn: sa.Connection, keys: Sequence[str]) -> set[str]:
    """Which of these dedup keys a job holds now (one read, where inserting would do nothing)."""
    if not keys:
        return set()
    return set(conn.execute(_WAITING, {"keys": list(keys)}).scalars())


def hurry(conn: sa.Connection, kind: JobKind[P], payload: P) -> None:
    """Enqueue, or have the waiting job of the same dedup key run now rather than later."""
    if enqueue(conn, kind, payload):
        return
    now = utcnow()
    conn.execute(
        sa.update(job)
        .where(job.c.dedup_key == kind.dedup(payload), job.c.status == PENDING, job.c.run_at > now)
        .values(run_at=now, updated_at=now)
    )


def _ready(now: datetime, kinds: Sequence[str]) -> sa.ColumnElement[bool]:
    earlier = job.alias("earlier")
    ready = sa.or_(
        sa.and_(job.c.status == PENDING, job.c.run_at <= now),
        # A worker that died mid-job stops renewing its lease; the job is then taken again.
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
    return sa.and_(ready, job.c.kind.in_(list(kinds)), ~blocked)


def wait_for_work(conn: sa.Connection, kinds: Sequence[str]) -> float | None:
    """Seconds until a job of these kinds is due: 0 if one is ready now, None if none waits.

    Read-only: run it in a deferred (SQLite) transaction."""
    if not kinds:
        return None
    now = utcnow()
    if conn.execute(sa.select(job.c.id).where(_ready(now, kinds)).limit(1)).first():
        return 0.0
    due = conn.execute(
        sa.select(
            sa.func.min(sa.case((job.c.status == PENDING, job.c.run_at), else_=job.c.locked_until))
        ).where(
            job.c.kind.in_(list(kinds)),
            sa.or_(
                sa.and_(job.c.status == PENDING, job.c.run_at > now),
                sa.and_(job.c.status == RUNNING, job.c.locked_until > now),
            ),
        )
    ).scalar()
    if due is None:
        return None
    return max(0.0, (_aware(due) - now).total_seconds())


def claim(
    engine: Engine, *, worker_id: str, kinds: Sequence[str], limit: int = 1, lease: float = 15
) -> list[ClaimedJob]:
    """Take up to `limit` ready jobs; another process running this at once gets others."""
    if not kinds:
        return []
    now = utcnow()
    pick = (
        sa.select(job.c.id, job.c.status, job.c.locked_by)
        .where(_ready(now, kinds))
        .order_by(job.c.priority, job.c.run_at, job.c.id)
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
        .returning(
            job.c.id,
            job.c.kind,
            job.c.payload,
            job.c.attempts,
            job.c.max_attempts,
            job.c.first_failed_at,
        )
    )
    # Two statements, not UPDATE ... WHERE id IN (subquery): PostgreSQL may run such a
    # subquery more than once and so take more rows than LIMIT. The row locks (PostgreSQL)
    # or the write lock taken at BEGIN (SQLite) keep other workers off the picked rows.
    with engine.begin() as conn:
        picked = conn.execute(pick).all()
        if not picked:
            return []
        previous = {r.id: r.locked_by for r in picked if r.status == RUNNING}
        rows = conn.execute(take, {"ids": [r.id for r in picked]}).all()
    return [
        ClaimedJob(
            r.id,
            r.kind,
            r.payload,
            r.attempts,
            r.max_attempts,
            r.first_failed_at,
            previous.get(r.id),
        )
        for r in rows
    ]


def renew(engine: Engine, ids: Sequence[int], *, worker_id: str, lease: float) -> int:
    """Extend this worker's leases on jobs it is still performing; returns how many it holds."""
    if not ids:
        return 0
    now = utcnow()
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(job)
            .where(job.c.id.in_(list(ids)), job.c.locked_by == worker_id, job.c.status == RUNNING)
            .values(locked_until=now + timedelta(seconds=lease))
        )
    return int(result.rowcount)


def complete(engine: Engine, job_id: int, *, worker_id: str) -> None:
    """Mark a job done (only if this worker still holds it)."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(job)
            .where(job.c.id == job_id, job.c.locked_by == worker_id)
            .values(
                status=DONE, locked_by=None, locked_until=None, last_error=None, updated_at=utcnow()
            )
        )


def postpone(
    engine: Engine, claimed: ClaimedJob, *, worker_id: str, delay: float, dedup_key: str | None
) -> str:
    """Put a job back untouched, to run after `delay`: its attempt does not count.

    It takes its dedup key back, so what is requested meanwhile joins it; if a newer job of
    the same key already waits, that one will do the work and this one is done."""
    now = utcnow()
    done = (
        sa.update(job)
        .where(job.c.id == claimed.id, job.c.locked_by == worker_id)
        .values(status=DONE, locked_by=None, locked_until=None, updated_at=now)
    )
    back = (
        sa.update(job)
        .where(job.c.id == claimed.id, job.c.locked_by == worker_id)
        .values(
            status=PENDING,
            dedup_key=dedup_key,
            attempts=job.c.attempts - 1,
            run_at=now + timedelta(seconds=delay),
            locked_by=None,
            locked_until=None,
            updated_at=now,
        )
    )
    with engine.begin() as conn:
        newer = (
            dedup_key is not None
            and conn.execute(sa.select(job.c.id).where(job.c.dedup_key == dedup_key)).first()
        )
        if newer:
            conn.execute(done)
            return DONE
        try:
            # A savepoint: the key may be taken between the look and the write (by a
            # replica's intake, on PostgreSQL); the newer job then does the work.
            with conn.begin_nested():
                conn.execute(back)
        except sa.exc.IntegrityError:
            conn.execute(done)
            return DONE
    return PENDING


def fail(
    engine: Engine,
    claimed: ClaimedJob,
    *,
    worker_id: str,
    error: str,
    delay: float,
    give_up_after: float,
    permanent: bool = False,
) -> str:
    """Record a failed attempt: retry after `delay`, or dead; returns the new status.

    A job dies when retrying cannot help, after `max_attempts`, or when it has kept failing
    for `give_up_after` seconds: it then no longer holds up the jobs queued behind it."""
    now = utcnow()
    first = claimed.first_failed_at or now
    dead = (
        permanent
        or claimed.attempts >= claimed.max_attempts
        or (now - first).total_seconds() >= give_up_after
    )
    status = DEAD if dead else PENDING
    with engine.begin() as conn:
        conn.execute(
            sa.update(job)
            .where(job.c.id == claimed.id, job.c.locked_by == worker_id)
            .values(
                status=status,
                run_at=now + timedelta(seconds=delay),
                locked_by=None,
                locked_until=None,
                first_failed_at=first,
                last_error=error[:2000],
                updated_at=now,
            )
        )
    return status


def release(engine: Engine, kinds: Sequence[str]) -> int:
    """Run now the jobs of these kinds that wait out a failure (their integration is back)."""
    if not kinds:
        return 0
    now = utcnow()
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(job)
            .where(
                job.c.kind.in_(list(kinds)),
                job.c.status == PENDING,
                job.c.first_failed_at.is_not(None),
                job.c.run_at > now,
            )
            # Their time to give up starts again: the outage was not their fault.
            .values(run_at=now, first_failed_at=None, updated_at=now)
        )
    return int(result.rowcount)


def retry_dead(engine: Engine, job_id: int) -> bool:
    """Give a dead job a fresh start (a person fixed the cause); False if it is not dead."""
    now = utcnow()
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(job)
            .where(job.c.id == job_id, job.c.status == DEAD)
            .values(status=PENDING, attempts=0, first_failed_at=None, run_at=now, updated_at=now)
        )
    return bool(result.rowcount)


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


def listing(conn: sa.Connection, *, dead: bool, limit: int = 200) -> list[JobRow]:
    """Pending and running jobs (or dead ones), oldest first."""
    statuses = [DEAD] if dead else [PENDING, RUNNING]
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
        .order_by(job.c.id)
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
    return max(0.0, (now - _aware(oldest)).total_seconds())


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


def any_pending(conn: sa.Connection, kind: str, *, besides: int | None = None) -> bool:
    """Whether any job of this kind (other than `besides`) waits or runs."""
    query = sa.select(job.c.id).where(job.c.kind == kind, job.c.status.in_([PENDING, RUNNING]))
    if besides is not None:
        query = query.where(job.c.id != besides)
    return conn.execute(query.limit(1)).first() is not None


def release_waiting(conn: sa.Connection, kind: str) -> None:
    """Have every waiting job of this kind run now (what they waited for has happened)."""
    now = utcnow()
    conn.execute(
        sa.update(job)
        .where(job.c.kind == kind, job.c.status == PENDING, job.c.run_at > now)
        .values(run_at=now, updated_at=now)
    )


def _aware(value: object) -> datetime:
    # An aggregate of a date column may come back naive, or as text on SQLite.
    found = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(found, datetime):
        raise TypeError(f"not a time: {value!r}")
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def purge_done(engine: Engine, *, older_than: timedelta) -> int:
    """Delete finished jobs older than `older_than`; dead ones stay for a person to look at."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.delete(job).where(job.c.status == DONE, job.c.updated_at < utcnow() - older_than)
        )
    return int(result.rowcount)
