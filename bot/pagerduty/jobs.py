"""PagerDuty work done by the worker: handle webhook events, and page, resolve, note."""

import logging
import re
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.alerts.models import Alert
from bot.hubs import Registry
from bot.hubs.schema import Severity
from bot.incidents import flows
from bot.incidents.flows import FlowError
from bot.incidents.models import Incident
from bot.jobs.queue import ClaimedJob, enqueue
from bot.pagerduty import flows as pd_flows
from bot.pagerduty.client import PagerDutyClient
from bot.slack.client import SlackClient
from bot.worker import GiveUp, Handler

log = logging.getLogger(__name__)

OWN_KEY = re.compile(r"^incident-bot/(\d+)$")
PRIORITY_SEVERITY: dict[str, Severity] = {
    "P1": "sev1",
    "P2": "sev2",
    "P3": "sev3",
    "P4": "sev4",
    "P5": "sev4",
}


def own_key(number: int) -> str:
    """The `incident_key` of a PagerDuty incident incident-bot opens for incident `number`."""
    return f"incident-bot/{number}"


class PagerDutyJobs:
    """Job handlers, keyed by job kind."""

    def __init__(
        self,
        engine: Engine,
        registry: Registry,
        pagerduty: PagerDutyClient | None,
        slack: SlackClient | None,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.pagerduty = pagerduty
        self.slack = slack

    def handlers(self) -> dict[str, Handler]:
        """Kind -> handler; writes only when the REST API is configured."""
        found: dict[str, Handler] = {"pagerduty.event": self.event}
        if self.pagerduty is not None:
            found.update(
                {
                    "pagerduty.page": self.page,
                    "pagerduty.resolve": self.resolve,
                    "pagerduty.note": self.note,
                }
            )
            if self.slack is not None:
                found["pagerduty.people"] = self.people
        return found

    # -- events from the V3 webhook

    def event(self, job: ClaimedJob) -> None:
        """One webhook event, in PagerDuty's words."""
        event = job.payload["event"]
        kind, data = event["event_type"], event.get("data") or {}
        agent = (event.get("agent") or {}).get("summary") or "PagerDuty"
        incident_data = data.get("incident") if kind == "incident.annotated" else data
        if not isinstance(incident_data, dict) or not incident_data.get("id"):
            raise GiveUp(f"{kind} without an incident id")
        with Session(self.engine) as session:
            if kind == "incident.triggered":
                self._triggered(session, incident_data)
                return
            incident = session.exec(
                select(Incident).where(Incident.pagerduty_incident_id == incident_data["id"])
            ).first()
            if incident is None:
                log.info(
                    "%s for PagerDuty incident %s, which is not linked: ignored",
                    kind,
                    incident_data["id"],
                )
                return
            try:
                self._apply(session, incident, event, kind, data, agent)
            except FlowError as exc:  # e.g. resolved twice: nothing to do
                log.info("%s on incident %s: %s", kind, incident.number, exc)

    def _apply(
        self,
        session: Session,
        incident: Incident,
        event: dict[str, Any],
        kind: str,
        data: dict[str, Any],
        agent: str,
    ) -> None:
        ref = f"pagerduty:{event['id']}"
        people = [a.get("id") for a in data.get("assignees") or [] if a.get("id")]
        names = ", ".join(a.get("summary", "?") for a in data.get("assignees") or []) or "?"
        if kind == "incident.acknowledged":
            pd_flows.pagerduty_event(
                session,
                incident,
                kind="acknowledged",
                text=f"Acknowledged on PagerDuty by {agent}",
                external_id=ref,
                tell_channel=True,
            )
            agent_id = (event.get("agent") or {}).get("id")
            if agent_id and "commander" not in flows.roles_of(session, incident):
                self._people(session, incident, [agent_id], commander=True)
        elif kind in ("incident.escalated", "incident.reassigned"):
            verb = "Escalated" if kind == "incident.escalated" else "Reassigned"
            pd_flows.pagerduty_event(
                session,
                incident,
                kind="escalated",
                text=f"{verb} on PagerDuty to {names}",
                external_id=ref,
                tell_channel=True,
            )
            self._people(session, incident, people, commander=False)
        elif kind == "incident.resolved":
            if incident.status != "resolved":
                flows.resolve_incident(
                    session,
                    incident,
                    summary=f"resolved on PagerDuty by {agent}",
                    actor=None,
                    source="pagerduty",
                )
        elif kind == "incident.annotated":
            flows.add_note(
                session,
                incident,
                text=f"{data.get('content', '')} ({agent}, on PagerDuty)",
                actor=None,
                external_id=ref,
            )
        elif kind == "incident.priority_updated":
            priority = (data.get("priority") or {}).get("summary") or "none"
            pd_flows.pagerduty_event(
                session,
                incident,
                kind="note",
                text=f"PagerDuty priority set to {priority} by {agent}",
                external_id=ref,
            )

    def _triggered(self, session: Session, data: dict[str, Any]) -> None:
        """Link the PagerDuty incident to ours, or open one for it."""
        pd_id, key = data["id"], data.get("incident_key")
        url, title = data.get("html_url"), data.get("title") or "PagerDuty incident"
        if (
            session.exec(
                select(Incident.number).where(Incident.pagerduty_incident_id == pd_id)
            ).first()
            is not None
        ):
            return
        incident = self._match(session, key)
        if incident is None:
            service = (data.get("service") or {}).get("id", "")
            cluster = self.registry.cluster_for_pagerduty_service(service)
            scope = f"cluster:{cluster}" if cluster else "unmapped"
            incident = session.exec(select(Incident).where(Incident.open_scope == scope)).first()
            if incident is None:
                priority = (data.get("priority") or {}).get("summary", "")
                severity = PRIORITY_SEVERITY.get(priority) or (
                    "sev2" if data.get("urgency", "high") == "high" else "sev3"
                )
                incident, _ = flows.declare_incident(
                    session,
                    self.registry,
                    cluster=cluster,
                    hub=None,
                    severity=severity,
                    title=title,
                    actor=None,
                    source="pagerduty",
                )
        pd_flows.link_pagerduty(session, incident, pd_id=pd_id, key=key, url=url, title=title)

    def _match(self, session: Session, key: str | None) -> Incident | None:
        """The open incident a PagerDuty `incident_key` names, if any."""
        if not key:
            return None
        own = OWN_KEY.match(key)
        if own:
            return session.get(Incident, int(own.group(1)))
        # Alertmanager's PagerDuty receiver: the key is the sha256 of the group key.
        number = session.exec(
            select(Alert.incident_number)
            .where(Alert.group_key_sha256 == key, col(Alert.incident_number).is_not(None))
            .order_by(col(Alert.id).desc())
        ).first()
        incident = session.get(Incident, number) if number else None
        if incident is None:
            incident = session.exec(
                select(Incident).where(Incident.pagerduty_incident_key == key)
            ).first()
        return incident if incident and incident.status != "resolved" else None

    def _people(
        self, session: Session, incident: Incident, users: list[str], *, commander: bool
    ) -> None:
        if users:
            enqueue(
                session.connection(),
                "pagerduty.people",
                {"incident": incident.number, "users": users, "commander": commander},
                queue_key=f"incident:{incident.number}",
            )
            session.commit()

    # -- writes to PagerDuty

    def page(self, job: ClaimedJob) -> None:
        """Open a PagerDuty incident on the policy, or escalate the linked one."""
        assert self.pagerduty is not None
        policy = job.payload["policy"]
        with Session(self.engine) as session:
            incident = self._incident(session, job)
            if incident.pagerduty_incident_id:
                # A policy named in the command reassigns; none moves one level up.
                explicit = policy if job.payload.get("explicit") else None
                self.pagerduty.escalate(incident.pagerduty_incident_id, escalation_policy=explicit)
                return
            cluster = self.registry.clusters.get(incident.cluster or "")
            service = cluster.pagerduty_service if cluster else None
            if not service:
                raise GiveUp(
                    f"no pagerduty_service in the registry for cluster "
                    f"{incident.cluster}: PagerDuty needs a service to open an incident"
                )
            created = self.pagerduty.trigger(
                title=f"[{incident.severity}] {incident.title}",
                service=service,
                escalation_policy=policy,
                key=own_key(incident.number or 0),
                details=f"incident-bot incident #{incident.number}",
            )
            pd_flows.link_pagerduty(
                session,
                incident,
                pd_id=created["id"],
                key=own_key(incident.number or 0),
                url=created.get("html_url"),
                title=created.get("title", ""),
            )

    def resolve(self, job: ClaimedJob) -> None:
        """Resolve the linked PagerDuty incident."""
        assert self.pagerduty is not None
        with Session(self.engine) as session:
            pd_id = self._incident(session, job).pagerduty_incident_id
        if pd_id:
            self.pagerduty.resolve(pd_id)

    def note(self, job: ClaimedJob) -> None:
        """Add a note to the linked PagerDuty incident."""
        assert self.pagerduty is not None
        with Session(self.engine) as session:
            pd_id = self._incident(session, job).pagerduty_incident_id
        if pd_id:
            self.pagerduty.note(pd_id, job.payload["text"])

    def people(self, job: ClaimedJob) -> None:
        """PagerDuty users into the channel by email; the first may become commander."""
        assert self.pagerduty is not None and self.slack is not None
        found = []
        for user_id in job.payload["users"]:
            person = self.pagerduty.person(user_id)
            slack_user = self.slack.user_by_email(person.email)
            if slack_user:
                found.append(slack_user)
            else:
                log.info("%s (%s) is not in Slack", person.name, person.email)
        if not found:
            return
        with Session(self.engine) as session:
            incident = self._incident(session, job)
            if job.payload.get("commander") and "commander" not in flows.roles_of(
                session, incident
            ):
                flows.assign_role(
                    session, self.registry, incident, role="commander", user=found[0], actor=None
                )
            if incident.slack_channel_id:
                self.slack.invite(incident.slack_channel_id, found)

    def _incident(self, session: Session, job: ClaimedJob) -> Incident:
        incident = session.get(Incident, job.payload["incident"])
        if incident is None:
            raise GiveUp(f"no incident {job.payload['incident']}")
        return incident
