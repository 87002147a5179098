"""A fake PagerDuty REST API v2, as pdpyras' `APISession` calls it once pointed here with
`session.url = fake.url.rstrip("/")`.

PagerDuty wants `Authorization: Token token=...` on every request and a `From: <email>` header
on writes; errors are {"error": {"message", "code", "errors"?}}. Lists page with limit/offset
and a `more` flag, which pdpyras' `iter_all`/`list_all` follow.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests.fakes.server import FakeServer, Recorded, Reply

_Route = Callable[[Recorded, list[str]], Reply]


class PagerDutyError(Exception):
    """An API error, answered as `status` with PagerDuty's error body."""

    def __init__(
        self, status: int, message: str, code: int, errors: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "code": code}
        if errors:
            self.body["errors"] = errors


def _invalid(*errors: str) -> PagerDutyError:
    return PagerDutyError(400, "Invalid Input Provided", 2001, list(errors))


def _not_found() -> PagerDutyError:
    return PagerDutyError(404, "Not Found", 2100)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _random_id(prefix: str, n: int) -> str:
    return prefix + "".join(random.choices(string.ascii_uppercase + string.digits, k=n))


def _values(req: Recorded, name: str) -> list[str]:
    """An array filter, as `name[]=a&name[]=b` (how pdpyras sends lists) or plain `name`."""
    return req.query.get(f"{name}[]", []) + req.query.get(name, [])


def _page(req: Recorded, key: str, items: list[dict[str, Any]]) -> Reply:
    """One page of a classic (offset) paginated list."""
    limit = int(req.query.get("limit", ["25"])[-1])
    offset = int(req.query.get("offset", ["0"])[-1])
    total = req.query.get("total", ["false"])[-1] in ("true", "1")
    return Reply(
        200,
        {
            key: items[offset : offset + limit],
            "limit": limit,
            "offset": offset,
            "more": offset + limit < len(items),
            "total": len(items) if total else None,
        },
    )


