"""The durable job table: every side effect on Slack, PagerDuty or Prometheus is a row here."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.db import JSONType, UTCDateTime, utcnow

PENDING, RUNNING, DONE, DEAD = "pending", "running", "done", "dead"


class Job(SQLModel, table=True):
    __table_args__ = (
        sa.Index("ix_job_ready", "status", "priority", "run_at"),
        sa.Index("ix_job_queue", "queue_key", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=60)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    status: str = Field(default=PENDING, max_length=10)
    # Lower runs first among ready jobs: channels open before summaries are edited.
    priority: int = 5
    # Jobs with the same queue key run one at a time, in order (e.g. one incident's channel).
    queue_key: str | None = Field(default=None, max_length=100)
    # Enqueueing the same dedup key twice keeps one job.
    dedup_key: str | None = Field(default=None, max_length=200, unique=True)
    attempts: int = 0
    max_attempts: int = 25
    run_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    locked_by: str | None = Field(default=None, max_length=100)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None
    # When the current run of failures began; a job failing for too long is given up.
    first_failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
