"""Writes to PagerDuty: page or escalate, resolve, note; and PagerDuty people into Slack."""

import logging
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.db import readonly
from bot.effects.rows import incident_of
from bot.hubs import Registry
from bot.incidents import effects, flows
from bot.incidents.models import Incident
from bot.jobs import queue
from bot.jobs.attempt import GiveUp
from bot.jobs.queue import ClaimedJob
from bot.jobs.worker import Performer
from bot.pagerduty import flows as pd_flows
from bot.pagerduty.client import PagerDutyClient
from bot.pagerduty.keys import own_key
from bot.slack.client import SlackClient

log = logging.getLogger(__name__)


class PagingEffects:
    """Performers of the PagerDuty jobs."""

    def __init__(
        self,
        engine: Engine,
        registry: Registry,
        pagerduty: PagerDutyClient,
        slack: SlackClient | None,
    ) -> None:
        self.engine = engine
        self.reader = readonly(engine)
        self.registry = registry
        self.pagerduty = pagerduty
        self.slack = slack

    def performers(self) -> list[Performer[Any]]:
        """The jobs performed here (bringing people into Slack needs Slack)."""
        found: list[Performer[Any]] = [
            Performer(effects.PAGE, self.page),
            Performer(effects.RESOLVE_PAGERDUTY, self.resolve),
            Performer(effects.NOTE_PAGERDUTY, self.note),
        ]
        if self.slack is not None:
            found.append(Performer(effects.PEOPLE, self.people))
        return found

    def _read(self, number: int) -> Incident:
        with Session(self.reader) as session:
            incident = incident_of(session, number)
            session.expunge(incident)
        return incident

    def page(self, p: effects.Page, job: ClaimedJob) -> None:
        """Open a PagerDuty incident on the policy, or escalate the linked one."""
        incident = self._read(p.incident)
        if incident.pagerduty_incident_id:
            # A policy named in the command reassigns; none moves one level up.
            self.pagerduty.escalate(
                incident.pagerduty_incident_id,
                escalation_policy=p.policy if p.explicit else None,
            )
            return
        service = self.registry.pagerduty_service(incident.cluster)
        if not service:
            raise GiveUp(
                f"no pagerduty_service in the registry for cluster {incident.cluster} nor in "
                "its defaults: PagerDuty needs a service to open an incident"
            )
        key = own_key(p.incident)
        created = self.pagerduty.trigger(
            title=f"[{self.registry.severity_name(incident.severity)}] {incident.title}",
            service=service,
            escalation_policy=p.policy,
            key=key,
            details=f"incident-bot incident #{p.incident}",
        )
        with Session(self.engine) as session:
            stored = incident_of(session, p.incident)
            pd_flows.link_pagerduty(
                session,
                stored,
                pd_id=created["id"],
                key=key,
                url=created.get("html_url"),
                title=created.get("title", ""),
            )

    def resolve(self, p: effects.IncidentRef, job: ClaimedJob) -> None:
        """Resolve the linked PagerDuty incident."""
        pd_id = self._read(p.incident).pagerduty_incident_id
        if pd_id:
            self.pagerduty.resolve(pd_id)

    def note(self, p: effects.PagerDutyNote, job: ClaimedJob) -> None:
        """Add a note to the linked PagerDuty incident."""
        pd_id = self._read(p.incident).pagerduty_incident_id
        if pd_id:
            self.pagerduty.note(pd_id, p.text)

    def people(self, p: effects.People, job: ClaimedJob) -> None:
        """PagerDuty users into the channel by email; the first may become commander."""
        assert self.slack is not None
        found = []
        for user_id in p.users:
            person = self.pagerduty.person(user_id)
            slack_user = self.slack.user_by_email(person.email)
            if slack_user:
                found.append(slack_user)
            else:
                log.info("%s (%s) is not in Slack", person.name, person.email)
        if not found:
            return
        with Session(self.engine) as session:
            incident = incident_of(session, p.incident)
            if p.commander and "commander" not in flows.roles_of(session, incident):
                # Invited below with the others, not once more by the role.
                flows.assign_role(
                    session,
                    self.registry,
                    incident,
                    role="commander",
                    user=found[0],
                    actor=None,
                    tell_slack=False,
                )
                flows.refresh_later(session.connection(), p.incident)
            queue.enqueue(
                session.connection(),
                effects.INVITE,
                effects.Invite(incident=p.incident, users=found),
            )
            session.commit()
