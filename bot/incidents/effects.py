"""The one list of side effects: every job kind, its typed payload and how it is queued.

Flows, intake and listeners enqueue these; the performers in `bot.effects` (and the
PagerDuty event handler) take the same payload types back. Priorities: opening a channel
comes first, then what a person asked for, then keeping the channel's summary up to date,
then the optional extras (bookmark, Prometheus graph), so a storm opens every channel before
it polishes any.
"""

import hashlib
from typing import Any

from bot.hubs.registry import scope_of
from bot.jobs.kinds import JobKind, Payload

SLACK, PAGERDUTY, PROMETHEUS, GITHUB = "slack", "pagerduty", "prometheus", "github"


class IncidentRef(Payload):
    incident: int


class Post(Payload):
    """A message to the incident's channel, or to another channel (a community's)."""

    text: str
    incident: int | None = None
    channel: str | None = None
    blocks: list[dict[str, Any]] | None = None


class Invite(Payload):
    incident: int
    users: list[str]


class Bookmark(Payload):
    incident: int
    title: str
    link: str


class CaptureNote(Payload):
    """A message someone marked with :pushpin:, to become a timeline note."""

    channel: str
    ts: str
    incident: int | None = None


class Postmortem(Payload):
    incident: int
    actor: str | None = None


class PagerDutyEvent(Payload):
    """A V3 webhook delivery, as received (its `event`)."""

    event: dict[str, Any]


class Page(Payload):
    incident: int
    policy: str
    explicit: bool = False


class PagerDutyNote(Payload):
    incident: int
    text: str


class People(Payload):
    """PagerDuty users to invite into the channel; the first may become commander."""

    incident: int
    users: list[str]
    commander: bool = False


class Observe(Payload):
    """The quiet channel's message of one hub (or cluster, or unmapped) and UTC day."""

    day: str
    cluster: str | None
    hub: str | None

    @property
    def scope(self) -> str:
        return scope_of(self.cluster, self.hub)


class FollowUp(Payload):
    """A follow-up row whose GitHub issue is to be opened."""

    followup: int
    incident: int


class Publish(Payload):
    """The report of an incident, to be added to the reports repository by a pull request."""

    incident: int
    actor: str | None = None


def _observed(prefix: str, p: Observe) -> str:
    # A scope names a cluster and a hub of up to 100 characters each: past the key columns.
    key = f"{prefix}:{p.day}:{p.scope}"
    return (
        key
        if len(key) <= 100
        else f"{prefix}:{p.day}:{hashlib.sha256(p.scope.encode()).hexdigest()}"
    )


def _incident(p: IncidentRef | Invite | Postmortem | People) -> str:
    return f"incident:{p.incident}"


def _pagerduty(p: IncidentRef | Page | PagerDutyNote) -> str:
    return f"pagerduty:{p.incident}"


def _post_queue(p: Post) -> str | None:
    if p.incident is not None:
        return f"incident:{p.incident}"
    return f"channel:{p.channel}" if p.channel else None


def _capture_queue(p: CaptureNote) -> str:
    return f"incident:{p.incident}" if p.incident is not None else f"channel:{p.channel}"


def _event_queue(p: PagerDutyEvent) -> str | None:
    # One PagerDuty incident's events are handled in the order they came.
    data = p.event.get("data") or {}
    incident = data.get("incident") if isinstance(data, dict) else None
    if isinstance(incident, dict) and incident.get("id"):
        return f"pagerduty-incident:{incident['id']}"
    if isinstance(data, dict) and data.get("type") == "incident" and data.get("id"):
        return f"pagerduty-incident:{data['id']}"
    return None


