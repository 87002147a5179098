"""What jobs read: the incident a job names, and its report with people's names."""

from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.hubs import Registry
from bot.incidents.models import Incident
from bot.jobs.attempt import GiveUp
from bot.postmortems.draft import Draft, people, report_file


def incident_of(session: Session, number: int) -> Incident:
    """The incident; a job for one that no longer exists can never succeed."""
    incident = session.get(Incident, number)
    if incident is None:
        raise GiveUp(f"no incident {number}")
    return incident


def named_report(
    reader: Engine,
    registry: Registry,
    number: int,
    names: Callable[[set[str]], dict[str, str]],
    *,
    timezone: str,
    template: str,
) -> tuple[Draft, str, Incident]:
    """The incident's report, its file name and the incident: who the report mentions is
    read first, `names` asked for theirs (a network call, outside any transaction), then the
    report written."""
    with Session(reader) as session:
        involved = people(session, incident_of(session, number))
    named = names(involved)
    with Session(reader) as session:
        incident = incident_of(session, number)
        draft, filename = report_file(
            session, registry, incident, timezone=timezone, names=named, template=template
        )
    return draft, filename, incident
