"""What a job's performer raises to tell the worker how its attempt ended.

Adapters raise these too (they import nothing but this module from the queue's side), so a
Slack 429 or a PagerDuty outage becomes the right retry decision without the performer
knowing HTTP."""

from contextvars import ContextVar


class RetryLater(Exception):
    """Run the job again after `seconds`.

    `failed` says whether this attempt counts as a failure (it does for an error the remote
    side asked us to wait out after failing; it does not when our own pacing, or a rate limit,
    only postponed the call: the job did nothing wrong and must not move towards dead)."""

    def __init__(
        self, seconds: float, reason: str = "retry later", *, failed: bool = False
    ) -> None:
        super().__init__(f"{reason} (retry in {seconds:.3g}s)")
        self.seconds = max(0.0, seconds)
        self.failed = failed


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