OPEN_CHANNEL = JobKind(
    "slack.open_channel",
    IncidentRef,
    SLACK,
    priority=0,
    queue=_incident,
    dedup=lambda p: f"slack.open_channel:{p.incident}",
)
INVITE = JobKind("slack.invite", Invite, SLACK, priority=1, queue=_incident)
POST = JobKind("slack.post", Post, SLACK, priority=2, queue=_post_queue)
CAPTURE_NOTE = JobKind(
    "slack.capture_note",
    CaptureNote,
    SLACK,
    priority=2,
    queue=_capture_queue,
    dedup=lambda p: f"slack.capture:{p.channel}:{p.ts}",
)
POSTMORTEM = JobKind(
    "slack.postmortem",
    Postmortem,
    SLACK,
    priority=2,
    queue=_incident,
    dedup=lambda p: f"slack.postmortem:{p.incident}",
)
# Its own queue: a refresh waiting out the edit interval holds up nothing else.
REFRESH = JobKind(
    "slack.refresh",
    IncidentRef,
    SLACK,
    priority=3,
    queue=lambda p: f"refresh:{p.incident}",
    dedup=lambda p: f"slack.refresh:{p.incident}",
)
# Optional extras, each in a queue of its own: failing never blocks the incident's other jobs.
# The bookmark is paced by an allowance of its own, in step with the channels it follows:
# ahead of the edits, or a storm's bookmarks would trail far behind its channels.
BOOKMARK = JobKind(
    "slack.bookmark",
    Bookmark,
    SLACK,
    priority=1,
    queue=lambda p: f"bookmark:{p.incident}",
    dedup=lambda p: f"slack.bookmark:{p.incident}",
)
CONTEXT = JobKind(
    "prometheus.context",
    IncidentRef,
    PROMETHEUS,
    priority=4,
    queue=lambda p: f"context:{p.incident}",
    dedup=lambda p: f"prometheus.context:{p.incident}",
)

# The quiet channel: below every incident's work, one message per scope and day at a time.
OBSERVE = JobKind(
    "slack.observe",
    Observe,
    SLACK,
    priority=4,
    queue=lambda p: _observed("observe", p),
    dedup=lambda p: _observed("slack.observe", p),
)

# PagerDuty's webhook events only touch the database (and queue what follows from them).
PAGERDUTY_EVENT = JobKind("pagerduty.event", PagerDutyEvent, None, priority=1, queue=_event_queue)
PAGE = JobKind("pagerduty.page", Page, PAGERDUTY, priority=1, queue=_pagerduty)
RESOLVE_PAGERDUTY = JobKind(
    "pagerduty.resolve", IncidentRef, PAGERDUTY, priority=2, queue=_pagerduty
)
NOTE_PAGERDUTY = JobKind("pagerduty.note", PagerDutyNote, PAGERDUTY, priority=2, queue=_pagerduty)
PEOPLE = JobKind("pagerduty.people", People, PAGERDUTY, priority=1, queue=_incident)

# GitHub: one queue per incident, so a report published after follow-ups were typed waits for
# their issues (its Action Items link them).
FOLLOWUP = JobKind(
    "github.followup",
    FollowUp,
    GITHUB,
    priority=2,
    queue=lambda p: f"github:{p.incident}",
    dedup=lambda p: f"github.followup:{p.followup}",
)
PUBLISH_REPORT = JobKind(
    "github.publish_report",
    Publish,
    GITHUB,
    priority=2,
    queue=lambda p: f"github:{p.incident}",
    dedup=lambda p: f"github.publish:{p.incident}",
)

ALL: tuple[JobKind[Any], ...] = (
    OPEN_CHANNEL,
    INVITE,
    POST,
    CAPTURE_NOTE,
    POSTMORTEM,
    REFRESH,
    BOOKMARK,
    CONTEXT,
    OBSERVE,
    PAGERDUTY_EVENT,
    PAGE,
    RESOLVE_PAGERDUTY,
    NOTE_PAGERDUTY,
    PEOPLE,
    FOLLOWUP,
    PUBLISH_REPORT,
)
BY_NAME: dict[str, JobKind[Any]] = {k.name: k for k in ALL}
