"""How long an incident took: to acknowledge, to resolve, and how durations are written."""

from datetime import timedelta

from bot.incidents.models import Incident


def time_to_acknowledge(incident: Incident) -> timedelta | None:
    """From opening to the first acknowledgement (Slack's button or PagerDuty), if any."""
    if incident.acknowledged_at is None:
        return None
    return max(incident.acknowledged_at - incident.started_at, timedelta(0))


def time_to_resolve(incident: Incident) -> timedelta | None:
    """From opening to resolving, once resolved."""
    if incident.resolved_at is None:
        return None
    return max(incident.resolved_at - incident.started_at, timedelta(0))


def duration_text(delta: timedelta) -> str:
    """`1h 4m`, `21m 3s`, `0m 45s`, `2d 3h`, `1h 0m`: always two units, the first of them
    days, hours or minutes, as 2i2c's reports write a duration (their scripts read it so)."""
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
    first = next((i for i, (n, _) in enumerate(units[:2]) if n), 2)
    return " ".join(f"{n}{u}" for n, u in units[first : first + 2])
