"""Alembic environment: runs on the connection that `bot.db.migrate` hands over."""

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

import bot.models  # noqa: F401  (registers every table)

config = context.config
target_metadata = SQLModel.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    # `alembic -x url=... revision --autogenerate` during development.
    url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///./incident-bot.db")
    engine = engine_from_config({"sqlalchemy.url": url}, poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
