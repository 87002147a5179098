"""The follow-up table: one row per `/incident followup`, its GitHub issue once opened."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from bot.db import UTCDateTime, utcnow


class FollowUp(SQLModel, table=True):
    __tablename__ = "followup"

    id: int | None = Field(default=None, primary_key=True)
    incident_number: int = Field(foreign_key="incident.number", index=True)
    text: str
    repo: str = Field(max_length=200)  # owner/name the issue is opened in
    # Set once GitHub has opened it: a retry that finds these set opens nothing.
    issue_number: int | None = None
    issue_url: str | None = Field(default=None, max_length=300)
    created_by: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
