"""The incident's Slack channel: open it, keep its topic and summary current, post, invite.

Every performer has the same shape: read what it needs in a short read-only transaction,
call Slack (and PagerDuty) with nothing open, then record what was done in a short write.
Each step of opening a channel is recorded on the incident (channel, commander, invitees,
summary), so a retried job repeats none of it; the topic and the summary are written only
when what they show changed, and the summary at most once per edit interval.
"""

import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.db import readonly, utcnow
from bot.effects.rows import incident_of
from bot.effects.summary import SummaryInputs, build_summary
from bot.hubs import Registry
from bot.incidents import effects, flows
from bot.incidents.models import Incident
from bot.incidents.naming import channel_name, channel_subject
from bot.jobs import queue, reads
from bot.jobs.attempt import GiveUp, RetryLater
from bot.jobs.queue import ClaimedJob
from bot.jobs.worker import Performer
from bot.observations import service as observations
from bot.pagerduty.client import PagerDutyClient
from bot.runbooks import Runbooks
from bot.slack import blocks
from bot.slack.client import SlackClient, SlackError

log = logging.getLogger(__name__)

MAX_NAME_ATTEMPTS = 50
# How many edit intervals a refresh waits while channels are still being opened; whatever
# ends the wait (the summary posted, the last channel open) runs it sooner.
OPENING_WAIT = 8
# The longest a summary edit is held back for channels still opening, in edit intervals.
MAX_HOLD = 40


@dataclass(frozen=True)
class _View:
    """An incident as read for one step, detached from its session."""

    incident: Incident
    roles: dict[str, str]
    opening: bool  # its channel-opening job still waits or runs
    others_opening: bool  # some incident's channel-opening job waits or runs


