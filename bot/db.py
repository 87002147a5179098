"""The database engine, column types shared by the models, and migrations on start."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


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


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; replicas starting together take turns."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


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
