"""Migrations: they build exactly the schema the models describe, and run twice harmlessly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import bot.models  # noqa: F401  (registers every table)
from bot.db import make_engine, migrate


def test_migrations_match_the_models_and_are_idempotent(database_url: str):
    engine = make_engine(database_url)
    try:
        migrate(engine)
        migrate(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        assert diff == []
    finally:
        engine.dispose()
