"""The database engine, column types shared by the models, and migrations on start."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import pydantic_core
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant works; it only has to be the same in every replica.
MIGRATION_LOCK_ID = 7_160_221

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")

# The schemes DATABASE_URL may use, and the driver each one means.
SCHEMES = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
    "postgresql+psycopg": "postgresql+psycopg",
    # Heroku, Render and libpq write `postgres://`; SQLAlchemy's `postgresql://` means
    # psycopg2, which is not installed: both mean the psycopg (3) driver we ship.
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
}
ACCEPTED = "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/NAME (or postgres://)"
# How long to wait for PostgreSQL to accept a connection before calling it unreachable.
CONNECT_TIMEOUT = 10


# What to say when a command finds no schema where DATABASE_URL points.
MIGRATE_FIRST = "run `incident-bot migrate` (or start `incident-bot serve` once) first"


class DatabaseUnavailable(Exception):
    """The database cannot be reached: the message names it (password hidden) and why."""


def normalize_url(url: str) -> str:
    """`url` with its scheme rewritten to the driver we ship; ValueError if it is not one."""
    scheme, sep, rest = url.partition("://")
    driver = SCHEMES.get(scheme.lower()) if sep else None
    if driver is None:
        shown = f"{scheme!r}" if sep else "none"
        raise ValueError(f"unsupported URL scheme {shown}: use {ACCEPTED}")
    normalized = f"{driver}://{rest}"
    try:
        sa.engine.make_url(normalized)
    except (sa.exc.ArgumentError, ValueError) as exc:  # ValueError: a port that is no number
        raise ValueError(f"not a database URL ({exc}): use {ACCEPTED}") from None
    return normalized


def shown_url(url: str) -> str:
    """The URL as it may be logged: the password hidden."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return "(not a URL)"


def utcnow() -> datetime:
    """Now, timezone-aware in UTC."""
    return datetime.now(UTC)


def as_aware(value: object) -> datetime:
    """A time read back from an aggregate (naive, or text on SQLite), in UTC."""
    found = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(found, datetime):
        raise TypeError(f"not a time: {value!r}")
    return found if found.tzinfo else found.replace(tzinfo=UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Stores UTC, returns aware datetimes: SQLite has no time zones, PostgreSQL keeps them."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    # SQLite keeps these as text. Each stored alert writes several and reads one back: one C
    # call each way, for the very text that SQLAlchemy's SQLite DATETIME writes and reads
    # ("2026-11-26 04:00:00.000000"), instead of its formatting and regular expression.
    def bind_processor(self, dialect: sa.Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_text

    def result_processor(self, dialect: sa.Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return _sqlite_datetime


def _sqlite_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def _sqlite_datetime(value: str | None) -> datetime | None:
    return None if value is None else as_aware(value)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and foreign keys."""
    url = normalize_url(url)
    # Every stored alert has two JSON columns: pydantic's encoder is several times faster.
    kwargs.setdefault("json_serializer", _to_json)
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    # Without it, an address that drops packets holds the start-up for minutes.
    kwargs.setdefault("connect_args", {"connect_timeout": CONNECT_TIMEOUT})
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


def check_connection(engine: Engine) -> None:
    """Connect once; `DatabaseUnavailable` (one line: where and why) if that fails."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as exc:
        raise DatabaseUnavailable(
            f"cannot connect to {engine.url.render_as_string(hide_password=True)}: "
            f"{one_line(exc.orig or exc)}"
        ) from exc


def one_line(exc: BaseException) -> str:
    """A driver's message on one line (psycopg adds hints on lines of their own)."""
    return "; ".join(part.strip() for part in str(exc).splitlines() if part.strip())


def _to_json(value: Any) -> str:
    return pydantic_core.to_json(value).decode()


def readonly(engine: Engine) -> Engine:
    """The same engine, for transactions that only read (no write lock on SQLite)."""
    return engine.execution_options(sqlite_begin="DEFERRED")


def _sqlite_begin(conn: sa.Connection) -> None:
    # A deferred SQLite transaction that reads and then writes fails at once ("database is
    # locked") when another writer got in between; taking the write lock up front makes it
    # wait on the busy timeout instead. Read-only work opts out through `readonly()`.
    mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    conn.exec_driver_sql(f"BEGIN {mode}")


def insert_ignoring(conn: sa.Connection, table: sa.Table, *keys: str) -> Any:
    """`INSERT ... ON CONFLICT (keys) DO NOTHING` for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql_insert(table).on_conflict_do_nothing(index_elements=list(keys))
    return sqlite_insert(table).on_conflict_do_nothing(index_elements=list(keys))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN, instead of pysqlite's implicit one.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # WAL lets readers run beside the one writer; NORMAL is durable in WAL mode at commit.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _alembic_config(**kwargs: Any) -> Config:
    cfg = Config(**kwargs)
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; replicas starting together take turns."""
    cfg = _alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None: not migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migration_sql(url: str, out: TextIO) -> None:
    """Write the SQL that builds the schema on an empty database of `url`'s dialect to `out`;
    no database is touched."""
    url = normalize_url(url)
    if sa.engine.make_url(url).get_backend_name() == "sqlite":
        _sqlite_schema_sql(out)
        return
    cfg = _alembic_config(output_buffer=out)
    cfg.attributes["url"] = url
    command.upgrade(cfg, "head", sql=True)


def _sqlite_schema_sql(out: TextIO) -> None:
    # Alembic's batch migrations (SQLite's ALTER TABLE) reflect the live table, so they cannot
    # run offline: migrate a database in memory and dump the schema it ends with instead.
    engine = make_engine("sqlite://", poolclass=sa.pool.StaticPool)
    try:
        migrate(engine)
        raw = engine.raw_connection()
        try:
            out.write("-- SQLite: the schema at the newest revision, built on an empty database\n")
            for statement in raw.driver_connection.iterdump():  # type: ignore[union-attr]
                out.write(f"{statement}\n")
        finally:
            raw.close()
    finally:
        engine.dispose()


def ping(engine: Engine) -> bool:
    """Whether the database answers."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.SQLAlchemyError:
        return False


def session_scope(engine: Engine) -> Iterator[Session]:
    """A session for one request; FastAPI closes it afterwards."""
    with Session(engine) as session:
        yield session
