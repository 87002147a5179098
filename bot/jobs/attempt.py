"""What a job's performer raises to tell the worker how its attempt ended.

Adapters raise these too (they import nothing but this module from the queue's side), so a
Slack 429 or a PagerDuty outage becomes the right retry decision without the performer
knowing HTTP."""

from contextvars import ContextVar


class RetryLater(Exception):
    """Run the job again after `seconds`: not a failure (our own pacing, a rate limit, a step
    that waits for another), so it does not count towards the job's death."""

    def __init__(self, seconds: float, reason: str = "retry later") -> None:
        super().__init__(f"{reason} (retry in {seconds:.3g}s)")
        self.seconds = max(0.0, seconds)


class GiveUp(Exception):
    """Retrying cannot help (bad setup, missing scope, the incident is gone): the job is dead."""


class Unreachable(Exception):
    """An integration did not answer (connection refused, timeout, 5xx): it is down for now.

    The worker then holds that integration's jobs, probes it now and then, and runs every
    waiting job as soon as it answers again."""

    def __init__(self, integration: str, reason: str) -> None:
        super().__init__(f"{integration} unreachable: {reason}")
        self.integration = integration


# Which job an adapter's call is made for: Slack's pacer keeps a job's place in line across
# the deferrals of that job (see `bot.slack.pacing`). Set by the worker around each attempt.
current_job: ContextVar[str | None] = ContextVar("current_job", default=None)

# The integrations that answered during the current attempt, whatever they said: only a real
# answer tells the worker that an integration which was down is back. Set by the worker.
answered: ContextVar[set[str] | None] = ContextVar("answered", default=None)


def heard_from(integration: str) -> None:
    """An adapter got an HTTP answer from `integration` (even an error)."""
    found = answered.get()
    if found is not None:
        found.add(integration)


def retry_after(value: object, default: float = 30.0) -> float:
    """The seconds of a `Retry-After` header's value (Slack and PagerDuty send whole seconds)."""
    try:
        return max(0.0, float(str(value))) if value is not None else default
    except ValueError:
        return default
