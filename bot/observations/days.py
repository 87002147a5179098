"""The quiet channel's days: an alert belongs to the UTC day on which it was first seen."""

from datetime import UTC, datetime, timedelta


def day_of(at: datetime) -> str:
    """`YYYY-MM-DD` of a time, in UTC."""
    return at.astimezone(UTC).strftime("%Y-%m-%d")


def bounds(day: str) -> tuple[datetime, datetime]:
    """The day's first instant and the next day's (UTC)."""
    start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    return start, start + timedelta(days=1)
