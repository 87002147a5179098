"""Shared fixtures: a real database (SQLite, or PostgreSQL via TEST_DATABASE_URL) and the
service itself, served by uvicorn on a free loopback port and driven over real HTTP."""

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from bot.app import create_app
from bot.config import Settings
from bot.db import make_engine, migrate

ROOT = Path(__file__).resolve().parent.parent
AM_TOKEN = "am-test-token"
API_TOKEN = "api-test-token"


def postgres_url() -> str | None:
    """TEST_DATABASE_URL, or under pytest-xdist a database of this worker's own beside it
    (`test_gw0`, ...), made if missing: workers never wipe each other's tables."""
    url = os.environ.get("TEST_DATABASE_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    base = sa.make_url(url)
    name = f"{base.database}_{worker}"
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or the PostgreSQL of TEST_DATABASE_URL wiped."""
    url = postgres_url()
    if not url:
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the fresh database, migrated."""
    e = make_engine(database_url)
    migrate(e)
    yield e
    e.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings as a test deployment has them: tokens set, integrations pointed nowhere."""
    return Settings(
        _env_file=None,
        database_url=database_url,
        hubs_file=ROOT / "hubs.yaml",
        runbooks_dir=ROOT / "runbooks",
        alertmanager_token=AM_TOKEN,
        api_token=API_TOKEN,
    )


@dataclass
class Service:
    """A running service and clients for it."""

    app: FastAPI
    url: str
    engine: Engine

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    @property
    def api(self) -> httpx.Client:
        return self.client(API_TOKEN)

    @property
    def am(self) -> httpx.Client:
        return self.client(AM_TOKEN)


def serve(
    app: FastAPI,
    *,
    log_level: str = "warning",
    access_log: bool = True,
    configured: Callable[[], None] | None = None,
) -> tuple[uvicorn.Server, threading.Thread, str]:
    """Run `app` under uvicorn in a thread on a free port; returns once it answers.

    `configured` runs once uvicorn has set up its logging (which replaces handlers)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level=log_level, access_log=access_log, ws="none", lifespan="on"
    )
    if configured is not None:
        configured()
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{port}"


def stop(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(20)


@contextmanager
def running(settings: Settings, **kwargs: Any) -> Iterator[Service]:
    """The whole service with these settings, for as long as the block runs."""
    app = create_app(settings, **kwargs)
    server, thread, url = serve(app)
    try:
        yield Service(app, url, app.state.engine)
    finally:
        stop(server, thread)


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    """The whole service on a fresh database."""
    with running(settings) as svc:
        yield svc


def count(engine: Engine, table: str, where: str = "") -> int:
    """Rows in a table, straight from the database."""
    with engine.connect() as conn:
        sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
        return int(conn.execute(sa.text(sql)).scalar_one())


# The service between a fake Slack and a fake PagerDuty, for every test folder.
from tests.rig import fakes, rig, slack_settings  # noqa: E402, F401
