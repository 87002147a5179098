"""Alembic environment: runs on the connection that `bot.db.migrate` hands over, prints the SQL
for `bot.db.migration_sql` (offline), or, run as `alembic upgrade head` from the repository,
migrates the database of DATABASE_URL (or `-x url=...`)."""

from alembic import context
from sqlalchemy import create_engine, pool
from sqlmodel import SQLModel

import bot.models  # noqa: F401  (registers every table)
from bot.db import normalize_url

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    # The service's own setting, so that `alembic upgrade head` migrates the database the
    # service uses, not whatever file happens to sit in the working directory.
    given = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    if given:
        return normalize_url(given)
    from bot.config import Settings

    return Settings().database_url


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    if context.is_offline_mode():
        context.configure(
            url=_url(),
            target_metadata=target_metadata,
            render_as_batch=True,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