class FakePagerDuty(FakeServer):
    """PagerDuty's REST API with users, on-call levels, incidents and notes in memory.

    With `token` set, requests must carry `Authorization: Token token=<token>` (else 401).
    """

    def __init__(self, token: str | None = None) -> None:
        super().__init__()
        self.token = token
        self.users: dict[str, dict[str, Any]] = {}
        # (escalation policy id, level) -> user id
        self.oncall: dict[tuple[str, int], str] = {}
        self.incidents: dict[str, dict[str, Any]] = {}
        # incident id -> its notes, oldest first
        self.notes: dict[str, list[dict[str, Any]]] = {}
        self._routes: list[tuple[str, re.Pattern[str], _Route]] = [
            ("GET", re.compile(r"/users"), self._list_users),
            ("GET", re.compile(r"/users/([^/]+)"), self._get_user),
            ("GET", re.compile(r"/oncalls"), self._list_oncalls),
            ("GET", re.compile(r"/incidents"), self._list_incidents),
            ("POST", re.compile(r"/incidents"), self._create_incident),
            ("GET", re.compile(r"/incidents/([^/]+)"), self._get_incident),
            ("PUT", re.compile(r"/incidents/([^/]+)"), self._update_incident),
            ("GET", re.compile(r"/incidents/([^/]+)/notes"), self._list_notes),
            ("POST", re.compile(r"/incidents/([^/]+)/notes"), self._create_note),
        ]

    # -- test helpers

    def add_user(self, user_id: str, email: str, name: str) -> dict[str, Any]:
        """A PagerDuty user."""
        user = {
            "id": user_id,
            "type": "user",
            "name": name,
            "summary": name,
            "email": email,
            "time_zone": "UTC",
            "role": "user",
            "self": f"{self._base}users/{user_id}",
            "html_url": f"https://fake.pagerduty.com/users/{user_id}",
        }
        with self.lock:
            self.users[user_id] = user
        return user

    def set_oncall(self, escalation_policy_id: str, user_id: str, level: int = 1) -> None:
        """Put `user_id` on call at `level` of an escalation policy (replacing whoever was)."""
        with self.lock:
            self.oncall[(escalation_policy_id, level)] = user_id

    def add_incident(
        self,
        title: str,
        *,
        service_id: str = "PSVC1",
        escalation_policy_id: str | None = None,
        incident_key: str | None = None,
        status: str = "triggered",
    ) -> dict[str, Any]:
        """An incident opened outside the bot (e.g. by an integration)."""
        with self.lock:
            incident = self._new_incident(
                {
                    "title": title,
                    "service": {"id": service_id, "type": "service_reference"},
                    "incident_key": incident_key,
                    "escalation_policy": escalation_policy_id
                    and {"id": escalation_policy_id, "type": "escalation_policy_reference"},
                }
            )
            incident["status"] = status
            return incident

    # -- the server

    @property
    def _base(self) -> str:
        return self.url if self._server is not None else "https://api.pagerduty.com/"

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"error": {"message": "Rate Limit Exceeded", "code": 2020}}
        return {"error": {"message": "Internal Server Error", "code": 2000}}

    def handle(self, req: Recorded) -> Reply:
        if self.token is not None:
            if req.headers.get("authorization") != f"Token token={self.token}":
                return Reply(401, {"error": {"message": "Invalid Credentials", "code": 2006}})
        try:
            if req.method in ("POST", "PUT"):
                if "@" not in req.headers.get("from", ""):
                    raise PagerDutyError(
                        400, 'You must specify a user\'s email address in the "From" header', 2001
                    )
                if not isinstance(req.json, dict):
                    raise _invalid("The request body must be a JSON object.")
            for method, pattern, route in self._routes:
                match = pattern.fullmatch(req.path.rstrip("/"))
                if match and method == req.method:
                    return route(req, list(match.groups()))
            raise _not_found()
        except PagerDutyError as e:
            return Reply(e.status, {"error": e.body})

    # -- users and on-call

    def _user_ref(self, user_id: str) -> dict[str, Any]:
        user = self.users.get(user_id, {})
        return {
            "id": user_id,
            "type": "user_reference",
            "summary": user.get("name", user_id),
            "self": f"{self._base}users/{user_id}",
            "html_url": f"https://fake.pagerduty.com/users/{user_id}",
        }

    def _list_users(self, req: Recorded, _: list[str]) -> Reply:
        query = req.query.get("query", [""])[-1].lower()
        users = [
            u
            for u in self.users.values()
            if query in u["name"].lower() or query in u["email"].lower()
        ]
        return _page(req, "users", users)

    def _get_user(self, req: Recorded, ids: list[str]) -> Reply:
        if ids[0] not in self.users:
            raise _not_found()
        return Reply(200, {"user": self.users[ids[0]]})

    def _list_oncalls(self, req: Recorded, _: list[str]) -> Reply:
        policies = _values(req, "escalation_policy_ids")
        users = _values(req, "user_ids")
        oncalls = [
            {
                "escalation_policy": {
                    "id": policy,
                    "type": "escalation_policy_reference",
                    "summary": policy,
                },
                "escalation_level": level,
                "user": self._user_ref(user),
                "schedule": None,
                "start": None,
                "end": None,
            }
            for (policy, level), user in sorted(self.oncall.items(), key=lambda i: i[0][1])
            if (not policies or policy in policies) and (not users or user in users)
        ]
        return _page(req, "oncalls", oncalls)

    # -- incidents and notes

    def _incident(self, incident_id: str) -> dict[str, Any]:
        if incident_id not in self.incidents:
            raise _not_found()
        return self.incidents[incident_id]

    def _assign(self, incident: dict[str, Any]) -> None:
        """Assign whoever is on call at the incident's level of its escalation policy."""
        policy = str((incident.get("escalation_policy") or {}).get("id"))
        user = self.oncall.get((policy, int(incident["escalation_level"])))
        incident["assignments"] = [{"at": _now(), "assignee": self._user_ref(user)}] if user else []

    def _new_incident(self, spec: dict[str, Any]) -> dict[str, Any]:
        incident_id = _random_id("Q", 13)
        number = len(self.incidents) + 1
        now = _now()
        incident: dict[str, Any] = {
            "id": incident_id,
            "type": "incident",
            "summary": f"[#{number}] {spec['title']}",
            "self": f"{self._base}incidents/{incident_id}",
            "html_url": f"https://fake.pagerduty.com/incidents/{incident_id}",
            "incident_number": number,
            "title": spec["title"],
            "status": "triggered",
            "urgency": spec.get("urgency") or "high",
            "incident_key": spec.get("incident_key") or incident_id,
            "service": spec["service"],
            "escalation_policy": spec.get("escalation_policy"),
            "escalation_level": 1,
            "body": spec.get("body"),
            "created_at": now,
            "updated_at": now,
            "last_status_change_at": now,
        }
        self._assign(incident)
        self.incidents[incident_id] = incident
        self.notes[incident_id] = []
        return incident

    def _list_incidents(self, req: Recorded, _: list[str]) -> Reply:
        statuses = _values(req, "statuses")
        services = _values(req, "service_ids")
        key = req.query.get("incident_key", [None])[-1]
        incidents = [
            i
            for i in self.incidents.values()
            if (not statuses or i["status"] in statuses)
            and (not services or i["service"]["id"] in services)
            and (key is None or i["incident_key"] == key)
        ]
        return _page(req, "incidents", incidents)

    def _create_incident(self, req: Recorded, _: list[str]) -> Reply:
        spec = req.json.get("incident") if isinstance(req.json, dict) else None
        if not isinstance(spec, dict) or spec.get("type") != "incident":
            raise _invalid("Incident type must be incident.")
        if not spec.get("title"):
            raise _invalid("Title cannot be empty.")
        if not (spec.get("service") or {}).get("id"):
            raise _invalid("Service cannot be empty.")
        key = spec.get("incident_key")
        # PagerDuty rejects a key that an open incident on the same service already has.
        for other in self.incidents.values():
            if (
                key
                and other["incident_key"] == key
                and other["service"]["id"] == spec["service"]["id"]
                and other["status"] != "resolved"
            ):
                raise _invalid(f"Open incident with key '{key}' already exists.")
        return Reply(201, {"incident": self._new_incident(spec)})

    def _get_incident(self, req: Recorded, ids: list[str]) -> Reply:
        return Reply(200, {"incident": self._incident(ids[0])})

    def _update_incident(self, req: Recorded, ids: list[str]) -> Reply:
        incident = self._incident(ids[0])
        change = req.json.get("incident") if isinstance(req.json, dict) else None
        if not isinstance(change, dict) or change.get("type") not in ("incident", None):
            raise _invalid("Incident type must be incident.")
        status = change.get("status")
        if status is not None and status not in ("acknowledged", "resolved"):
            raise _invalid(f"Status {status!r} is not acknowledged or resolved.")
        if incident["status"] == "resolved" and (status or "escalation_level" in change):
            raise _invalid("Incident Already Resolved")
        now = _now()
        if "escalation_level" in change:
            incident["escalation_level"] = int(change["escalation_level"])
            self._assign(incident)
            # Escalating hands the incident to someone new, who has not acknowledged it.
            incident["status"] = "triggered"
            incident["last_status_change_at"] = now
        if status is not None and status != incident["status"]:
            incident["status"] = status
            incident["last_status_change_at"] = now
        for field in ("title", "urgency"):
            if change.get(field):
                incident[field] = change[field]
        incident["updated_at"] = now
        return Reply(200, {"incident": incident})

    def _list_notes(self, req: Recorded, ids: list[str]) -> Reply:
        self._incident(ids[0])
        return Reply(200, {"notes": self.notes[ids[0]]})

    def _create_note(self, req: Recorded, ids: list[str]) -> Reply:
        self._incident(ids[0])
        note = req.json.get("note") if isinstance(req.json, dict) else None
        if not isinstance(note, dict) or not note.get("content"):
            raise _invalid("Content cannot be empty.")
        email = req.headers["from"].lower()
        author = next((u for u in self.users.values() if u["email"].lower() == email), None)
        created = {
            "id": _random_id("P", 13),
            "user": self._user_ref(author["id"]) if author else None,
            "channel": {"summary": "The PagerDuty website or APIs"},
            "content": note["content"],
            "created_at": _now(),
        }
        self.notes[ids[0]].append(created)
        return Reply(201, {"note": created})
