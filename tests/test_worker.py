"""The durable job queue: retries with backoff, Retry-After, restarts, several workers."""

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.db import make_engine, migrate, utcnow
from bot.incidents import effects
from bot.jobs import queue
from bot.jobs.attempt import GiveUp, RetryLater, Unreachable, heard_from
from bot.jobs.kinds import JobKind, Payload
from bot.jobs.queue import ClaimedJob
from bot.jobs.worker import Performer, Worker
from tests.conftest import count, running
from tests.payloads import alert, delivery


class N(Payload):
    n: int = 0
    key: str | None = None
    dedup: str | None = None


def kind(name: str = "test.job", **kwargs: Any) -> JobKind[N]:
    return JobKind(
        name,
        N,
        kwargs.pop("integration", None),
        priority=kwargs.pop("priority", 5),
        queue=lambda p: p.key,
        dedup=lambda p: p.dedup,
        **kwargs,
    )


KINDS: dict[str, JobKind[N]] = {}


def known(name: str, **kwargs: Any) -> JobKind[N]:
    if name not in KINDS or kwargs:
        KINDS[name] = kind(name, **kwargs)
    return KINDS[name]


def add(engine: Engine, name: str = "test.job", **kwargs: Any) -> bool:
    with engine.begin() as conn:
        return queue.enqueue(
            conn,
            known(name),
            N(
                n=kwargs.pop("n", 0),
                key=kwargs.pop("queue_key", None),
                dedup=kwargs.pop("dedup_key", None),
            ),
        )


def work(fn: Callable[[ClaimedJob], None], name: str = "test.job") -> Performer[N]:
    return Performer(known(name), lambda payload, job: fn(job))


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
        [work(flaky)],
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


def test_retry_after_is_honoured_and_a_postponed_attempt_does_not_count(engine: Engine):
    def limited(job: ClaimedJob) -> None:
        raise RetryLater(30, "429 from Slack")

    add(engine)
    worker = Worker(engine, [work(limited)], backoff_base=0)
    assert worker.run_once() == 1
    [row] = job_rows(engine)
    assert row.status == "pending" and row.attempts == 0
    wait = (row.run_at - utcnow()).total_seconds()
    assert 28 < wait <= 30
    # Not before its time, even when asked.
    assert worker.run_once() == 0


