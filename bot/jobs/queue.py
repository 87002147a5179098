"""Enqueue, claim and settle jobs; safe for several processes sharing one PostgreSQL.

Every function here is one short transaction and none calls anything outside the database:
the worker claims, lets go, performs the job with nothing open, then settles it. Looking for
work only reads, so idle workers never take SQLite's write lock.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.db import UTCDateTime, as_aware, insert_ignoring, utcnow
from bot.jobs.kinds import JobKind, Payload
from bot.jobs.models import DEAD, DONE, PENDING, RUNNING, Job

job = Job.__table__  # type: ignore[attr-defined]

P = TypeVar("P", bound=Payload)

# The execution option that names the integrations an engine's service is configured for.
INTEGRATIONS = "incident_bot_integrations"


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
    # Why its last attempt did not finish, if one did not (a failure or an outage).
    last_error: str | None = None

    @property
    def retried(self) -> bool:
        """Whether an earlier attempt may have got as far as the outside world."""
        return self.attempts > 1 or self.last_error is not None or self.taken_from is not None


def configure(engine: Engine, integrations: Iterable[str | None]) -> None:
    """Say which integrations are configured where `engine` is used: from now on, jobs of
    another integration are not queued through it (an engine never configured queues all).

    Connections opened earlier, and engines derived from it earlier, keep what they had."""
    engine.update_execution_options(**{INTEGRATIONS: frozenset(i for i in integrations if i)})


def configured(conn: sa.Connection, integration: str | None) -> bool:
    """Whether jobs of `integration` are queued through this connection."""
    known: frozenset[str] | None = conn.get_execution_options().get(INTEGRATIONS)
    return integration is None or known is None or integration in known


def enqueue(conn: sa.Connection, kind: JobKind[P], payload: P, *, delay: float = 0) -> bool:
    """Add a job in the caller's transaction, so it exists exactly when the change does.

    Returns False when a job with the same dedup key is already waiting, or when the kind's
    integration is not configured (see `configure`): nothing added."""
    if not configured(conn, kind.integration):
        return False
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


# Locked (PostgreSQL): a replica cannot claim the waiting job, and read the state, before the
# change that found it waiting commits; SQLite's one writer gives the same for free.
_WAITING = (
    sa.select(job.c.dedup_key)
    .where(job.c.dedup_key.in_(sa.bindparam("keys", expanding=True)))
    .with_for_update()
)


def waiting(conn: sa.Connection, keys: Sequence[str]) -> set[str]:
    """Which of these dedup keys a job holds now (one read, where inserting would do nothing)."""
    if not keys:
        return set()
    return set(conn.execute(_WAITING, {"keys": list(keys)}).scalars())


def hurry(conn: sa.Connection, kind: JobKind[P], payload: P, *, add: bool = True) -> None:
    """Have the waiting job of the same dedup key run now rather than later (with `add`,
    enqueue one if none waits)."""
    if add and enqueue(conn, kind, payload):
        return
    now = utcnow()
    conn.execute(
        sa.update(job)
        .where(job.c.dedup_key == kind.dedup(payload), job.c.status == PENDING, job.c.run_at > now)
        .values(run_at=now, updated_at=now)
    )


# The statements the worker runs in a loop, built once: SQLAlchemy then only looks them up in
# its compiled cache instead of building and keying a new expression per poll and claim.
_earlier = job.alias("earlier")
_NOW = sa.bindparam("now", type_=UTCDateTime())
_READY = sa.and_(
    sa.or_(
        sa.and_(job.c.status == PENDING, job.c.run_at <= _NOW),
        # A worker that died mid-job stops renewing its lease; the job is then taken again.
        sa.and_(job.c.status == RUNNING, job.c.locked_until < _NOW),
    ),
    job.c.kind.in_(sa.bindparam("kinds", expanding=True)),
    ~sa.select(_earlier.c.id)
    .where(
        _earlier.c.queue_key == job.c.queue_key,
        _earlier.c.id < job.c.id,
        _earlier.c.status.in_([PENDING, RUNNING]),
    )
    .exists(),
)
_ANY_READY = sa.select(job.c.id).where(_READY).limit(1)
_NEXT_DUE = sa.select(
    sa.func.min(sa.case((job.c.status == PENDING, job.c.run_at), else_=job.c.locked_until))
).where(
    job.c.kind.in_(sa.bindparam("kinds", expanding=True)),
    sa.or_(
        sa.and_(job.c.status == PENDING, job.c.run_at > _NOW),
        sa.and_(job.c.status == RUNNING, job.c.locked_until > _NOW),
    ),
)
_PICK = (
    sa.select(job.c.id, job.c.status, job.c.locked_by)
    .where(_READY)
    .order_by(job.c.priority, job.c.run_at, job.c.id)
    .limit(sa.bindparam("limit", type_=sa.Integer()))
    .with_for_update(skip_locked=True)
)
_TAKE = (
    sa.update(job)
    .where(job.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(
        status=RUNNING,
        # A job being performed no longer stands in for later requests of the same work
        # (it may have read the state before they were made): free its dedup key.
        dedup_key=None,
        attempts=job.c.attempts + 1,
        locked_by=sa.bindparam("worker"),
        locked_until=sa.bindparam("until", type_=UTCDateTime()),
        updated_at=_NOW,
    )
    .returning(
        job.c.id,
        job.c.kind,
        job.c.payload,
        job.c.attempts,
        job.c.max_attempts,
        job.c.first_failed_at,
        job.c.last_error,
    )
)


def wait_for_work(conn: sa.Connection, kinds: Sequence[str]) -> float | None:
    """Seconds until a job of these kinds is due: 0 if one is ready now, None if none waits.

    Read-only: run it in a deferred (SQLite) transaction."""
    if not kinds:
        return None
    now = utcnow()
    args = {"now": now, "kinds": list(kinds)}
    if conn.execute(_ANY_READY, args).first():
        return 0.0
    due = conn.execute(_NEXT_DUE, args).scalar()
    if due is None:
        return None
    return max(0.0, (as_aware(due) - now).total_seconds())


def claim(
    engine: Engine, *, worker_id: str, kinds: Sequence[str], limit: int = 1, lease: float = 15
) -> list[ClaimedJob]:
    """Take up to `limit` ready jobs; another process running this at once gets others."""
    if not kinds:
        return []
    now = utcnow()
    # Two statements, not UPDATE ... WHERE id IN (subquery): PostgreSQL may run such a
    # subquery more than once and so take more rows than LIMIT. The row locks (PostgreSQL)
    # or the write lock taken at BEGIN (SQLite) keep other workers off the picked rows.
    with engine.begin() as conn:
        picked = conn.execute(_PICK, {"now": now, "kinds": list(kinds), "limit": limit}).all()
        if not picked:
            return []
        previous = {r.id: r.locked_by for r in picked if r.status == RUNNING}
        rows = conn.execute(
            _TAKE,
            {
                "ids": [r.id for r in picked],
                "worker": worker_id,
                "until": now + timedelta(seconds=lease),
                "now": now,
            },
        ).all()
    return [
        ClaimedJob(
            r.id,
            r.kind,
            r.payload,
            r.attempts,
            r.max_attempts,
            r.first_failed_at,
            previous.get(r.id),
            r.last_error,
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
    engine: Engine,
    claimed: ClaimedJob,
    *,
    worker_id: str,
    delay: float,
    dedup_key: str | None,
    error: str | None = None,
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
    if error:
        # Why it waits, when that is an outage (`incident-bot jobs` shows it); kept through
        # later postponements, so a retry knows an earlier try may have got through.
        back = back.values(last_error=error[:2000])
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
    """Run now the jobs of these kinds that wait out a failure or an outage (their integration
    is back)."""
    if not kinds:
        return 0
    now = utcnow()
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(job)
            .where(
                job.c.kind.in_(list(kinds)),
                job.c.status == PENDING,
                job.c.last_error.is_not(None),
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


def release_waiting(conn: sa.Connection, kind: str) -> None:
    """Have every waiting job of this kind run now (what they waited for has happened)."""
    now = utcnow()
    conn.execute(
        sa.update(job)
        .where(job.c.kind == kind, job.c.status == PENDING, job.c.run_at > now)
        .values(run_at=now, updated_at=now)
    )


def purge_done(engine: Engine, *, older_than: timedelta) -> int:
    """Delete finished jobs older than `older_than`; dead ones stay for a person to look at."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.delete(job).where(job.c.status == DONE, job.c.updated_at < utcnow() - older_than)
        )
    return int(result.rowcount)
