"""`PagerDutyClient`: the PagerDuty REST API in incident words. pdpyras stays in this file,
so the move to its successor (the `pagerduty` package) touches nothing else."""

import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

with warnings.catch_warnings():
    # pdpyras warns at import that it is deprecated in favour of `pagerduty`.
    warnings.simplefilter("ignore")
    import pdpyras

from bot.jobs.attempt import GiveUp, RetryLater, Unreachable, heard_from, retry_after

# Who is on call changes by the hour; a storm asks about the same few policies at once.
ONCALL_CACHE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Person:
    """A PagerDuty user."""

    user_id: str
    name: str
    email: str


class PagerDutyClient:
    """The calls incident-bot makes to PagerDuty; failures become worker retry decisions."""

    def __init__(self, token: str, base_url: str, from_email: str = "") -> None:
        self.session = pdpyras.APISession(token, default_from=from_email or None)
        self.session.url = base_url.rstrip("/")
        self.session.timeout = 10
        # No sleeping retries in here: trouble goes back to the job queue, which waits without
        # holding a thread. pdpyras retries a 429 for ever unless told a count, and sleeps
        # between network retries; one immediate repeat of a 429 is the least it allows.
        self.session.retry = {429: 1}
        self.session.sleep_timer = 0
        self.session.max_network_attempts = 0
        self._oncall: dict[str, tuple[float, Person | None]] = {}
        self._oncall_lock = threading.Lock()

    def oncall(self, escalation_policy: str) -> Person | None:
        """The first-level on-call person of a policy, with their email."""
        now = time.monotonic()
        with self._oncall_lock:
            cached = self._oncall.get(escalation_policy)
        if cached and now - cached[0] < ONCALL_CACHE_SECONDS:
            return cached[1]
        with _decided():
            oncalls = self.session.list_all(
                "oncalls",
                params={"escalation_policy_ids[]": [escalation_policy], "earliest": True},
            )
        first = min(
            (o for o in oncalls if o.get("user")),
            key=lambda o: o.get("escalation_level", 99),
            default=None,
        )
        person = None if first is None else self.person(first["user"]["id"])
        with self._oncall_lock:
            self._oncall[escalation_policy] = (now, person)
        return person

    def person(self, user_id: str) -> Person:
        """A user, with their email."""
        with _decided():
            user: dict[str, Any] = self.session.rget(f"/users/{user_id}")
        return Person(user["id"], user.get("name") or user.get("summary", ""), user["email"])

    def trigger(
        self, *, title: str, service: str, escalation_policy: str, key: str, details: str
    ) -> dict[str, Any]:
        """Open a PagerDuty incident; with an open one under `key` already, return that."""
        body = {
            "type": "incident",
            "title": title[:1024],
            "service": {"id": service, "type": "service_reference"},
            "escalation_policy": {"id": escalation_policy, "type": "escalation_policy_reference"},
            "incident_key": key,
            "urgency": "high",
            "body": {"type": "incident_body", "details": details},
        }
        try:
            created: dict[str, Any] = self.session.rpost("/incidents", json=body)
            heard_from("pagerduty")
            return created
        except pdpyras.PDHTTPError as exc:
            if exc.response.status_code != 400:
                raise _decide(exc) from exc
            # A retry after PagerDuty made it but before we heard back: it is ours.
            existing = self.find(key)
            if existing is None:
                raise _decide(exc) from exc
            return existing
        except pdpyras.PDClientError as exc:
            raise _decide(exc) from exc

    def find(self, key: str) -> dict[str, Any] | None:
        """The open incident with this `incident_key`."""
        with _decided():
            found = self.session.list_all(
                "incidents",
                params={"incident_key": key, "statuses[]": ["triggered", "acknowledged"]},
            )
        return found[0] if found else None

    def escalate(self, incident_id: str, *, escalation_policy: str | None) -> None:
        """Reassign to another policy, or move one level up the current one."""
        with _decided():
            if escalation_policy:
                change: dict[str, Any] = {
                    "escalation_policy": {
                        "id": escalation_policy,
                        "type": "escalation_policy_reference",
                    }
                }
            else:
                current = self.session.rget(f"/incidents/{incident_id}")
                level = int(current.get("escalation_level") or 1)
                change = {"escalation_level": level + 1}
            self.session.rput(f"/incidents/{incident_id}", json={"type": "incident", **change})

    def resolve(self, incident_id: str) -> None:
        """Resolve (an incident resolved already is fine)."""
        try:
            self.session.rput(
                f"/incidents/{incident_id}", json={"type": "incident", "status": "resolved"}
            )
            heard_from("pagerduty")
        except pdpyras.PDHTTPError as exc:
            if exc.response.status_code == 400 and "resolved" in exc.response.text.lower():
                return
            raise _decide(exc) from exc
        except pdpyras.PDClientError as exc:
            raise _decide(exc) from exc

    def note(self, incident_id: str, content: str) -> None:
        """Add a note to an incident."""
        with _decided():
            self.session.rpost(f"/incidents/{incident_id}/notes", json={"content": content[:25000]})


class _decided:
    """Turn pdpyras errors into the worker's retry decisions."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            heard_from("pagerduty")
        if isinstance(exc, pdpyras.PDClientError):
            raise _decide(exc) from exc


def _decide(exc: Exception) -> Exception:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if response is None or status is None:
        return Unreachable("pagerduty", str(exc)[:300])  # no answer at all
    if status < 500:
        heard_from("pagerduty")  # an answer, even "no": PagerDuty is up
    if status == 429:
        return RetryLater(
            retry_after(response.headers.get("Retry-After")), "PagerDuty rate limited"
        )
    if status >= 500:
        return Unreachable("pagerduty", f"HTTP {status}")
    if status in (400, 401, 403, 404):
        return GiveUp(f"PagerDuty answered {status}: {exc}")
    return exc