class ChannelEffects:
    """Performers of the Slack channel's jobs."""

    def __init__(
        self,
        engine: Engine,
        registry: Registry,
        runbooks: Runbooks,
        slack: SlackClient,
        pagerduty: PagerDutyClient | None,
        *,
        edit_interval: float = 15.0,
    ) -> None:
        self.engine = engine
        self.reader = readonly(engine)
        self.registry = registry
        self.runbooks = runbooks
        self.slack = slack
        self.pagerduty = pagerduty
        self.edit_interval = edit_interval

    def performers(self) -> list[Performer[Any]]:
        """The jobs performed here."""
        return [
            Performer(effects.OPEN_CHANNEL, self.open_channel),
            Performer(effects.REFRESH, self.refresh),
            Performer(effects.INVITE, self.invite),
        ]

    # -- reading

    def _view(self, number: int) -> _View:
        with Session(self.reader) as session:
            incident = incident_of(session, number)
            roles = flows.roles_of(session, incident)
            conn = session.connection()
            opening = reads.pending(conn, effects.OPEN_CHANNEL.name, f"incident:{number}")
            # A channel job that is failing (Slack refuses it) holds nobody's edits back.
            others = opening or reads.any_pending(conn, effects.OPEN_CHANNEL.name, healthy=True)
            session.expunge(incident)
        return _View(incident, roles, opening, others)

    def _summary(self, number: int) -> tuple[str, list[blocks.Block], blocks.Summary]:
        """The summary as it should look now, read afresh."""
        with Session(self.reader) as session:
            incident = incident_of(session, number)
            roles = flows.roles_of(session, incident)
            inputs = SummaryInputs.read(session, incident)
            summary = build_summary(self.registry, self.runbooks, inputs, roles)
            text, body = blocks.summary(summary)
        return text, body, summary

    # -- opening

    def open_channel(self, p: effects.IncidentRef, job: ClaimedJob) -> None:
        """Create the channel and make it ready: commander found and invited, summary posted."""
        view = self._view(p.incident)
        if view.incident.slack_channel_id is None:
            self._create_channel(view.incident)
            view = self._view(p.incident)
        if "commander" not in view.roles and view.incident.commander_problem is None:
            self._find_commander(view.incident)
            view = self._view(p.incident)
        channel = view.incident.slack_channel_id
        assert channel is not None
        if view.incident.slack_summary_ts is None:
            self._post_summary(p.incident, channel, job)
        # After the summary: a person who cannot be invited must not keep the channel empty.
        self._invite(view.incident, list(view.roles.values()))

    def _post_summary(self, number: int, channel: str, job: ClaimedJob) -> None:
        text, body, summary = self._summary(number)
        ts = self.slack.post(channel, text, body)
        with Session(self.engine) as session:
            incident = incident_of(session, number)
            incident.slack_summary_ts = ts
            incident.slack_summary_digest = blocks.digest(text, body)
            incident.slack_summary_at = utcnow()
            session.add(incident)
            conn = session.connection()
            ref = effects.IncidentRef(incident=number)
            # The topic, and whatever changed while the summary was being written, now; and
            # the Prometheus graph that waits for the channel.
            queue.hurry(conn, effects.REFRESH, ref)
            queue.hurry(conn, effects.CONTEXT, ref, add=False)
            if not reads.any_pending(conn, effects.OPEN_CHANNEL.name, besides=job.id):
                # The last channel of a storm is open: the edits held back may go.
                queue.release_waiting(conn, effects.REFRESH.name)
            if summary.runbook_url:
                queue.enqueue(
                    conn,
                    effects.BOOKMARK,
                    effects.Bookmark(
                        incident=number,
                        title=summary.runbook_title or "Runbook",
                        link=summary.runbook_url,
                    ),
                )
            session.commit()

    def _create_channel(self, incident: Incident) -> None:
        # A retry after Slack created the channel but before we saved its id finds it taken:
        # a channel of that name that this bot made since the incident began, and that no
        # other incident uses, is ours.
        with Session(self.reader) as session:
            taken = set(
                session.exec(
                    select(Incident.slack_channel_id).where(
                        col(Incident.slack_channel_id).is_not(None)
                    )
                )
            )
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            name = channel_name(
                incident.started_at,
                incident.cluster,
                incident.hub,
                # Named for the alert that opened it, never one that joined later: a retry
                # must find the name it may have created already.
                channel_subject(incident.opened_by, incident.title),
                attempt,
            )
            channel = self.slack.open_channel(name)
            if channel is None:
                since = (incident.started_at - timedelta(minutes=1)).timestamp()
                channel = self.slack.find_own_channel(name, created_after=since)
                if channel is None or channel["id"] in taken:
                    continue
            with Session(self.engine) as session:
                stored = incident_of(session, incident.number or 0)
                stored.slack_channel_id, stored.slack_channel_name = channel["id"], name
                session.add(stored)
                observations.channel_opened(session, incident.number or 0)
                session.commit()
            return
        raise GiveUp(f"no free channel name after {MAX_NAME_ATTEMPTS} attempts")

    def _find_commander(self, incident: Incident) -> None:
        """The on-call person of the hub's escalation policy becomes commander."""
        problem = None
        user = None
        policy = self._policy(incident)
        if self.pagerduty is None:
            problem = "PagerDuty is not configured"
        elif policy is None:
            problem = "no PagerDuty escalation policy for this hub"
        else:
            try:
                oncall = self.pagerduty.oncall(policy)
            except Exception as exc:  # PagerDuty away must not hold the channel up
                log.warning("on-call lookup for incident %s failed: %s", incident.number, exc)
                oncall, problem = None, f"could not ask PagerDuty who is on call ({exc})"
            if oncall is None and problem is None:
                problem = f"nobody is on call for escalation policy {policy}"
            elif oncall is not None:
                user = self.slack.user_by_email(oncall.email)
                if user is None:
                    problem = f"{oncall.name} ({oncall.email}) is on call but not in Slack"
        with Session(self.engine) as session:
            stored = incident_of(session, incident.number or 0)
            if "commander" in flows.roles_of(session, stored):
                return  # someone took command meanwhile
            if user is not None:
                flows.assign_role(
                    session,
                    self.registry,
                    stored,
                    role="commander",
                    user=user,
                    actor=None,
                    tell_slack=False,
                )
                return
            stored.commander_problem = problem
            session.add(stored)
            session.commit()

    def _policy(self, incident: Incident) -> str | None:
        cluster = self.registry.clusters.get(incident.cluster or "")
        if cluster and cluster.pagerduty_escalation_policy:
            return cluster.pagerduty_escalation_policy
        return self.registry.defaults.pagerduty_escalation_policy

    def _invite(self, incident: Incident, users: list[str]) -> None:
        """Invite who is not invited yet, and remember them."""
        missing = [u for u in dict.fromkeys(users) if u and u not in incident.slack_invited]
        if not missing or incident.slack_channel_id is None:
            return
        try:
            self.slack.invite(incident.slack_channel_id, missing)
        except SlackError as exc:
            # Someone Slack will not invite (deactivated, a guest, a missing scope): said once,
            # and not tried again, rather than holding the channel's job for an hour.
            log.warning("incident %s: could not invite %s: %s", incident.number, missing, exc)
        with Session(self.engine) as session:
            stored = incident_of(session, incident.number or 0)
            stored.slack_invited = sorted({*stored.slack_invited, *missing})
            session.add(stored)
            session.commit()

    # -- keeping it current

    def refresh(self, p: effects.IncidentRef, job: ClaimedJob) -> None:
        """Bring the topic and the summary up to date, if what they show changed."""
        view = self._view(p.incident)
        incident = view.incident
        channel, ts = incident.slack_channel_id, incident.slack_summary_ts
        if channel is None or ts is None:
            if view.opening:
                # Opening the channel hurries this job along once the summary is posted.
                raise RetryLater(OPENING_WAIT * self.edit_interval, "the channel is being opened")
            return  # no channel (Slack refused it for good): nothing to refresh
        topic = blocks.topic(
            incident, view.roles.get("commander"), self.registry.severity_name(incident.severity)
        )[:250]
        if topic != incident.slack_topic:
            self.slack.set_topic(channel, topic)
            with Session(self.engine) as session:
                stored = incident_of(session, p.incident)
                stored.slack_topic = topic
                session.add(stored)
                session.commit()
        # Whether to wait is decided before the alerts are read: waiting is the common case.
        last = incident.slack_summary_at
        since = (utcnow() - last).total_seconds() if last else math.inf
        wait = self.edit_interval - since
        if (
            incident.slack_summary_edits >= 1
            and view.others_opening
            and since < MAX_HOLD * self.edit_interval
        ):
            # Every channel opens before any summary is edited twice; the last one to open
            # releases this job (and a stream of new incidents holds it back ten minutes at most).
            wait = max(wait, OPENING_WAIT * self.edit_interval)
        if wait > 0:
            raise RetryLater(wait, "summary edits are coalesced")
        text, body, _ = self._summary(p.incident)
        shown = blocks.digest(text, body)
        if shown == incident.slack_summary_digest:
            return
        self.slack.update(channel, ts, text, body)
        with Session(self.engine) as session:
            stored = incident_of(session, p.incident)
            stored.slack_summary_digest = shown
            stored.slack_summary_at = utcnow()
            stored.slack_summary_edits += 1
            session.add(stored)
            session.commit()

    def invite(self, p: effects.Invite, job: ClaimedJob) -> None:
        """Invite people given a role (again if they left: they were asked for)."""
        with Session(self.reader) as session:
            incident = incident_of(session, p.incident)
            session.expunge(incident)
        if incident.slack_channel_id is None:
            return  # opening the channel invites every role holder
        users = [u for u in p.users if u]
        if not users:
            return
        self.slack.invite(incident.slack_channel_id, users)
        with Session(self.engine) as session:
            stored = incident_of(session, p.incident)
            stored.slack_invited = sorted({*stored.slack_invited, *users})
            session.add(stored)
            session.commit()
