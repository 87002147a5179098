"""The durable job queue: retries with backoff, Retry-After, restarts, several workers."""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.db import make_engine, migrate, utcnow
from bot.jobs import queue
from bot.jobs.queue import ClaimedJob
from bot.worker import GiveUp, RetryLater, Worker
from tests.conftest import count, running
from tests.payloads import alert, delivery


def add(engine: Engine, kind: str = "test.job", **kwargs: object) -> None:
    with engine.begin() as conn:
        queue.enqueue(conn, kind, {"n": kwargs.pop("n", 0)}, **kwargs)  # type: ignore[arg-type]


def job_rows(engine: Engine) -> list[sa.Row[tuple[object, ...]]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(queue.job).order_by(queue.job.c.id)))


def wait_for(predicate: object, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_job_that_fails_twice_then_succeeds(engine: Engine):
    calls: list[int] = []

    def flaky(job: ClaimedJob) -> None:
        calls.append(job.attempts)
        if len(calls) < 3:
            raise ConnectionError("Slack is down")

    add(engine)
    worker = Worker(
        engine,
        {"test.job": flaky},
        threads=2,
        poll_interval=0.02,
        backoff_base=0.05,
        backoff_cap=0.1,
    )
    worker.start()
    try:
        wait_for(lambda: job_rows(engine)[0].status == "done")
    finally:
        worker.stop()
    [row] = job_rows(engine)
    assert calls == [1, 2, 3]
    assert row.attempts == 3 and row.last_error is None


def test_retry_after_is_honoured(engine: Engine):
    def limited(job: ClaimedJob) -> None:
        raise RetryLater(30, "429 from Slack")

    add(engine)
    worker = Worker(engine, {"test.job": limited}, backoff_base=0)
    assert worker.run_once() == 1
    [row] = job_rows(engine)
    assert row.status == "pending" and "429 from Slack" in row.last_error
    wait = (row.run_at - utcnow()).total_seconds()
    assert 28 < wait <= 30
    # Not before its time, even when asked.
    assert worker.run_once() == 0


def test_give_up_and_exhausted_attempts_keep_the_job_as_dead(engine: Engine):
    def hopeless(job: ClaimedJob) -> None:
        raise GiveUp("channel_not_found")

    def failing(job: ClaimedJob) -> None:
        raise RuntimeError("boom")

    add(engine, "test.hopeless")
    add(engine, "test.failing", max_attempts=2)
    worker = Worker(
        engine, {"test.hopeless": hopeless, "test.failing": failing}, backoff_base=0, backoff_cap=0
    )
    worker.run_once()
    worker.run_once()
    rows = job_rows(engine)
    assert [(r.status, r.attempts) for r in rows] == [("dead", 1), ("dead", 2)]
    assert "channel_not_found" in rows[0].last_error


def test_jobs_survive_a_restart(database_url: str):
    first = make_engine(database_url)
    migrate(first)
    for n in range(3):
        add(first, n=n)
    # A worker that claims a job and dies before finishing it.
    [lost] = queue.claim(first, worker_id="dead-worker", kinds=["test.job"], lease=0.3)
    first.dispose()

    done: list[int] = []
    second = make_engine(database_url)
    migrate(second)
    worker = Worker(
        second, {"test.job": lambda job: done.append(job.payload["n"])}, poll_interval=0.05
    )
    worker.start()
    try:
        wait_for(lambda: len(done) == 3)
    finally:
        worker.stop()
    assert sorted(done) == [0, 1, 2]
    by_n = {r.payload["n"]: r for r in job_rows(second)}
    assert by_n[lost.payload["n"]].attempts == 2  # taken again once its lease ran out
    assert {r.status for r in by_n.values()} == {"done"}
    second.dispose()


def test_several_workers_on_separate_connections_never_run_a_job_twice(database_url: str):
    engines = [make_engine(database_url) for _ in range(3)]
    migrate(engines[0])
    with engines[0].begin() as conn:
        for n in range(150):
            queue.enqueue(conn, "test.job", {"n": n})
    seen: Counter[int] = Counter()
    lock = threading.Lock()

    def record(job: ClaimedJob) -> None:
        with lock:
            seen[job.payload["n"]] += 1
        time.sleep(0.001)

    workers = [Worker(e, {"test.job": record}, threads=3, poll_interval=0.02) for e in engines]
    for w in workers:
        w.start()
    try:
        wait_for(lambda: count(engines[0], "job", "status = 'done'") == 150, timeout=60)
    finally:
        for w in workers:
            w.stop()
        for e in engines:
            e.dispose()
    assert set(seen) == set(range(150))
    assert set(seen.values()) == {1}


def test_jobs_with_one_queue_key_run_in_order(engine: Engine):
    order: list[int] = []
    failed_once: set[int] = set()

    def step(job: ClaimedJob) -> None:
        n = job.payload["n"]
        if n == 0 and n not in failed_once:
            failed_once.add(n)
            raise RetryLater(0.2, "not yet")
        order.append(n)

    for n in range(4):
        add(engine, n=n, queue_key="incident:1")
    worker = Worker(engine, {"test.job": step}, threads=4, poll_interval=0.02)
    worker.start()
    try:
        wait_for(lambda: len(order) == 4)
    finally:
        worker.stop()
    assert order == [0, 1, 2, 3]


def test_a_dedup_key_enqueues_once_while_the_job_waits(engine: Engine):
    add(engine, dedup_key="slack.refresh:1")
    add(engine, dedup_key="slack.refresh:1")
    assert count(engine, "job") == 1
    # Once taken, the job may have read the state already: a new request is queued.
    queue.claim(engine, worker_id="w", kinds=["test.job"])
    add(engine, dedup_key="slack.refresh:1")
    assert count(engine, "job") == 2


def test_a_job_exists_only_if_its_transaction_commits(engine: Engine):
    with pytest.raises(RuntimeError), engine.begin() as conn:
        queue.enqueue(conn, "test.job", {})
        raise RuntimeError("the state change failed")
    assert count(engine, "job") == 0


def test_finished_jobs_are_purged_after_a_while(engine: Engine):
    add(engine)
    Worker(engine, {"test.job": lambda job: None}).run_once()
    assert queue.purge_done(engine, older_than=timedelta(days=7)) == 0
    assert queue.purge_done(engine, older_than=timedelta(seconds=-1)) == 1


def test_the_service_performs_the_jobs_its_alerts_cause(settings: Settings):
    opened: list[int] = []
    handlers = {"slack.open_channel": lambda job: opened.append(job.payload["incident"])}
    with running(settings, job_handlers=handlers) as svc:
        with svc.am as c:
            assert c.post("/webhooks/alertmanager", json=delivery(alert())).status_code == 200
        # Woken by the commit, not by polling: well within one poll interval.
        wait_for(lambda: opened == [1], timeout=0.9)
        with svc.client() as c:
            metrics = c.get("/metrics").text
    assert (
        'incident_bot_jobs_finished_total{kind="slack.open_channel",status="done"} 1.0' in metrics
    )
