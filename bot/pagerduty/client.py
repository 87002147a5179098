"""`PagerDutyClient`: the PagerDuty REST API in incident words. pdpyras stays in this file,
so the move to its successor (the `pagerduty` package) touches nothing else."""

import warnings
from dataclasses import dataclass
from typing import Any

with warnings.catch_warnings():
    # pdpyras warns at import that it is deprecated in favour of `pagerduty`.
    warnings.simplefilter("ignore")
    import pdpyras

from bot.worker import GiveUp, RetryLater


@dataclass(frozen=True, slots=True)
class OnCall:
    """Who is on call first for an escalation policy."""

    user_id: str
    name: str
    email: str


class PagerDutyClient:
    """The calls incident-bot makes to PagerDuty."""

    def __init__(self, token: str, base_url: str, from_email: str = "") -> None:
        self.session = pdpyras.APISession(token, default_from=from_email or None)
        self.session.url = base_url.rstrip("/")
        self.session.timeout = 10
        # pdpyras retries 429s and 5xx itself a few times before giving up.
        self.session.max_http_attempts = 3

    def oncall(self, escalation_policy: str) -> OnCall | None:
        """The first-level on-call person of a policy, with their email."""
        try:
            oncalls = self.session.list_all(
                "oncalls",
                params={"escalation_policy_ids[]": [escalation_policy], "earliest": True},
            )
            first = min(
                (o for o in oncalls if o.get("user")),
                key=lambda o: o.get("escalation_level", 99),
                default=None,
            )
            if first is None:
                return None
            user: dict[str, Any] = self.session.rget(f"/users/{first['user']['id']}")
        except pdpyras.PDClientError as exc:
            raise _decide(exc) from exc
        return OnCall(user["id"], user.get("name") or user.get("summary", ""), user["email"])


def _decide(exc: Exception) -> Exception:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status == 429:
        return RetryLater(float(response.headers.get("Retry-After", 30)), "PagerDuty rate limited")  # type: ignore[union-attr]
    if status in (401, 403, 404):
        return GiveUp(f"PagerDuty answered {status}: {exc}")
    return exc
