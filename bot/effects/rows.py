"""The incident a job names, read in the performer's session."""

from sqlmodel import Session

from bot.incidents.models import Incident
from bot.jobs.attempt import GiveUp


def incident_of(session: Session, number: int) -> Incident:
    """The incident; a job for one that no longer exists can never succeed."""
    incident = session.get(Incident, number)
    if incident is None:
        raise GiveUp(f"no incident {number}")
    return incident
