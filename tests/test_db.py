"""Migrations: they build exactly the schema the models describe, run twice harmlessly, and
carry stored rows forward."""

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import bot.models  # noqa: F401  (registers every table)
from bot.db import MIGRATIONS_DIR, make_engine, migrate


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


def test_incidents_stored_before_0006_are_named_for_the_alert_that_opened_them(
    database_url: str,
):
    engine = make_engine(database_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    opened = "2026-11-25 10:00:00.000000"
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0005")
            conn.execute(
                sa.text(
                    "INSERT INTO incident (number, title, status, severity, scope, source, "
                    "started_at, updated_at, slack_summary_edits, slack_invited) VALUES "
                    "(1, 'Hub down', 'investigating', 'sev1', 'hub:a/b', 'alertmanager', "
                    ":t, :t, 0, '[]'), "
                    "(2, 'By hand', 'investigating', 'sev2', 'hub:a/c', 'slack', :t, :t, 0, '[]')"
                ),
                {"t": opened},
            )
            for i, (name, incident, received) in enumerate(
                [
                    ("HubDown", 1, opened),
                    ("JoinedLater", 1, "2026-11-25 10:05:00.000000"),
                    ("Quiet", 2, opened),
                ]
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO alert (fingerprint, alertname, status, severity, labels, "
                        "annotations, starts_at, generator_url, group_key_sha256, received_at, "
                        "updated_at, incident_number) VALUES (:fp, :name, 'firing', 'sev1', "
                        "'{}', '{}', :t, '', '', :received, :t, :incident)"
                    ),
                    {
                        "fp": f"f{i}",
                        "name": name,
                        "t": opened,
                        "received": received,
                        "incident": incident,
                    },
                )
        migrate(engine)
        with engine.connect() as conn:
            named = dict(conn.execute(sa.text("SELECT number, opened_by FROM incident")).all())
        assert named == {1: "HubDown", 2: None}
    finally:
        engine.dispose()


def test_titles_declared_in_slack_before_0008_lose_slacks_escapes(database_url: str):
    engine = make_engine(database_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    titles = {
        1: ("slack", "Proxy &amp; hub &lt;b&gt; &amp;lt;", "Proxy & hub <b> &lt;"),
        2: ("alertmanager", "Disk &amp; more", "Disk &amp; more"),
        3: ("slack", "No escapes & here", "No escapes & here"),
    }
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0007")
            for number, (source, title, _) in titles.items():
                conn.execute(
                    sa.text(
                        "INSERT INTO incident (number, title, status, severity, scope, source, "
                        "started_at, updated_at, slack_summary_edits, slack_invited) VALUES "
                        "(:n, :title, 'investigating', 'sev2', :scope, :source, :t, :t, 0, '[]')"
                    ),
                    {
                        "n": number,
                        "title": title,
                        "scope": f"hub:a/{number}",
                        "source": source,
                        "t": "2026-11-25 10:00:00.000000",
                    },
                )
        migrate(engine)
        with engine.connect() as conn:
            stored = dict(conn.execute(sa.text("SELECT number, title FROM incident")).all())
        assert stored == {n: after for n, (_, _, after) in titles.items()}
    finally:
        engine.dispose()
