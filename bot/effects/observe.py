"""The quiet channel (OBSERVE_CHANNEL): alerts that open no incident, one message per hub and
UTC day, edited in place as they fire and resolve.

Same shape as the channel's performers: read in a short read-only transaction, call Slack
with nothing open, record what was written. A message carries its row's key as Slack
metadata, and the row says when a post went out: until its ts is stored, whichever job comes
next (a retry, or a newer job for the same message) looks for that post before making one, so
an attempt whose answer was lost (the process killed after Slack posted) is never doubled.
"""

import math
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.db import readonly, utcnow
from bot.hubs import Registry
from bot.incidents import effects
from bot.jobs.attempt import RetryLater
from bot.jobs.queue import ClaimedJob
from bot.jobs.worker import Performer
from bot.observations import service
from bot.observations.days import day_of
from bot.observations.models import Observation
from bot.runbooks import Runbooks
from bot.slack import blocks
from bot.slack.client import SlackClient, SlackError

MARK = "incident_bot_quiet_alerts"
# How far back a retry looks for the message its lost attempt may have posted.
LOOK_BACK_SECONDS = 300.0


class QuietChannelEffects:
    """Performer of the quiet channel's messages."""

    def __init__(
        self,
        engine: Engine,
        registry: Registry,
        runbooks: Runbooks,
        slack: SlackClient,
        channel: str,
        *,
        edit_interval: float = 15.0,
    ) -> None:
        self.engine = engine
        self.reader = readonly(engine)
        self.registry = registry
        self.runbooks = runbooks
        self.slack = slack
        self.channel = channel
        self.edit_interval = edit_interval

    def performers(self) -> list[Performer[Any]]:
        """The jobs performed here."""
        return [Performer(effects.OBSERVE, self.observe)]

    def observe(self, p: effects.Observe, job: ClaimedJob) -> None:
        """Post the hub's message of the day, or bring it up to date."""
        obs = service.find(self.reader, self.engine, p)
        with Session(self.reader) as session:
            quiet = service.read(session, self.registry, self.runbooks, obs)
        text, body = blocks.quiet(quiet)
        shown = blocks.digest(text, body)
        assert obs.id is not None
        mark = (MARK, f"{obs.day}:{obs.scope}")
        ts = obs.slack_ts if obs.slack_channel_id == self.channel else None
        if ts is None:
            if obs.posting_since is not None:
                since = obs.posting_since.timestamp() - LOOK_BACK_SECONDS
                ts = self.slack.find_marked(self.channel, mark, oldest=since)
            if ts is None:
                if not quiet.lines and quiet.incident is None:
                    return  # its alerts went elsewhere before it was ever posted
                if obs.day < day_of(utcnow() - timedelta(days=1)):
                    return  # a late change to a day long past, never shown: not worth a post
                self._posting(obs.id)
                ts = self.slack.post(self.channel, text, body, mark=mark)
                self._record(obs.id, ts, shown, edited=False)
                return
            # An earlier attempt's post, found: adopted, then brought up to date.
            self._record(obs.id, ts, None, edited=False)
        elif shown == obs.digest:
            return
        else:
            last = obs.written_at
            wait = self.edit_interval - ((utcnow() - last).total_seconds() if last else math.inf)
            if wait > 0:
                raise RetryLater(wait, "quiet channel edits are coalesced")
        try:
            self.slack.update(self.channel, ts, text, body)
        except SlackError as exc:
            if exc.error != "message_not_found":
                raise
            # Someone deleted it: the day's alerts get a message again, posted the safe way.
            self._write(obs.id, slack_ts=None, digest=None, posting_since=None)
            raise RetryLater(0, "the quiet message was deleted; posting it again") from exc
        self._record(obs.id, ts, shown, edited=True)

    def _posting(self, observation: int) -> None:
        with Session(self.engine) as session:
            stored = session.get(Observation, observation)
            if stored is not None and stored.posting_since is None:
                stored.posting_since = utcnow()
                session.add(stored)
                session.commit()

    def _record(self, observation: int, ts: str, shown: str | None, *, edited: bool) -> None:
        self._write(
            observation,
            slack_channel_id=self.channel,
            slack_ts=ts,
            digest=shown,
            written_at=utcnow(),
            posting_since=None,
            edited=edited,
        )

    def _write(self, observation: int, *, edited: bool = False, **values: object) -> None:
        with Session(self.engine) as session:
            stored = session.get(Observation, observation)
            if stored is None:
                return
            for key, value in values.items():
                setattr(stored, key, value)
            stored.edits += 1 if edited else 0
            session.add(stored)
            session.commit()
