"""Messages in and out of incident channels: posts, the runbook bookmark, notes taken from
pinned messages, and the postmortem draft."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.db import readonly
from bot.effects.rows import incident_of
from bot.hubs import Registry
from bot.incidents import effects, flows
from bot.incidents.models import Incident
from bot.jobs import reads
from bot.jobs.attempt import GiveUp, RetryLater
from bot.jobs.queue import ClaimedJob
from bot.jobs.worker import Performer
from bot.postmortems.draft import people, render
from bot.slack.client import SlackClient

# How long a job that needs the channel waits for it to open, between looks.
CHANNEL_WAIT_SECONDS = 2.0


class MessageEffects:
    """Performers of the jobs that post, bookmark, capture and share."""

    def __init__(
        self, engine: Engine, registry: Registry, slack: SlackClient, *, timezone: str = "UTC"
    ) -> None:
        self.engine = engine
        self.reader = readonly(engine)
        self.registry = registry
        self.slack = slack
        self.timezone = timezone

    def performers(self) -> list[Performer[Any]]:
        """The jobs performed here."""
        return [
            Performer(effects.POST, self.post),
            Performer(effects.BOOKMARK, self.bookmark),
            Performer(effects.CAPTURE_NOTE, self.capture_note),
            Performer(effects.POSTMORTEM, self.postmortem),
        ]

    def _channel(self, number: int) -> str:
        """The incident's channel; waits (postponed) while it is being opened."""
        with Session(self.reader) as session:
            incident = incident_of(session, number)
            channel = incident.slack_channel_id
            opening = channel is None and reads.pending(
                session.connection(), effects.OPEN_CHANNEL.name, f"incident:{number}"
            )
        if channel is None:
            if opening:
                raise RetryLater(CHANNEL_WAIT_SECONDS, "the channel is still being opened")
            raise GiveUp(f"incident {number} has no channel")
        return channel

    def post(self, p: effects.Post, job: ClaimedJob) -> None:
        """Post a message to a channel, or to an incident's channel."""
        channel = p.channel
        if channel is None:
            if p.incident is None:
                raise GiveUp("a post names neither a channel nor an incident")
            channel = self._channel(p.incident)
        self.slack.post(channel, p.text, p.blocks)

    def bookmark(self, p: effects.Bookmark, job: ClaimedJob) -> None:
        """Bookmark the runbook; a retry first looks whether the last try got through."""
        channel = self._channel(p.incident)
        if job.retried and self.slack.has_bookmark(channel, p.link):
            return
        self.slack.bookmark(channel, p.title, p.link)

    def capture_note(self, p: effects.CaptureNote, job: ClaimedJob) -> None:
        """A :pushpin: on a message: the message becomes a timeline note, at its own time."""
        message = self.slack.message(p.channel, p.ts)
        if message is None:
            raise GiveUp(f"message {p.ts} not found in {p.channel}")
        with Session(self.engine) as session:
            incident = session.exec(
                select(Incident).where(Incident.slack_channel_id == p.channel)
            ).first()
            if incident is None:
                return
            flows.add_note(
                session,
                incident,
                text=message.get("text", ""),
                actor=message.get("user") or message.get("bot_id"),
                at=datetime.fromtimestamp(float(p.ts), UTC),
                external_id=f"slack:{p.channel}:{p.ts}",
            )

    def postmortem(self, p: effects.Postmortem, job: ClaimedJob) -> None:
        """Write the postmortem draft, with people's names, and share it in the channel."""
        channel = self._channel(p.incident)
        with Session(self.reader) as session:
            incident = incident_of(session, p.incident)
            involved = people(session, incident)
        names = {u: n for u in involved if (n := self.slack.user_name(u))}
        with Session(self.reader) as session:
            incident = incident_of(session, p.incident)
            draft = render(session, self.registry, incident, timezone=self.timezone, names=names)
            title = incident.title
        self.slack.upload_file(
            channel,
            filename=f"incident-{p.incident}-report.md",
            title=f"Incident report draft: {title}",
            content=draft,
            comment="Here is the postmortem draft: copy it, fill in the prompts, publish.",
        )
        with Session(self.engine) as session:
            incident = incident_of(session, p.incident)
            flows.postmortem_posted(session, incident, actor=p.actor)
