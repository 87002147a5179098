"""One writer thread that commits Alertmanager deliveries in batches (group commit).

Concurrent deliveries queue here and are stored together in one transaction, so a storm
costs one commit per batch rather than one per request; each request is answered only after
the batch holding it has committed. One writer also keeps SQLite free of lock contention.
"""

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from bot.alerts.intake import NO_EXTRAS, Extras, IngestResult, ingest
from bot.alerts.schemas import AlertmanagerPayload
from bot.hubs import Registry

log = logging.getLogger(__name__)

_STOP = object()


class StoreUnavailable(Exception):
    """The delivery could not be stored now (database away); the sender should retry."""


class IntakeWriter:
    """Owns the thread that stores deliveries; `submit` from the event loop."""

    def __init__(
        self,
        engine: Engine,
        registry: Registry,
        *,
        max_batch: int = 64,
        linger: float = 0.002,
        gap: float = 0.0004,
        on_commit: Callable[[list[IngestResult]], None] | None = None,
        extras: Extras = NO_EXTRAS,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.max_batch = max_batch
        self.linger = linger
        self.gap = gap
        self._on_commit = on_commit
        self.extras = extras
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    async def submit(self, payload: AlertmanagerPayload) -> IngestResult:
        """Store a delivery; returns once it is committed (raises if it could not be)."""
        if not self.alive:
            raise StoreUnavailable("the intake writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[IngestResult] = loop.create_future()
        self._queue.put((payload, future, loop))
        return await future

    @property
    def alive(self) -> bool:
        """Whether deliveries are being stored (for /readyz)."""
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            # Linger a moment for the deliveries already on their way: a fuller batch costs
            # the same few statements and one commit. Once none has come for `gap`, the rest
            # are waiting for this batch's answers: lingering on would only delay them all.
            deadline = time.monotonic() + self.linger
            while len(batch) < self.max_batch:
                left = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=max(0.0, min(left, self.gap)))
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._store(batch)
            if stop:
                return

    def _store(self, batch: list[Any]) -> None:
        outcomes: list[IngestResult | BaseException]
        try:
            with self.engine.begin() as conn:
                outcomes = list(
                    ingest(
                        conn,
                        self.registry,
                        [payload for payload, _, _ in batch],
                        extras=self.extras,
                    )
                )
        except Exception as exc:
            # One bad apple must not fail its neighbours: store each on its own.
            log.warning(
                "batch of %d deliveries failed (%s); storing one by one",
                len(batch),
                type(exc).__name__,
            )
            outcomes = [self._store_one(payload) for payload, _, _ in batch]
        committed = [o for o in outcomes if isinstance(o, IngestResult)]
        if committed and self._on_commit:
            try:
                self._on_commit(committed)
            except Exception:
                log.exception("after-commit hook failed")
        # One wake-up of the event loop per batch, not one per delivery.
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for (_, future, loop), outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(loop, []).append((future, outcome))
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:
                pass  # the loop closed at shutdown; nobody is waiting any more

    def _store_one(self, payload: AlertmanagerPayload) -> IngestResult | BaseException:
        # Replicas storing overlapping groups can deadlock on PostgreSQL; the database picks
        # a victim, and running the victim again is the cure.
        retrying = Retrying(
            retry=retry_if_exception_type(sa.exc.OperationalError),
            stop=stop_after_attempt(5),
            wait=wait_random_exponential(multiplier=0.02, max=0.5),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt, self.engine.begin() as conn:
                    return ingest(conn, self.registry, [payload], extras=self.extras)[0]
        except Exception:
            log.exception("storing an Alertmanager delivery failed")
        return StoreUnavailable()


def _settle(settled: list[tuple["asyncio.Future[IngestResult]", Any]]) -> None:
    for future, outcome in settled:
        if future.cancelled():
            continue  # the client hung up; its delivery is stored all the same
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
