"""Inbound webhook events already seen, so a redelivery changes nothing."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.db import UTCDateTime, insert_ignoring, utcnow


class InboundEvent(SQLModel, table=True):
    __tablename__ = "inbound_event"
    __table_args__ = (sa.UniqueConstraint("source", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=20)
    external_id: str = Field(max_length=200)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


inbound_event = InboundEvent.__table__  # type: ignore[attr-defined]


def first_time(conn: sa.Connection, source: str, external_id: str) -> bool:
    """Record an event id; False if it was recorded before."""
    stored = conn.execute(
        insert_ignoring(conn, inbound_event, "source", "external_id")
        .values(source=source, external_id=external_id, received_at=utcnow())
        .returning(inbound_event.c.id)
    ).first()
    return stored is not None
