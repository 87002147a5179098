"""Messages in and out of incident channels: posts, the runbook bookmark, notes taken from
pinned messages, and the incident report."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from bot.db import as_aware, readonly, utcnow
from bot.effects.rows import incident_of, named_report
from bot.hubs import Registry
from bot.incidents import effects, flows
from bot.incidents.models import Incident
from bot.jobs import reads
from bot.jobs.attempt import GiveUp, RetryLater
from bot.jobs.models import Job
from bot.jobs.queue import ClaimedJob
from bot.jobs.worker import Performer
from bot.slack.client import SlackClient
from bot.timeline.models import TimelineEvent

# How long a job that needs the channel waits for it to open, between looks.
CHANNEL_WAIT_SECONDS = 2.0
# How far before a report's job was made its lost upload is looked for: Slack's clock and
# ours need not agree.
UPLOAD_LOOK_BACK = timedelta(seconds=60)


class MessageEffects:
    """Performers of the jobs that post, bookmark, capture and share."""

    def __init__(
        self,
        engine: Engine,
        registry: Registry,
        slack: SlackClient,
        *,
        timezone: str = "UTC",
        postmortem_template: str = "",
    ) -> None:
        self.engine = engine
        self.reader = readonly(engine)
        self.registry = registry
        self.slack = slack
        self.timezone = timezone
        self.postmortem_template = postmortem_template

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
        """Write the incident report, with people's names, and share it in the channel as the
        file it would be in a reports repository."""
        channel = self._channel(p.incident)
        draft, filename, incident = named_report(
            self.reader,
            self.registry,
            p.incident,
            self.slack.display_names,
            timezone=self.timezone,
            template=self.postmortem_template,
        )
        title = incident.title
        comment = "The incident report, ready to fill in: replace the prompts in _italics_."
        if draft.template_problem:
            comment += f" (The bundled template was used: {draft.template_problem}.)"
        # An attempt whose answer was lost may have shared it already: it is not shared twice.
        if not (job.retried and self._shared(p.incident, channel, filename, job)):
            self.slack.upload_file(
                channel, filename=filename, title=title, content=draft.text, comment=comment
            )
        with Session(self.engine) as session:
            incident = incident_of(session, p.incident)
            flows.postmortem_posted(session, incident, actor=p.actor)

    def _shared(self, number: int, channel: str, filename: str, job: ClaimedJob) -> bool:
        """Whether this bot shared a file called `filename` in `channel` for this `job`: since
        the job was made (each request of a report is a job of its own), and since the
        report before it was shared (the jobs of an incident run one after another)."""
        with Session(self.reader) as session:
            row = session.get(Job, job.id)
            made = row.created_at if row is not None else utcnow()
            before = session.exec(
                select(func.max(TimelineEvent.at)).where(
                    TimelineEvent.incident_number == number, TimelineEvent.kind == "postmortem"
                )
            ).one()
        since = made - UPLOAD_LOOK_BACK
        if before is not None:
            since = max(since, as_aware(before))
        return self.slack.find_own_file(channel, filename, oldest=since.timestamp()) is not None
