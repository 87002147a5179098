"""Events API: a :pushpin: on a message in an incident channel (or a pin) notes it."""

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, select

from bot.incidents import effects, flows
from bot.incidents.models import Incident
from bot.jobs.queue import enqueue
from bot.runtime import Runtime

PIN_REACTIONS = frozenset({"pushpin", "round_pushpin"})


def reaction_added(rt: Runtime, event: dict[str, Any]) -> None:
    """Queue the message's capture: its text has to be fetched from Slack."""
    item = event.get("item") or {}
    if event.get("reaction") not in PIN_REACTIONS or item.get("type") != "message":
        return
    channel, ts = item.get("channel"), item.get("ts")
    with Session(rt.engine) as session:
        incident = _incident(session, channel)
        if incident is None or not ts:
            return
        enqueue(
            session.connection(),
            effects.CAPTURE_NOTE,
            effects.CaptureNote(channel=channel, ts=ts, incident=incident.number),
        )
        session.commit()
    rt.worker.wake()


def pin_added(rt: Runtime, event: dict[str, Any]) -> None:
    """A pinned message carries its text: note it at once."""
    item = event.get("item") or {}
    message = item.get("message") or {}
    channel = item.get("channel") or event.get("channel_id")
    ts = message.get("ts")
    if item.get("type") != "message" or not ts or not message.get("text"):
        return
    with Session(rt.engine) as session:
        incident = _incident(session, channel)
        if incident is None:
            return
        flows.add_note(
            session,
            incident,
            text=message["text"],
            actor=message.get("user") or message.get("bot_id"),
            at=datetime.fromtimestamp(float(ts), UTC),
            external_id=f"slack:{channel}:{ts}",
        )


def _incident(session: Session, channel: Any) -> Incident | None:
    if not isinstance(channel, str) or not channel:
        return None
    return session.exec(select(Incident).where(Incident.slack_channel_id == channel)).first()
