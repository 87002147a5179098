"""The in-process worker that performs every job: Slack, PagerDuty and Prometheus side effects.

Jobs are rows (see `bot.jobs.queue`), so they survive restarts, and several replicas on one
PostgreSQL share them without running one twice. A thread looks for work with a read, claims
one job in a short transaction, performs it with no transaction open, and settles it in
another. Leases are short and renewed while a job runs, so the jobs of a killed process are
taken over within seconds. How an attempt ended decides what follows (`bot.jobs.attempt`):
postponed (pacing, rate limits: not a failure), failed (backoff; dead after a bounded time),
or the integration unreachable (its jobs wait, one probe at a time, and all run as soon as it
answers again).
"""

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, ParamSpec, TypeVar

import pydantic
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.db import readonly
from bot.jobs import queue
from bot.jobs.attempt import GiveUp, RetryLater, Unreachable, answered, current_job
from bot.jobs.health import IntegrationHealth
from bot.jobs.kinds import JobKind, P
from bot.jobs.models import DEAD, DONE
from bot.jobs.queue import ClaimedJob

log = logging.getLogger(__name__)

Params = ParamSpec("Params")
# How an attempt ended, besides a job's own statuses, for /metrics: put back for later without
# counting (pacing, an interval), or waiting for an integration that did not answer.
POSTPONED, UNREACHABLE = "postponed", "unreachable"
T = TypeVar("T")


