"""How incidents are named: channel names, and where they happened."""

import re
from datetime import UTC, datetime
from typing import Protocol

MAX_LEN = 80
# Room for a `-NN` suffix when Slack says the name is taken.
SUFFIX_ROOM = 4


def slug(text: str) -> str:
    """Lowercase, only `a-z 0-9 - _`, runs of anything else folded into one `-`."""
    return re.sub(r"[^a-z0-9_]+", "-", text.lower()).strip("-_")


def channel_name(
    started_at: datetime, cluster: str | None, hub: str | None, title: str, attempt: int = 1
) -> str:
    """The channel name for an incident; `attempt` > 1 adds the `-N` suffix for collisions."""
    parts = ["inc", started_at.astimezone(UTC).strftime("%Y%m%d")]
    if cluster is None:
        parts.append("unmapped")
    else:
        parts.append(slug(cluster))
        if hub is not None:
            parts.append(slug(hub))
    base = "-".join(p for p in parts if p)
    title_slug = slug(title)
    if title_slug:
        base = f"{base}-{title_slug}"
    base = base[: MAX_LEN - SUFFIX_ROOM].rstrip("-_")
    return base if attempt <= 1 else f"{base}-{attempt}"


def channel_subject(alertname: str | None, title: str) -> str:
    """What a channel is named for: the alert that opened the incident, if one did (its
    summary, the title, tends to repeat the cluster and hub the name already carries).
    CamelCase alert names are split into words: `HubPodRestarts` -> `hub-pod-restarts`."""
    if alertname:
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", alertname)
    return title


def where(cluster: str | None, hub: str | None) -> str:
    """Where an alert fired, as timeline entries say it."""
    if cluster is None:
        return "an unmapped target"
    return f"{cluster}/{hub}" if hub else f"cluster {cluster}"


def fired_text(alertname: str, cluster: str | None, hub: str | None, summary: str | None) -> str:
    """The timeline's words for an alert that fired."""
    text = f"{alertname} firing on {where(cluster, hub)}"
    return f"{text}: {summary}" if summary else text


def resolved_text(alertname: str, cluster: str | None, hub: str | None) -> str:
    """The timeline's words for an alert that resolved."""
    return f"{alertname} resolved on {where(cluster, hub)}"


def alert_title(alertname: str, summary: str | None, cluster: str | None, hub: str | None) -> str:
    """The title of an incident an alert opens: its summary, else its name and place; one
    line (a summary may hold several), as a title is shown in a heading or a topic."""
    summary = " ".join((summary or "").split())
    return (summary or f"{alertname or 'Alert'} on {where(cluster, hub)}")[:200]


class _Placed(Protocol):
    cluster: str | None
    hub: str | None


def place(incident: _Placed) -> str:
    """`cluster/hub`, `cluster (cluster-wide)` or `unmapped`."""
    if incident.cluster is None:
        return "unmapped"
    return (
        f"{incident.cluster}/{incident.hub}"
        if incident.hub
        else (f"{incident.cluster} (cluster-wide)")
    )
