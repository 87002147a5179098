"""Slack turned on later: the incidents still open get the channels they never had."""

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.incidents import effects
from bot.incidents.models import Incident
from bot.jobs import queue
from bot.jobs.models import DEAD, PENDING, RUNNING

log = logging.getLogger(__name__)


def open_missing_channels(engine: Engine) -> int:
    """Queue the opening of a channel for each open incident that has none and no job to
    open one (waiting, running, or dead for a person to look at), newest first; returns how
    many were queued. Resolved incidents get none: their channels would only be noise."""
    with Session(engine) as session:
        conn = session.connection()
        numbers = session.exec(
            select(Incident.number)
            .where(Incident.status != "resolved", col(Incident.slack_channel_id).is_(None))
            .order_by(col(Incident.number).desc())
        ).all()
        if not numbers:
            return 0
        busy = set(
            conn.execute(
                sa.select(queue.job.c.queue_key).where(
                    queue.job.c.kind == effects.OPEN_CHANNEL.name,
                    queue.job.c.status.in_([PENDING, RUNNING, DEAD]),
                )
            ).scalars()
        )
        queued = 0
        # Enqueued newest first: among jobs of one priority the oldest runs first.
        for number in numbers:
            if number is None:
                continue
            ref = effects.IncidentRef(incident=number)
            if effects.OPEN_CHANNEL.queue(ref) in busy:
                continue
            queued += queue.enqueue(conn, effects.OPEN_CHANNEL, ref)
        session.commit()
    if queued:
        log.info("opening Slack channels for %d open incidents", queued)
    return queued
