"""PagerDuty's webhook events, handled by the worker: each in one short database transaction
(no call out), in the order PagerDuty sent them for one incident."""

import logging
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.alerts.models import Alert
from bot.hubs import Registry
from bot.hubs.schema import Severity
from bot.incidents import effects, flows
from bot.incidents.flows import FlowError
from bot.incidents.models import Incident
from bot.jobs.attempt import GiveUp
from bot.jobs.queue import ClaimedJob, enqueue
from bot.jobs.worker import Performer
from bot.pagerduty import flows as pd_flows
from bot.pagerduty.keys import OWN_KEY

log = logging.getLogger(__name__)

PRIORITY_SEVERITY: dict[str, Severity] = {
    "P1": "sev1",
    "P2": "sev2",
    "P3": "sev3",
    "P4": "sev4",
    "P5": "sev4",
}


class PagerDutyEvents:
    """Performer of `pagerduty.event` jobs."""

    def __init__(self, engine: Engine, registry: Registry, *, people: bool) -> None:
        self.engine = engine
        self.registry = registry
        # Whether PagerDuty users can be brought into Slack (both integrations configured).
        self.people = people

    def performers(self) -> list[Performer[Any]]:
        """The jobs performed here."""
        return [Performer(effects.PAGERDUTY_EVENT, self.event)]

    def event(self, p: effects.PagerDutyEvent, job: ClaimedJob) -> None:
        """One webhook event, in PagerDuty's words."""
        event = p.event
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
                # Who resolved it is for the team (an internal entry); partners read only that
                # it was resolved.
                pd_flows.pagerduty_event(
                    session,
                    incident,
                    kind="note",
                    text=f"Resolved on PagerDuty by {agent}",
                    external_id=ref,
                )
                flows.resolve_incident(
                    session, incident, summary="", actor=None, source="pagerduty"
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
        if users and self.people:
            enqueue(
                session.connection(),
                effects.PEOPLE,
                effects.People(
                    incident=flows.number_of(incident), users=users, commander=commander
                ),
            )
            session.commit()
