"""Buttons on the summary message, and the declare form's submission."""

import logging
from typing import Any

from sqlmodel import Session

from bot.hubs.schema import SEVERITIES
from bot.incidents import flows
from bot.incidents.flows import FlowError
from bot.incidents.models import Incident
from bot.observations import service as observations
from bot.runtime import Runtime
from bot.slack.modals import submitted

log = logging.getLogger(__name__)


def button(rt: Runtime, body: dict[str, Any]) -> str | None:
    """Do what a summary button says; returns a problem to show the person, if any."""
    action = (body.get("actions") or [{}])[0]
    user = str(body.get("user", {}).get("id") or "")
    try:
        number = int(action.get("value") or "")
    except (TypeError, ValueError):
        return "this button does not name an incident"
    if not 0 < number < 2**31:  # past the column's range: no such incident, not a crash
        return f"incident #{number} does not exist"
    with Session(rt.engine) as session:
        incident = session.get(Incident, number)
        if incident is None:
            return f"incident #{number} does not exist"
        try:
            _press(rt, session, incident, str(action.get("action_id")), user)
        except FlowError as exc:
            return str(exc)
    rt.worker.wake()
    return None


def _press(rt: Runtime, session: Session, incident: Incident, action: str, user: str) -> None:
    if action == "incident_take_command":
        flows.assign_role(session, rt.registry, incident, role="commander", user=user, actor=user)
    elif action == "incident_acknowledge":
        flows.acknowledge(session, rt.registry, incident, actor=user)
    elif action == "incident_resolve":
        flows.resolve_incident(session, incident, summary="", actor=user)
    else:
        raise FlowError(f"unknown action {action}")


def declare_quiet(rt: Runtime, body: dict[str, Any]) -> str | None:
    """The quiet channel's Declare incident button; returns a problem to show, if any."""
    action = (body.get("actions") or [{}])[0]
    user = str(body.get("user", {}).get("id") or "") or None
    try:
        observation = int(action.get("value") or "")
    except (TypeError, ValueError):
        observation = 0
    if not 0 < observation < 2**31:
        return "this button does not name a message of the quiet channel"
    with Session(rt.engine) as session:
        try:
            observations.declare(session, rt.registry, observation, actor=user)
        except FlowError as exc:
            return str(exc)
    rt.worker.wake()
    return None


def declare_submission(rt: Runtime, body: dict[str, Any]) -> dict[str, str]:
    """Declare from the form; returns errors by block for Slack to show, if any."""
    values = submitted(body.get("view", {}))
    where = rt.registry.parse_hub_ref(values["hub"])
    if where is None:
        return {"hub": "Pick a hub from the list"}
    if values["severity"] not in SEVERITIES:
        return {"severity": "Pick a severity"}
    user = str(body.get("user", {}).get("id") or "")
    with Session(rt.engine) as session:
        try:
            flows.declare_incident(
                session,
                rt.registry,
                cluster=where[0],
                hub=where[1],
                severity=values["severity"],
                title=values["title"],
                actor=user,
            )
        except FlowError as exc:
            return {"title": str(exc)}
    rt.worker.wake()
    return {}
