"""Turn Alertmanager deliveries into stored alerts and incidents: dedup and grouping.

A batch of deliveries is stored in the caller's transaction with a fixed handful of
statements, however many deliveries and alerts it holds: the rows are read once, the
deliveries are applied in order to an in-memory view of them, and the changes are written
at the end. Each delivery sees the effects of the ones before it, as if stored one by one.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.alerts.models import Alert
from bot.alerts.schemas import AlertmanagerAlert, AlertmanagerPayload
from bot.db import insert_ignoring, utcnow
from bot.hubs import Registry, Route
from bot.incidents import effects
from bot.incidents.flows import open_channel_later, refresh_later
from bot.incidents.models import Incident
from bot.incidents.naming import alert_title, fired_text, resolved_text
from bot.jobs import queue
from bot.jobs.queue import enqueue
from bot.observations.days import day_of
from bot.timeline.models import Kind
from bot.timeline.service import add_many, event_row

alert_t = Alert.__table__  # type: ignore[attr-defined]
incident_t = Incident.__table__  # type: ignore[attr-defined]


# A batch's reads, built once (SQLAlchemy then only looks them up in its statement cache).
_ALERTS = (
    sa.select(
        alert_t.c.id,
        alert_t.c.fingerprint,
        alert_t.c.starts_at,
        alert_t.c.status,
        alert_t.c.ends_at,
        alert_t.c.incident_number,
        alert_t.c.alertname,
        alert_t.c.cluster,
        alert_t.c.hub,
        alert_t.c.received_at,
    )
    .where(alert_t.c.fingerprint.in_(sa.bindparam("fingerprints", expanding=True)))
    .order_by(alert_t.c.id)
)
# A stored alert's changes. Its incident is written only when the batch decided it (a firing
# again): declaring from the quiet channel may move it into an incident meanwhile.
_UPDATE = (
    sa.update(alert_t)
    .where(alert_t.c.id == sa.bindparam("_id"))
    .values(
        status=sa.bindparam("_status"),
        ends_at=sa.bindparam("_ends"),
        updated_at=sa.bindparam("_now"),
    )
)
_UPDATE_WITH_INCIDENT = _UPDATE.values(incident_number=sa.bindparam("_incident"))
# The open incidents of the batch's scopes, and those its groups' PagerDuty incidents opened.
_INCIDENTS = sa.select(
    incident_t.c.number,
    incident_t.c.severity,
    incident_t.c.status,
    incident_t.c.open_scope,
    incident_t.c.pagerduty_incident_key,
).where(
    sa.or_(
        incident_t.c.open_scope.in_(sa.bindparam("scopes", expanding=True)),
        sa.and_(
            incident_t.c.pagerduty_incident_key.in_(sa.bindparam("keys", expanding=True)),
            incident_t.c.status != "resolved",
        ),
    )
)


@dataclass
class IngestResult:
    """What one delivery changed."""

    received: int
    new: int = 0
    resolved: int = 0
    unchanged: int = 0
    incidents_opened: list[int] = field(default_factory=list)
    incidents: set[int] = field(default_factory=set)
    jobs: int = 0


@dataclass(eq=False)
class _Row:
    """An alert row as the batch sees it; `id` is None for a row the batch adds."""

    id: int | None
    fingerprint: str
    starts_at: datetime
    status: str
    ends_at: datetime | None
    incident: int | None
    alertname: str
    cluster: str | None
    hub: str | None
    received_at: datetime
    values: dict[str, Any] | None = None  # the full row, for one the batch adds
    changed: bool = False
    reassigned: bool = False  # its incident is written too (else someone else's to change)
    result: IngestResult | None = None  # the delivery that added it


@dataclass
class _Event:
    row: _Row
    kind: Kind
    text: str
    at: datetime


@dataclass(frozen=True)
class Extras:
    """The optional jobs a batch queues, as configured."""

    prometheus_context: bool = False  # ask Prometheus about each new incident
    quiet_channel: bool = False  # show alerts that open no incident in the quiet channel


NO_EXTRAS = Extras()


class _Batch:
    def __init__(
        self, conn: sa.Connection, registry: Registry, now: datetime, extras: Extras
    ) -> None:
        self.conn = conn
        self.registry = registry
        self.now = now
        self.rows: dict[str, list[_Row]] = {}
        self.open: dict[str, int] = {}
        self.severity: dict[int, str] = {}
        self.events: list[_Event] = []
        self.plain_events: list[dict[str, Any]] = []
        self.opened: set[int] = set()
        self.extras = extras
        self.linked: dict[str, int] = {}
        self.results: list[IngestResult] = []
        self.routes: dict[int, Route] = {}  # by id() of an alert of the batch's payloads

    def route(self, a: AlertmanagerAlert) -> Route:
        """The alert's route, worked out once per batch."""
        route = self.routes.get(id(a))
        if route is None:
            route = self.routes[id(a)] = self.registry.route(a.labels)
        return route

    def load(self, payloads: Sequence[AlertmanagerPayload]) -> None:
        fingerprints = sorted({a.key() for p in payloads for a in p.alerts})
        scopes = {self.route(a).scope for p in payloads for a in p.alerts if a.status == "firing"}
        if not fingerprints:
            return
        for r in self.conn.execute(_ALERTS, {"fingerprints": fingerprints}):
            self.rows.setdefault(r.fingerprint, []).append(
                _Row(
                    r.id,
                    r.fingerprint,
                    r.starts_at,
                    r.status,
                    r.ends_at,
                    r.incident_number,
                    r.alertname,
                    r.cluster,
                    r.hub,
                    r.received_at,
                )
            )
        keys = {p.group_key_sha256() for p in payloads}
        found = self.conn.execute(_INCIDENTS, {"scopes": sorted(scopes), "keys": sorted(keys)})
        for inc in found:
            if inc.open_scope in scopes:
                self.open[inc.open_scope] = inc.number
            if inc.pagerduty_incident_key in keys and inc.status != "resolved":
                self.linked[inc.pagerduty_incident_key] = inc.number
            self.severity[inc.number] = inc.severity

    def apply(self, payload: AlertmanagerPayload) -> IngestResult:
        result = IngestResult(received=len(payload.alerts))
        # One fingerprint twice in a delivery: the last word wins. A fixed order of row
        # locks makes deadlocks between replicas rarer.
        latest = dict(sorted({a.key(): a for a in payload.alerts}.items()))
        group_key = payload.group_key_sha256()
        for fp, a in latest.items():
            known = self.rows.get(fp, [])
            row = next((r for r in known if r.starts_at == a.startsAt), None)
            row = row or next((r for r in reversed(known) if r.status == "firing"), None)
            if a.status == "firing":
                if row is None:
                    self._fire_new(a, fp, group_key, result)
                elif row.status == "firing":
                    result.unchanged += 1
                else:
                    # Resolved, then firing again under the same start time: it fires again.
                    self._fire_again(row, a, result, group_key)
            elif row is None:
                # Resolved before we ever saw it fire (we were down, say): kept for the record.
                route = self.route(a)
                self._add_row(a, fp, route, None, group_key, result)
                result.new += 1
            elif row.status == "resolved" and row.ends_at == a.endsAt:
                result.unchanged += 1
            else:
                was_firing = row.status == "firing"
                row.status, row.ends_at, row.changed = "resolved", a.endsAt or self.now, True
                result.resolved += 1
                if was_firing and row.incident is not None:
                    result.incidents.add(row.incident)
                    self.events.append(
                        _Event(
                            row,
                            "alert_resolved",
                            resolved_text(row.alertname or fp, row.cluster, row.hub),
                            row.ends_at,
                        )
                    )
        return result

    def _fire_new(
        self, a: AlertmanagerAlert, fp: str, group_key: str, result: IngestResult
    ) -> None:
        route = self.route(a)
        incident = self._incident_for(route, a, result, group_key)
        row = self._add_row(a, fp, route, incident, group_key, result)
        result.new += 1
        self._fired(row, a, route, result)

    def _fire_again(
        self, row: _Row, a: AlertmanagerAlert, result: IngestResult, group_key: str
    ) -> None:
        route = self.route(a)
        row.status, row.ends_at, row.changed = "firing", None, True
        row.incident, row.reassigned = self._incident_for(route, a, result, group_key), True
        result.new += 1
        self._fired(row, a, route, result)

    def _fired(self, row: _Row, a: AlertmanagerAlert, route: Route, result: IngestResult) -> None:
        if row.incident is None:
            return
        result.incidents.add(row.incident)
        name = row.alertname or row.fingerprint
        text = fired_text(name, route.cluster, route.hub, a.annotations.get("summary"))
        self.events.append(_Event(row, "alert_fired", text, a.startsAt))

    def _add_row(
        self,
        a: AlertmanagerAlert,
        fp: str,
        route: Route,
        incident: int | None,
        group_key: str,
        result: IngestResult,
    ) -> _Row:
        alertname = a.labels.get("alertname", "")[:200]
        row = _Row(
            None,
            fp,
            a.startsAt,
            a.status,
            a.endsAt,
            incident,
            alertname,
            route.cluster,
            route.hub,
            self.now,
            result=result,
        )
        row.values = {
            "fingerprint": fp,
            "alertname": alertname,
            "severity": route.severity,
            "cluster": route.cluster,
            "hub": route.hub,
            "community": route.community,
            "labels": a.labels,
            "annotations": a.annotations,
            "starts_at": a.startsAt,
            "generator_url": a.generatorURL,
            "group_key_sha256": group_key,
            "received_at": self.now,
            "updated_at": self.now,
        }
        self.rows.setdefault(fp, []).append(row)
        return row

    def _incident_for(
        self, route: Route, a: AlertmanagerAlert, result: IngestResult, group_key: str
    ) -> int | None:
        """The scope's open incident, opened now if this alert's severity opens incidents.

        A group whose PagerDuty incident (from Alertmanager's own PagerDuty receiver) came
        first joins the incident that PagerDuty incident opened."""
        number = self.linked.get(group_key) or self.open.get(route.scope)
        if number is None:
            if not route.opens_incident:
                return None  # low-severity alerts with no open incident are only stored
            number = self._open_incident(route, a, result)
            self.open[route.scope] = number
        elif route.severity < self.severity[number]:
            self.plain_events.append(
                event_row(
                    number,
                    "severity_changed",
                    f"Severity raised from {self.registry.severity_name(self.severity[number])} "
                    f"to {self.registry.severity_name(route.severity)} "
                    f"by {a.labels.get('alertname', 'a new alert')}",
                    at=self.now,
                )
            )
            self.severity[number] = route.severity
            self.conn.execute(
                sa.update(incident_t)
                .where(incident_t.c.number == number)
                .values(severity=route.severity, updated_at=self.now)
            )
        return number

    def _open_incident(self, route: Route, a: AlertmanagerAlert, result: IngestResult) -> int:
        """Open the scope's incident; if another replica just did, join theirs instead."""
        summary = a.annotations.get("summary") or a.annotations.get("title")
        alertname = a.labels.get("alertname", "Alert")
        title = alert_title(alertname, summary, route.cluster, route.hub)
        number = self.conn.execute(
            insert_ignoring(self.conn, incident_t, "open_scope")
            .values(
                title=title,
                status="investigating",
                severity=route.severity,
                cluster=route.cluster,
                hub=route.hub,
                community=route.community,
                scope=route.scope,
                open_scope=route.scope,
                source="alertmanager",
                opened_by=a.labels.get("alertname", "")[:200] or None,
                started_at=self.now,
                updated_at=self.now,
            )
            .returning(incident_t.c.number)
        ).scalar()
        if number is None:
            row = self.conn.execute(
                sa.select(incident_t.c.number, incident_t.c.severity).where(
                    incident_t.c.open_scope == route.scope
                )
            ).one()
            self.severity[row.number] = row.severity
            return int(row.number)
        self.severity[number] = route.severity
        self.plain_events.append(
            event_row(
                number,
                "declared",
                f"Incident opened by Alertmanager ({self.registry.severity_name(route.severity)}): "
                f"{alertname}",
                at=self.now,
            )
        )
        open_channel_later(self.conn, number)
        if self.extras.prometheus_context:
            # After the channel job (same queue), so the graph has a channel to go to.
            enqueue(self.conn, effects.CONTEXT, effects.IncidentRef(incident=number))
        result.incidents_opened.append(number)
        result.jobs += 1
        self.opened.add(number)
        return int(number)

    def flush(self) -> None:
        all_rows = [r for rows in self.rows.values() for r in rows]
        added = [r for r in all_rows if r.id is None]
        if added:
            self._insert(added)
        changed = [r for r in all_rows if r.id is not None and r.changed]
        for statement, rows in (
            (_UPDATE, [r for r in changed if not r.reassigned]),
            (_UPDATE_WITH_INCIDENT, [r for r in changed if r.reassigned]),
        ):
            if rows:
                self.conn.execute(
                    statement,
                    [
                        {
                            "_id": r.id,
                            "_status": r.status,
                            "_ends": r.ends_at,
                            "_incident": r.incident,
                            "_now": self.now,
                        }
                        for r in rows
                    ],
                )
        events = self.plain_events + [
            event_row(e.row.incident, e.kind, e.text, at=e.at)
            for e in self.events
            if e.row.incident is not None
        ]
        add_many(self.conn, events)
        # Incidents whose alerts changed show it in their Slack summary; a new incident's
        # channel is opened with its alerts already in it.
        touched = sorted({e["incident_number"] for e in events} - self.opened)
        # Most of a storm joins incidents whose refresh waits already: look before inserting.
        key = {n: effects.REFRESH.dedup(effects.IncidentRef(incident=n)) or "" for n in touched}
        waiting = queue.waiting(self.conn, list(key.values()))
        for number in touched:
            if key[number] not in waiting and refresh_later(self.conn, number):
                # Credited to a delivery that touched it, so the worker is woken for it.
                who = next((r for r in self.results if number in r.incidents), None)
                if who is not None:
                    who.jobs += 1
        if self.extras.quiet_channel:
            self._observe([r for r in added + changed if r.incident is None])

    def _observe(self, rows: list[_Row]) -> None:
        """Queue the quiet channel's message of each hub and day whose alerts changed here."""
        wanted: dict[str, effects.Observe] = {}
        for r in rows:
            p = effects.Observe(day=day_of(r.received_at), cluster=r.cluster, hub=r.hub)
            wanted[effects.OBSERVE.dedup(p) or ""] = p
        waiting = queue.waiting(self.conn, list(wanted))
        jobs = sum(
            enqueue(self.conn, effects.OBSERVE, p) for k, p in wanted.items() if k not in waiting
        )
        if jobs and self.results:
            self.results[0].jobs += jobs

    def _insert(self, added: list[_Row]) -> None:
        rows = [
            {
                **(r.values or {}),
                "status": r.status,
                "ends_at": r.ends_at,
                "incident_number": r.incident,
            }
            for r in added
        ]
        insert = insert_ignoring(self.conn, alert_t, "fingerprint", "starts_at")
        if self.conn.dialect.name == "sqlite":
            # The batch has held SQLite's one write lock since before it read: nobody can
            # have stored these alerts in between, and a plain insert costs much less.
            self.conn.execute(insert, rows)
            return
        returned = self.conn.execute(
            insert.returning(alert_t.c.fingerprint, alert_t.c.starts_at), rows
        ).all()
        stored = {(fp, starts) for fp, starts in returned}
        for r in added:
            if (r.fingerprint, r.starts_at) not in stored and r.result is not None:
                # Another replica stored this very alert a moment ago: it is theirs.
                r.result.new -= 1
                r.result.unchanged += 1
                r.changed = False
                self.events = [e for e in self.events if e.row is not r]


def ingest(
    conn: sa.Connection,
    registry: Registry,
    payloads: Sequence[AlertmanagerPayload],
    *,
    now: datetime | None = None,
    extras: Extras = NO_EXTRAS,
) -> list[IngestResult]:
    """Store deliveries in order and open or join incidents; idempotent for repeats.

    `conn` is in a write transaction (on SQLite one that took the write lock as it began, as
    bot.db's engines do): what the batch reads stays true until it commits.

    `extras` says which optional jobs to queue: a question to Prometheus for each new
    incident, the quiet channel's message for alerts that open none."""
    if conn.get_execution_options().get("sqlite_begin") == "DEFERRED":
        raise ValueError("ingest needs a write transaction, not a read-only one")
    batch = _Batch(conn, registry, now or utcnow(), extras)
    batch.load(payloads)
    batch.results = [batch.apply(p) for p in payloads]
    batch.flush()
    results = batch.results
    return results
