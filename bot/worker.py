"""The in-process worker that performs every job: Slack, PagerDuty and Prometheus side effects.

Jobs are rows (see `bot.jobs`), so they survive restarts, and several replicas on one
PostgreSQL share them without running one twice. A handler that raises is retried with
exponential backoff; one that raises `RetryLater` is retried when the remote side said.
"""

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta

from sqlalchemy.engine import Engine

from bot.jobs import queue
from bot.jobs.models import DEAD, DONE
from bot.jobs.queue import ClaimedJob

log = logging.getLogger(__name__)

Handler = Callable[[ClaimedJob], None]


class RetryLater(Exception):
    """Raise from a handler to run the job again after `seconds` (e.g. a `Retry-After`)."""

    def __init__(self, seconds: float, reason: str = "retry later") -> None:
        super().__init__(f"{reason} (retry in {seconds:g}s)")
        self.seconds = seconds


class GiveUp(Exception):
    """Raise from a handler when retrying cannot help; the job is kept as dead."""


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with full jitter (attempt counts from 1)."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


class Worker:
    """A small pool of threads that claim and perform jobs."""

    def __init__(
        self,
        engine: Engine,
        handlers: Mapping[str, Handler],
        *,
        threads: int = 4,
        poll_interval: float = 1.0,
        lease: float = 600,
        backoff_base: float = 2.0,
        backoff_cap: float = 600.0,
        worker_id: str | None = None,
        on_outcome: Callable[[str, str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.handlers = dict(handlers)
        self.threads = threads
        self.poll_interval = poll_interval
        self.lease = lease
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._on_outcome = on_outcome
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._woken = False
        self._threads: list[threading.Thread] = []
        self._last_purge = 0.0

    def start(self) -> None:
        """Start the threads (none if there is nothing to perform)."""
        if not self.handlers:
            log.info("worker: no job handlers configured; jobs wait in the queue")
            return
        for n in range(self.threads):
            t = threading.Thread(target=self._loop, name=f"worker-{n}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the jobs in hand are settled."""
        self._stop.set()
        self.wake()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def wake(self) -> None:
        """Look for work now rather than at the next poll (called after enqueueing)."""
        with self._wake:
            self._woken = True
            self._wake.notify_all()

    def run_once(self, limit: int = 100) -> int:
        """Claim and perform up to `limit` ready jobs in this thread; returns how many ran."""
        jobs = self._claim(limit)
        for job in jobs:
            self._perform(job)
        return len(jobs)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                jobs = self._claim(1)
                for job in jobs:
                    self._perform(job)
                self._maybe_purge()
            except Exception:
                # The database is away, or a bug: log, wait a poll, and carry on.
                log.exception("worker: claiming jobs failed")
                jobs = []
            if not jobs:
                with self._wake:
                    # A wake-up that came while this thread was busy is not lost.
                    if not self._woken and not self._stop.is_set():
                        self._wake.wait(self.poll_interval)
                    self._woken = False

    def _claim(self, limit: int) -> list[ClaimedJob]:
        return queue.claim(
            self.engine,
            worker_id=self.id,
            kinds=sorted(self.handlers),
            limit=limit,
            lease=self.lease,
        )

    def _perform(self, job: ClaimedJob) -> None:
        started = time.monotonic()
        try:
            self.handlers[job.kind](job)
        except RetryLater as exc:
            status = self._settle_failure(job, exc, exc.seconds)
        except GiveUp as exc:
            status = self._settle_failure(job, exc, 0, permanent=True)
        except Exception as exc:
            delay = backoff(job.attempts, base=self.backoff_base, cap=self.backoff_cap)
            status = self._settle_failure(job, exc, delay)
        else:
            queue.complete(self.engine, job.id, worker_id=self.id)
            status = DONE
            log.info(
                "job %s %s done in %.0f ms", job.id, job.kind, (time.monotonic() - started) * 1000
            )
        if self._on_outcome:
            self._on_outcome(job.kind, status)

    def _settle_failure(
        self, job: ClaimedJob, exc: Exception, delay: float, permanent: bool = False
    ) -> str:
        error = f"{type(exc).__name__}: {exc}"
        status = queue.retry_later(
            self.engine, job, worker_id=self.id, error=error, delay=delay, permanent=permanent
        )
        if status == DEAD:
            log.error(
                "job %s %s gave up after %d attempts: %s", job.id, job.kind, job.attempts, error
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

    def _maybe_purge(self) -> None:
        now = time.monotonic()
        if now - self._last_purge > 3600:
            self._last_purge = now
            queue.purge_done(self.engine, older_than=timedelta(days=7))