def test_give_up_and_exhausted_attempts_keep_the_job_as_dead(engine: Engine):
    def hopeless(job: ClaimedJob) -> None:
        raise GiveUp("channel_not_found")

    def failing(job: ClaimedJob) -> None:
        raise RuntimeError("boom")

    known("test.failing", max_attempts=2)
    add(engine, "test.hopeless")
    add(engine, "test.failing")
    worker = Worker(
        engine,
        [work(hopeless, "test.hopeless"), work(failing, "test.failing")],
        backoff_base=0,
        backoff_cap=0,
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
    worker = Worker(second, [work(lambda job: done.append(job.payload["n"]))], poll_interval=0.05)
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
            queue.enqueue(conn, known("test.job"), N(n=n))
    seen: Counter[int] = Counter()
    lock = threading.Lock()

    def record(job: ClaimedJob) -> None:
        with lock:
            seen[job.payload["n"]] += 1
        time.sleep(0.001)

    workers = [Worker(e, [work(record)], threads=3, poll_interval=0.02) for e in engines]
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
    worker = Worker(engine, [work(step)], threads=4, poll_interval=0.02)
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
        queue.enqueue(conn, known("test.job"), N())
        raise RuntimeError("the state change failed")
    assert count(engine, "job") == 0


def test_finished_jobs_are_purged_after_a_while(engine: Engine):
    add(engine)
    Worker(engine, [work(lambda job: None)]).run_once()
    assert queue.purge_done(engine, older_than=timedelta(days=7)) == 0
    assert queue.purge_done(engine, older_than=timedelta(seconds=-1)) == 1


def test_the_service_performs_the_jobs_its_alerts_cause(settings: Settings):
    opened: list[int] = []
    performer = Performer(effects.OPEN_CHANNEL, lambda p, job: opened.append(p.incident))
    with running(settings, performers=[performer]) as svc:
        with svc.am as c:
            assert c.post("/webhooks/alertmanager", json=delivery(alert())).status_code == 200
        # Woken by the commit, not by polling: well within one poll interval.
        wait_for(lambda: opened == [1], timeout=0.9)
        with svc.client() as c:
            metrics = c.get("/metrics").text
    assert (
        'incident_bot_jobs_finished_total{kind="slack.open_channel",status="done"} 1.0' in metrics
    )


def test_an_unreachable_integration_is_probed_and_its_jobs_run_as_soon_as_it_is_back(
    engine: Engine, caplog: pytest.LogCaptureFixture
):
    known("test.slack", integration="slack")
    up = threading.Event()
    calls: list[int] = []

    def call_slack(job: ClaimedJob) -> None:
        calls.append(job.payload["n"])
        if not up.is_set():
            raise Unreachable("slack", "connection refused")
        heard_from("slack")  # as the adapter does on any answer

    for n in range(5):
        add(engine, "test.slack", n=n)
    worker = Worker(
        engine,
        [work(call_slack, "test.slack")],
        threads=2,
        poll_interval=0.05,
        backoff_base=30,  # far beyond the test: only the recovery can bring them back
        probe_interval=0.3,
    )
    worker.start()
    try:
        wait_for(lambda: len(calls) >= 3, timeout=5)
        time.sleep(0.3)
        # While down, one probe per interval, not every job at its own pace.
        assert len(calls) <= 2 + 0.6 / 0.3 + 1
        assert worker.health.unreachable() == {"slack": "slack unreachable: connection refused"}
        # An outage is not the jobs' fault: however long it lasts, none moves towards dead.
        rows = job_rows(engine)
        assert all(r.attempts <= 1 and r.first_failed_at is None for r in rows), rows
        assert any("connection refused" in (r.last_error or "") for r in rows)
        up.set()
        wait_for(lambda: count(engine, "job", "status = 'done'") == 5, timeout=5)
    finally:
        worker.stop()
    assert worker.health.unreachable() == {}
    changes = [r.getMessage() for r in caplog.records if "slack" in r.getMessage()]
    # Logged once per change of state, not per job or per attempt.
    assert len([m for m in changes if "unreachable" in m]) == 1
    assert len([m for m in changes if "answers again" in m]) == 1


def test_a_job_failing_for_too_long_dies_and_stops_holding_up_its_queue(engine: Engine):
    ran: list[int] = []

    def step(job: ClaimedJob) -> None:
        if job.payload["n"] == 0:
            raise RuntimeError("never works")
        ran.append(job.payload["n"])

    add(engine, n=0, queue_key="incident:1")
    add(engine, n=1, queue_key="incident:1")
    worker = Worker(engine, [work(step)], poll_interval=0.02, backoff_base=0.05, give_up_after=0.5)
    worker.start()
    try:
        wait_for(lambda: ran == [1], timeout=5)
    finally:
        worker.stop()
    first, second = job_rows(engine)
    assert first.status == "dead" and "never works" in first.last_error
    assert second.status == "done"
    # A person can run it again once the cause is fixed.
    assert queue.retry_dead(engine, first.id)
    assert not queue.retry_dead(engine, second.id)
    assert job_rows(engine)[0].status == "pending"


def test_a_long_job_keeps_its_lease_and_nobody_else_takes_it(database_url: str):
    engines = [make_engine(database_url) for _ in range(2)]
    migrate(engines[0])
    add(engines[0])
    seen: list[str] = []

    def slow(job: ClaimedJob) -> None:
        seen.append(threading.current_thread().name)
        time.sleep(1.2)

    workers = [
        Worker(e, [work(slow)], threads=1, poll_interval=0.05, lease=0.4, worker_id=f"w{i}")
        for i, e in enumerate(engines)
    ]
    for w in workers:
        w.start()
    try:
        wait_for(lambda: count(engines[0], "job", "status = 'done'") == 1, timeout=5)
        time.sleep(0.5)
    finally:
        for w in workers:
            w.stop()
        for e in engines:
            e.dispose()
    assert len(seen) == 1


def test_a_postponed_job_keeps_its_dedup_key_so_requests_meanwhile_join_it(engine: Engine):
    def later(job: ClaimedJob) -> None:
        raise RetryLater(60, "edit interval")

    add(engine, dedup_key="refresh:1")
    Worker(engine, [work(later)]).run_once()
    assert not add(engine, dedup_key="refresh:1")  # joined the postponed one
    assert count(engine, "job") == 1
    # A request made while it runs is a newer job: the postponed one is then superseded.
    with engine.begin() as conn:
        conn.execute(sa.update(queue.job).values(run_at=utcnow()))
    [taken] = queue.claim(engine, worker_id="w", kinds=["test.job"])
    assert add(engine, dedup_key="refresh:1")
    status = queue.postpone(engine, taken, worker_id="w", delay=60, dedup_key="refresh:1")
    assert status == "done" and count(engine, "job", "status = 'pending'") == 1


def test_higher_priority_jobs_go_first(engine: Engine):
    known("test.low", priority=9)
    known("test.high", priority=0)
    order: list[str] = []
    for n in range(3):
        add(engine, "test.low", n=n)
    add(engine, "test.high")
    worker = Worker(
        engine,
        [
            work(lambda job: order.append(job.kind), "test.low"),
            work(lambda job: order.append(job.kind), "test.high"),
        ],
    )
    while worker.run_once(limit=1):
        pass
    assert order == ["test.high", "test.low", "test.low", "test.low"]


def test_an_idle_worker_never_takes_the_write_lock(engine: Engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's single write lock")
    writes: list[str] = []

    def began(conn: sa.Connection) -> None:
        if conn.get_execution_options().get("sqlite_begin", "IMMEDIATE") == "IMMEDIATE":
            writes.append(threading.current_thread().name)

    add(engine, n=1)
    worker = Worker(engine, [work(lambda job: None)], threads=4, poll_interval=0.02)
    event.listen(engine, "begin", began)
    worker.start()
    try:
        wait_for(lambda: count(engine, "job", "status = 'done'") == 1)
        time.sleep(0.2)
        writes.clear()
        time.sleep(1.0)  # 4 threads x 50 polls
        idle = list(writes)
    finally:
        worker.stop()
        event.remove(engine, "begin", began)
    assert idle == []
