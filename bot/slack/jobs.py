"""The Slack side effects, performed by the worker: open the channel, keep it up to date,
post, invite, and capture pinned messages. Each handler is safe to run twice."""

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.alerts.models import Alert
from bot.hubs import Registry
from bot.hubs.schema import ROLE_NAMES
from bot.incidents import flows
from bot.incidents.models import Incident
from bot.incidents.naming import channel_name
from bot.jobs.queue import ClaimedJob
from bot.pagerduty.client import PagerDutyClient
from bot.postmortems.draft import people, render
from bot.runbooks import Runbooks
from bot.slack import blocks
from bot.slack.client import SlackClient
from bot.worker import GiveUp, Handler

log = logging.getLogger(__name__)

MAX_NAME_ATTEMPTS = 50


class SlackJobs:
    """Job handlers, keyed by job kind."""

    def __init__(
        self,
        engine: Engine,
        registry: Registry,
        runbooks: Runbooks,
        slack: SlackClient,
        pagerduty: PagerDutyClient | None,
        timezone: str = "UTC",
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.runbooks = runbooks
        self.slack = slack
        self.pagerduty = pagerduty
        self.timezone = timezone

    def handlers(self) -> dict[str, Handler]:
        """Kind -> handler, for the worker."""
        return {
            "slack.open_channel": self.open_channel,
            "slack.refresh": self.refresh,
            "slack.post": self.post,
            "slack.invite": self.invite,
            "slack.capture_note": self.capture_note,
            "slack.postmortem": self.postmortem,
        }

    def open_channel(self, job: ClaimedJob) -> None:
        """Create the incident's channel and fill it: commander, topic, summary, bookmark."""
        with Session(self.engine) as session:
            incident = self._incident(session, job)
            if incident.slack_channel_id is None:
                self._create_channel(session, incident)
            channel = incident.slack_channel_id
            assert channel is not None
            roles = flows.roles_of(session, incident)
            if "commander" not in roles and incident.commander_problem is None:
                self._find_commander(session, incident)
                roles = flows.roles_of(session, incident)
            self.slack.invite(channel, list(dict.fromkeys(roles.values())))
            self.slack.set_topic(channel, blocks.topic(incident, roles.get("commander")))
            summary = self._summary(session, incident, roles)
            text, body = blocks.summary(summary)
            if incident.slack_summary_ts is None:
                if summary.runbook_url:
                    self.slack.bookmark(
                        channel, summary.runbook_title or "Runbook", summary.runbook_url
                    )
                incident.slack_summary_ts = self.slack.post(channel, text, body)
                session.add(incident)
                session.commit()
            else:
                self.slack.update(channel, incident.slack_summary_ts, text, body)

    def refresh(self, job: ClaimedJob) -> None:
        """Bring the topic and the summary message up to date."""
        with Session(self.engine) as session:
            incident = self._incident(session, job)
            if incident.slack_channel_id is None or incident.slack_summary_ts is None:
                return  # the channel is not open yet; opening it shows the current state
            roles = flows.roles_of(session, incident)
            self.slack.set_topic(
                incident.slack_channel_id, blocks.topic(incident, roles.get("commander"))
            )
            text, body = blocks.summary(self._summary(session, incident, roles))
            self.slack.update(incident.slack_channel_id, incident.slack_summary_ts, text, body)

    def post(self, job: ClaimedJob) -> None:
        """Post a message to a channel, or to an incident's channel."""
        channel = job.payload.get("channel")
        if channel is None:
            with Session(self.engine) as session:
                channel = self._incident(session, job).slack_channel_id
        if channel is None:
            raise GiveUp("the incident has no channel")
        self.slack.post(channel, job.payload["text"], job.payload.get("blocks"))

    def invite(self, job: ClaimedJob) -> None:
        """Invite people to an incident's channel."""
        with Session(self.engine) as session:
            channel = self._incident(session, job).slack_channel_id
        if channel is not None:
            self.slack.invite(channel, job.payload["users"])

    def capture_note(self, job: ClaimedJob) -> None:
        """A 📌 on a message: the message becomes a timeline note, at its own time."""
        channel, ts = job.payload["channel"], job.payload["ts"]
        message = self.slack.message(channel, ts)
        if message is None:
            raise GiveUp(f"message {ts} not found in {channel}")
        with Session(self.engine) as session:
            incident = session.exec(
                select(Incident).where(Incident.slack_channel_id == channel)
            ).first()
            if incident is None:
                return
            flows.add_note(
                session,
                incident,
                text=message.get("text", ""),
                actor=message.get("user") or message.get("bot_id"),
                at=datetime.fromtimestamp(float(ts), UTC),
                external_id=f"slack:{channel}:{ts}",
            )

    def postmortem(self, job: ClaimedJob) -> None:
        """Write the postmortem draft, with people's names, and share it in the channel."""
        with Session(self.engine) as session:
            incident = self._incident(session, job)
            if incident.slack_channel_id is None:
                raise GiveUp("the incident has no channel")
            names = {u: n for u in people(session, incident) if (n := self.slack.user_name(u))}
            draft = render(session, self.registry, incident, timezone=self.timezone, names=names)
            self.slack.upload_file(
                incident.slack_channel_id,
                filename=f"incident-{incident.number}-report.md",
                title=f"Incident report draft: {incident.title}",
                content=draft,
                comment="Here is the postmortem draft: copy it, fill in the prompts, publish.",
            )
            flows.postmortem_posted(session, incident, actor=job.payload.get("actor"))

    def _incident(self, session: Session, job: ClaimedJob) -> Incident:
        incident = session.get(Incident, job.payload["incident"])
        if incident is None:
            raise GiveUp(f"no incident {job.payload['incident']}")
        return incident

    def _create_channel(self, session: Session, incident: Incident) -> None:
        # A retry after Slack created the channel but before we saved its id finds it taken:
        # a channel of that name that this bot made since the incident began, and that no
        # other incident uses, is ours.
        taken = set(
            session.exec(
                select(Incident.slack_channel_id).where(col(Incident.slack_channel_id).is_not(None))
            )
        )
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            name = channel_name(
                incident.started_at, incident.cluster, incident.hub, incident.title, attempt
            )
            channel = self.slack.open_channel(name)
            if channel is None:
                since = (incident.started_at - timedelta(minutes=1)).timestamp()
                channel = self.slack.find_own_channel(name, created_after=since)
                if channel is None or channel["id"] in taken:
                    continue
            incident.slack_channel_id, incident.slack_channel_name = channel["id"], name
            session.add(incident)
            session.commit()
            return
        raise GiveUp(f"no free channel name after {MAX_NAME_ATTEMPTS} attempts")

    def _find_commander(self, session: Session, incident: Incident) -> None:
        """The on-call person of the hub's escalation policy becomes commander."""
        problem = None
        policy = self._policy(incident)
        if self.pagerduty is None:
            problem = "PagerDuty is not configured"
        elif policy is None:
            problem = "no PagerDuty escalation policy for this hub"
        else:
            try:
                oncall = self.pagerduty.oncall(policy)
            except Exception as exc:  # PagerDuty down must not hold the channel up
                log.warning("on-call lookup for incident %s failed: %s", incident.number, exc)
                oncall, problem = None, f"could not ask PagerDuty who is on call ({exc})"
            if oncall is None and problem is None:
                problem = f"nobody is on call for escalation policy {policy}"
            elif oncall is not None:
                user = self.slack.user_by_email(oncall.email)
                if user is None:
                    problem = f"{oncall.name} ({oncall.email}) is on call but not in Slack"
                else:
                    flows.assign_role(
                        session,
                        self.registry,
                        incident,
                        role="commander",
                        user=user,
                        actor=None,
                        tell_slack=False,
                    )
                    return
        incident.commander_problem = problem
        session.add(incident)
        session.commit()

    def _policy(self, incident: Incident) -> str | None:
        cluster = self.registry.clusters.get(incident.cluster or "")
        if cluster and cluster.pagerduty_escalation_policy:
            return cluster.pagerduty_escalation_policy
        return self.registry.defaults.pagerduty_escalation_policy

    def _summary(
        self, session: Session, incident: Incident, roles: dict[str, str]
    ) -> blocks.Summary:
        alerts = session.exec(
            select(Alert).where(Alert.incident_number == incident.number).order_by(col(Alert.id))
        ).all()
        hub = self.registry.hub(incident.cluster or "", incident.hub or "")
        community = self.registry.communities.get(incident.community or "")
        summary = blocks.Summary(
            incident=incident,
            roles=roles,
            role_names={r: self.registry.role_name(r) for r in ROLE_NAMES},
            domain=hub.domain if hub else None,
            community=community.name if community else None,
            alerts=[(a.alertname, a.status) for a in alerts],
            context=[incident.prometheus_context] if incident.prometheus_context else [],
        )
        self._runbook(summary, alerts)
        return summary

    def _runbook(self, summary: blocks.Summary, alerts: Any) -> None:
        for alert in alerts:
            url = alert.annotations.get("runbook_url")
            if url:
                summary.runbook_url, summary.runbook_title = url, f"Runbook for {alert.alertname}"
                book = self.runbooks.match(alert.alertname)
                if book:
                    summary.first_steps = book.first_steps
                return
            book = self.runbooks.match(alert.alertname)
            if book:
                summary.runbook_url, summary.runbook_title = self.runbooks.url(book), book.title
                summary.first_steps = book.first_steps
                return