@dataclass(frozen=True)
class Performer(Generic[P]):
    """What performs jobs of one kind."""

    kind: JobKind[P]
    perform: Callable[[P, ClaimedJob], None]


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter (attempt counts from 1), at least half the step."""
    step = min(cap, base * 2 ** (attempt - 1))
    return random.uniform(step / 2, step)


class Worker:
    """A small pool of threads that claim and perform jobs."""

    def __init__(
        self,
        engine: Engine,
        performers: Iterable[Performer[Any]],
        *,
        threads: int = 4,
        poll_interval: float = 1.0,
        lease: float = 15.0,
        backoff_base: float = 2.0,
        backoff_cap: float = 60.0,
        give_up_after: float = 3600.0,
        probe_interval: float = 2.0,
        worker_id: str | None = None,
        on_outcome: Callable[[str, str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.reader = readonly(engine)
        self.performers = {p.kind.name: p for p in performers}
        self.threads = threads
        self.poll_interval = poll_interval
        self.lease = lease
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.give_up_after = give_up_after
        self.health = IntegrationHealth(probe_interval)
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._on_outcome = on_outcome
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._woken = False
        self._threads: list[threading.Thread] = []
        self._held: set[int] = set()
        self._held_lock = threading.Lock()
        self._last_purge = time.monotonic()
        self._db_ok = True

    # -- lifecycle

    def start(self) -> None:
        """Start the threads (none if there is nothing to perform, or no threads wanted)."""
        if not self.performers or self.threads == 0:
            log.info("worker: not running here; jobs wait in the queue for another replica")
            return
        self._stop.clear()
        for n in range(self.threads):
            t = threading.Thread(target=self._loop, name=f"worker-{n}", daemon=True)
            t.start()
            self._threads.append(t)
        beat = threading.Thread(target=self._heartbeat, name="worker-lease", daemon=True)
        beat.start()
        self._threads.append(beat)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the jobs in hand are settled."""
        self._stop.set()
        self.wake()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def wake(self, jobs: int | None = None) -> None:
        """Look for work now rather than at the next poll (called after enqueueing `jobs`):
        as many threads as there are new jobs, not every thread for one job."""
        with self._wake:
            self._woken = True
            if jobs is None:
                self._wake.notify_all()
            else:
                self._wake.notify(max(1, min(jobs, self.threads)))

    def run_once(self, limit: int = 100) -> int:
        """Claim and perform up to `limit` ready jobs in this thread; returns how many ran."""
        jobs = self._claim(limit)
        for job in jobs:
            self._perform(job)
        return len(jobs)

    # -- the loop

    def _loop(self) -> None:
        busy = False  # the last pass did a job: more are likely, claim without looking first
        while not self._stop.is_set():
            due: float | None = None
            try:
                kinds = self._kinds_now()
                if not busy:
                    with self.reader.connect() as conn:
                        due = queue.wait_for_work(conn, kinds)
                if busy or due == 0:
                    jobs = self._claim(1, kinds)
                    for job in jobs:
                        self._perform(job)
                    busy = bool(jobs)
                    if jobs:
                        self._database(ok=True)
                        continue
                    due = None
                self._maybe_purge()
                self._database(ok=True)
            except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
                self._database(ok=False, reason=str(exc.__cause__ or exc)[:200])
            except Exception:
                # A bug: the job in hand keeps its lease until it runs out, then runs again.
                log.exception("worker: unexpected error; carrying on")
            wait = self.poll_interval if due is None else min(self.poll_interval, due)
            with self._wake:
                # A wake-up that came while this thread was busy is not lost.
                if not self._woken and not self._stop.is_set():
                    self._wake.wait(max(wait, 0.005))
                self._woken = False

    def _kinds_now(self) -> list[str]:
        # Asked once per integration: a down one lets all its kinds through for one probe.
        integrations = {p.kind.integration for p in self.performers.values()}
        allowed = {i for i in integrations if self.health.may_call(i)}
        return sorted(n for n, p in self.performers.items() if p.kind.integration in allowed)

    def _claim(self, limit: int, kinds: list[str] | None = None) -> list[ClaimedJob]:
        jobs = queue.claim(
            self.engine,
            worker_id=self.id,
            kinds=self._kinds_now() if kinds is None else kinds,
            limit=limit,
            lease=self.lease,
        )
        with self._held_lock:
            self._held.update(j.id for j in jobs)
        for job in jobs:
            if job.taken_from:
                log.warning(
                    "job %s %s taken over from %s, whose lease ran out (stopped or killed)",
                    job.id,
                    job.kind,
                    job.taken_from,
                )
        return jobs

    def _heartbeat(self) -> None:
        # Renew the leases of the jobs in hand, so a slow call never lets another worker in,
        # while a killed process's leases run out within `lease` seconds.
        while not self._stop.wait(self.lease / 3):
            with self._held_lock:
                held = sorted(self._held)
            if not held:
                continue
            try:
                queue.renew(self.engine, held, worker_id=self.id, lease=self.lease)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("worker: could not renew leases: %s", exc.__cause__ or exc)

    # -- one job

    def _perform(self, job: ClaimedJob) -> None:
        started = time.monotonic()
        performer = self.performers[job.kind]
        kind = performer.kind
        token = current_job.set(f"job-{job.id}")
        try:
            status = self._attempt(job, performer)
        finally:
            current_job.reset(token)
            with self._held_lock:
                self._held.discard(job.id)
        log.debug(
            "job %s %s: %s in %.0f ms",
            job.id,
            kind.name,
            status,
            (time.monotonic() - started) * 1e3,
        )
        if self._on_outcome:
            self._on_outcome(kind.name, status)

    def _attempt(self, job: ClaimedJob, performer: Performer[Any]) -> str:
        kind = performer.kind
        try:
            payload = kind.payload.model_validate(job.payload)
        except pydantic.ValidationError as exc:
            return self._failed(job, GiveUp(f"payload does not fit {kind.name}: {exc}"), 0, True)
        heard: set[str] = set()
        token = answered.set(heard)
        try:
            status = self._outcome(job, performer, payload)
        finally:
            answered.reset(token)
        for integration in sorted(heard):
            if self.health.succeeded(integration):
                released = queue.release(self.engine, self._kinds_of(integration))
                log.info("%d waiting %s jobs released", released, integration)
                self.wake()
        return status

    def _outcome(self, job: ClaimedJob, performer: Performer[Any], payload: Any) -> str:
        kind = performer.kind
        try:
            performer.perform(payload, job)
        except RetryLater as exc:
            self._settle(
                queue.postpone,
                self.engine,
                job,
                worker_id=self.id,
                delay=exc.seconds,
                dedup_key=kind.dedup(payload),
            )
            return POSTPONED
        except Unreachable as exc:
            # Not the job's fault: it waits (its attempts and its time to give up untouched)
            # and runs as soon as the integration answers a probe.
            self.health.failed(exc.integration, str(exc))
            self._settle(
                queue.postpone,
                self.engine,
                job,
                worker_id=self.id,
                delay=self._backoff(job),
                dedup_key=kind.dedup(payload),
                error=f"{type(exc).__name__}: {exc}",
            )
            return UNREACHABLE
        except GiveUp as exc:
            return self._failed(job, exc, 0, permanent=True)
        except Exception as exc:
            return self._failed(job, exc, self._backoff(job))
        self._settle(queue.complete, self.engine, job.id, worker_id=self.id)
        return DONE

    def _settle(self, write: Callable[Params, T], *args: Params.args, **kwargs: Params.kwargs) -> T:
        """Record how a job ended, retrying while the database is away: a job performed but
        left RUNNING would run again once its lease ran out (its lease is renewed meanwhile)."""
        for attempt in range(1, 9):
            try:
                return write(*args, **kwargs)
            except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
                if attempt == 8:
                    raise
                self._database(ok=False, reason=str(exc.__cause__ or exc)[:200])
                time.sleep(min(0.1 * 2**attempt, 5.0))
        raise AssertionError("unreachable")

    def _kinds_of(self, integration: str) -> list[str]:
        return [n for n, p in self.performers.items() if p.kind.integration == integration]

    def _backoff(self, job: ClaimedJob) -> float:
        return backoff(job.attempts, base=self.backoff_base, cap=self.backoff_cap)

    def _failed(
        self,
        job: ClaimedJob,
        exc: Exception,
        delay: float,
        permanent: bool = False,
    ) -> str:
        error = f"{type(exc).__name__}: {exc}"
        status = self._settle(
            queue.fail,
            self.engine,
            job,
            worker_id=self.id,
            error=error,
            delay=delay,
            give_up_after=self.give_up_after,
            permanent=permanent,
        )
        if status == DEAD:
            log.error(
                "job %s %s is dead after %d attempts: %s "
                "(see `incident-bot jobs --dead`; `--retry %s` once the cause is fixed)",
                job.id,
                job.kind,
                job.attempts,
                error,
                job.id,
            )
        else:
            log.warning(
                "job %s %s failed (attempt %d), retry in %.1fs: %s",
                job.id,
                job.kind,
                job.attempts,
                delay,
                error,
            )
        return status

    # -- housekeeping

    def _database(self, *, ok: bool, reason: str = "") -> None:
        # Logged once per change, not once per poll of every thread.
        if ok != self._db_ok:
            self._db_ok = ok
            if ok:
                log.warning("worker: the database answers again")
            else:
                log.error("worker: the database is unreachable (%s); jobs wait", reason)

    def _maybe_purge(self) -> None:
        now = time.monotonic()
        if now - self._last_purge > 3600:
            self._last_purge = now
            queue.purge_done(self.engine, older_than=timedelta(days=7))
