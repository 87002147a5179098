"""Every table, imported in one place so the metadata is complete (Alembic, tests)."""

from bot.alerts.models import Alert
from bot.followups.models import FollowUp
from bot.inbound import InboundEvent
from bot.incidents.models import Incident, Role
from bot.jobs.models import Job
from bot.observations.models import Observation
from bot.timeline.models import TimelineEvent

__all__ = [
    "Alert",
    "FollowUp",
    "InboundEvent",
    "Incident",
    "Job",
    "Observation",
    "Role",
    "TimelineEvent",
]
