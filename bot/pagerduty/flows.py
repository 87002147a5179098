"""PagerDuty's side of an incident: paging from Slack, linking a PagerDuty incident, and
what happens to it on PagerDuty, each in one transaction with its timeline entry."""

from sqlmodel import Session

from bot.db import utcnow
from bot.hubs import Registry
from bot.incidents import effects
from bot.incidents.flows import (
    FlowError,
    announce,
    number_of,
    record_event,
    refresh_later,
    require_open,
    touch,
)
from bot.incidents.models import Incident
from bot.jobs.queue import enqueue
from bot.postmortems.mrkdwn import escape
from bot.timeline.models import Kind


def page(
    session: Session,
    registry: Registry,
    incident: Incident,
    *,
    policy: str | None,
    actor: str | None,
) -> str:
    """Page on PagerDuty (the hub's escalation policy unless one is named); returns it."""
    require_open(incident)
    cluster = registry.clusters.get(incident.cluster or "")
    target = (
        policy
        or (cluster.pagerduty_escalation_policy if cluster else None)
        or registry.defaults.pagerduty_escalation_policy
    )
    if target is None:
        raise FlowError("no escalation policy for this hub; name one: `/incident page PXXXXXX`")
    if not incident.pagerduty_incident_id and not registry.pagerduty_service(incident.cluster):
        # PagerDuty opens incidents on a service; say so now rather than fail in the queue.
        raise FlowError(
            f"cluster {incident.cluster or '(unmapped)'} has no `pagerduty_service` in the hub "
            "registry, nor its `defaults`, and PagerDuty needs one to open an incident"
        )
    number = number_of(incident)
    by = f" by <@{actor}>" if actor else ""
    record_event(session, number, "paged", f"Paged escalation policy {target}{by}", actor=actor)
    enqueue(
        session.connection(),
        effects.PAGE,
        effects.Page(incident=number, policy=target, explicit=policy is not None),
    )
    session.commit()
    return target


def link_pagerduty(
    session: Session,
    incident: Incident,
    *,
    pd_id: str,
    key: str | None,
    url: str | None,
    title: str,
) -> None:
    """Tie a PagerDuty incident to this one (idempotent)."""
    if incident.pagerduty_incident_id == pd_id:
        return
    incident.pagerduty_incident_id = pd_id
    incident.pagerduty_incident_key = key or incident.pagerduty_incident_key
    link = f"<{url}|{escape(title)}>" if url else escape(title)
    record_event(session, number_of(incident), "paged", f"PagerDuty incident {link} is linked")
    touch(session, incident)
    refresh_later(session.connection(), number_of(incident))
    session.commit()


def pagerduty_event(
    session: Session,
    incident: Incident,
    *,
    kind: Kind,
    text: str,
    external_id: str,
    tell_channel: bool = False,
) -> None:
    """Something happened on the linked PagerDuty incident: it goes on the timeline."""
    record_event(session, number_of(incident), kind, text, external_id=external_id)
    if kind == "acknowledged" and incident.acknowledged_at is None:
        incident.acknowledged_at = utcnow()
    touch(session, incident)
    if tell_channel:
        announce(session, number_of(incident), f":pager: {text}")
    session.commit()
