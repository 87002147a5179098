"""Writing timeline events."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.db import utcnow
from bot.timeline.models import Kind, TimelineEvent, Visibility

timeline_event = TimelineEvent.__table__  # type: ignore[attr-defined]

# What partners see unless a caller says otherwise: the incident's life, not its internals.
PARTNER_KINDS = frozenset({"declared", "status_changed", "update", "resolved"})


def event_row(
    incident_number: int,
    kind: Kind,
    text: str,
    *,
    at: datetime | None = None,
    actor: str | None = None,
    visibility: Visibility | None = None,
) -> dict[str, Any]:
    """A row for `add_many`; visibility defaults by kind."""
    return {
        "incident_number": incident_number,
        "kind": kind,
        "text": text,
        "at": at or utcnow(),
        "actor": actor,
        "visibility": visibility or ("partner" if kind in PARTNER_KINDS else "internal"),
    }


def add_many(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert timeline events in one statement."""
    if rows:
        conn.execute(sa.insert(timeline_event), rows)
