"""Turn Alertmanager deliveries into stored alerts and incidents: dedup and grouping.

Everything here runs inside one transaction that the caller owns, with a handful of
statements per delivery however many alerts it carries.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.alerts.models import Alert
from bot.alerts.schemas import AlertmanagerAlert, AlertmanagerPayload
from bot.db import insert_ignoring, utcnow
from bot.hubs import Registry, Route
from bot.incidents.models import Incident
from bot.jobs.queue import enqueue
from bot.timeline.service import add_many, event_row

alert_t = Alert.__table__  # type: ignore[attr-defined]
incident_t = Incident.__table__  # type: ignore[attr-defined]

# SQLite allows 32766 bound parameters in one statement; an alert row has 17.
INSERT_CHUNK = 500


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


@dataclass
class _Firing:
    alert: AlertmanagerAlert
    route: Route
    row_id: int | None = None  # set when an existing, resolved row fires again


def ingest(
    conn: sa.Connection,
    registry: Registry,
    payload: AlertmanagerPayload,
    *,
    now: datetime | None = None,
) -> IngestResult:
    """Store one delivery's alerts and open or join incidents; idempotent for repeats."""
    now = now or utcnow()
    result = IngestResult(received=len(payload.alerts))
    # One fingerprint twice in a delivery: the last word wins.
    latest = {a.key(): a for a in payload.alerts}
    # A fixed order of row locks makes deadlocks between replicas rarer.
    latest = dict(sorted(latest.items()))
    if not latest:
        return result
    rows = conn.execute(
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
        )
        .where(alert_t.c.fingerprint.in_(list(latest)))
        .order_by(alert_t.c.id)
    ).all()
    exact = {(r.fingerprint, r.starts_at): r for r in rows}
    firing_now = {r.fingerprint: r for r in rows if r.status == "firing"}

    firing: list[_Firing] = []
    resolved_new: list[AlertmanagerAlert] = []
    resolutions: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for fp, a in latest.items():
        row = exact.get((fp, a.startsAt)) or firing_now.get(fp)
        if a.status == "firing":
            if row is None:
                firing.append(_Firing(a, registry.route(a.labels)))
            elif row.status == "firing":
                result.unchanged += 1
            else:
                firing.append(_Firing(a, registry.route(a.labels), row_id=row.id))
        elif row is None:
            resolved_new.append(a)
        elif row.status == "resolved" and row.ends_at == a.endsAt:
            result.unchanged += 1
        else:
            resolutions.append({"_id": row.id, "_ends": a.endsAt or now, "_now": now})
            result.resolved += 1
            if row.incident_number is not None and row.status == "firing":
                result.incidents.add(row.incident_number)
                events.append(
                    event_row(
                        row.incident_number,
                        "alert_resolved",
                        f"{row.alertname or fp} resolved on {_where(row.cluster, row.hub)}",
                        at=a.endsAt or now,
                    )
                )

    if resolutions:
        conn.execute(
            sa.update(alert_t)
            .where(alert_t.c.id == sa.bindparam("_id"))
            .values(
                status="resolved", ends_at=sa.bindparam("_ends"), updated_at=sa.bindparam("_now")
            ),
            resolutions,
        )
    incident_of = _incidents_for(conn, firing, result, events, now) if firing else {}
    _store_firing(conn, firing, incident_of, payload, result, events, now)
    _store_resolved(conn, registry, resolved_new, payload, result, now)
    add_many(conn, events)
    return result


def _incidents_for(
    conn: sa.Connection,
    firing: list[_Firing],
    result: IngestResult,
    events: list[dict[str, Any]],
    now: datetime,
) -> dict[str, int]:
    """The open incident of each scope that has new firing alerts, opening ones as needed."""
    by_scope: dict[str, list[_Firing]] = defaultdict(list)
    for f in firing:
        by_scope[f.route.scope].append(f)
    open_rows = conn.execute(
        sa.select(incident_t.c.number, incident_t.c.severity, incident_t.c.open_scope).where(
            incident_t.c.open_scope.in_(list(by_scope))
        )
    ).all()
    incident_of = {r.open_scope: r.number for r in open_rows}
    severity_of = {r.number: r.severity for r in open_rows}
    for scope, members in sorted(by_scope.items()):
        worst = min(m.route.severity for m in members)
        number = incident_of.get(scope)
        if number is None:
            opening = [m for m in members if m.route.opens_incident]
            if not opening:
                continue  # low-severity alerts with no open incident are only stored
            number, created = _open_incident(conn, opening, now)
            incident_of[scope] = number
            if created:
                result.incidents_opened.append(number)
                result.jobs += 1
                continue
            severity_of[number] = conn.execute(
                sa.select(incident_t.c.severity).where(incident_t.c.number == number)
            ).scalar_one()
        if worst < severity_of[number]:
            conn.execute(
                sa.update(incident_t)
                .where(incident_t.c.number == number)
                .values(severity=worst, updated_at=now)
            )
            events.append(
                event_row(
                    number,
                    "severity_changed",
                    f"Severity raised from {severity_of[number]} to {worst} by a new alert",
                    at=now,
                )
            )
    return incident_of


def _open_incident(conn: sa.Connection, opening: list[_Firing], now: datetime) -> tuple[int, bool]:
    """Open the incident for a scope; if another replica just did, join theirs instead."""
    first = opening[0]
    route = first.route
    severity = min(m.route.severity for m in opening)
    title = _title(first.alert, route)
    number = conn.execute(
        insert_ignoring(conn, incident_t, "open_scope")
        .values(
            title=title,
            status="investigating",
            severity=severity,
            cluster=route.cluster,
            hub=route.hub,
            community=route.community,
            scope=route.scope,
            open_scope=route.scope,
            source="alertmanager",
            started_at=now,
            updated_at=now,
        )
        .returning(incident_t.c.number)
    ).scalar()
    if number is None:
        existing = conn.execute(
            sa.select(incident_t.c.number).where(incident_t.c.open_scope == route.scope)
        ).scalar_one()
        return existing, False
    names = ", ".join(sorted({m.alert.labels.get("alertname", "?") for m in opening}))
    add_many(
        conn,
        [
            event_row(
                number, "declared", f"Incident opened by Alertmanager ({severity}): {names}", at=now
            )
        ],
    )
    enqueue(
        conn,
        "slack.open_channel",
        {"incident": number},
        queue_key=f"incident:{number}",
        dedup_key=f"slack.open_channel:{number}",
    )
    return number, True


def _store_firing(
    conn: sa.Connection,
    firing: list[_Firing],
    incident_of: dict[str, int],
    payload: AlertmanagerPayload,
    result: IngestResult,
    events: list[dict[str, Any]],
    now: datetime,
) -> None:
    fresh = [f for f in firing if f.row_id is None]
    key = payload.group_key_sha256()
    values = [_row(f.alert, f.route, incident_of.get(f.route.scope), key, now) for f in fresh]
    stored = set(_insert_alerts(conn, values))
    for f in firing:
        if f.row_id is not None:
            # Resolved, then firing again under the same start time: the same row fires again.
            conn.execute(
                sa.update(alert_t)
                .where(alert_t.c.id == f.row_id)
                .values(
                    status="firing",
                    ends_at=None,
                    updated_at=now,
                    incident_number=incident_of.get(f.route.scope),
                )
            )
        elif f.alert.key() not in stored:
            result.unchanged += 1  # another replica stored it a moment ago
            continue
        result.new += 1
        number = incident_of.get(f.route.scope)
        if number is not None:
            result.incidents.add(number)
            a = f.alert
            summary = a.annotations.get("summary")
            text = (
                f"{a.labels.get('alertname', '?')} firing on {_where(f.route.cluster, f.route.hub)}"
            )
            events.append(
                event_row(
                    number, "alert_fired", f"{text}: {summary}" if summary else text, at=a.startsAt
                )
            )


def _store_resolved(
    conn: sa.Connection,
    registry: Registry,
    alerts: list[AlertmanagerAlert],
    payload: AlertmanagerPayload,
    result: IngestResult,
    now: datetime,
) -> None:
    # Resolved before we ever saw it fire (we were down, say): kept for the record only.
    key = payload.group_key_sha256()
    values = [_row(a, registry.route(a.labels), None, key, now) for a in alerts]
    result.new += len(_insert_alerts(conn, values))


def _insert_alerts(conn: sa.Connection, values: list[dict[str, Any]]) -> list[str]:
    stored: list[str] = []
    for i in range(0, len(values), INSERT_CHUNK):
        stmt = (
            insert_ignoring(conn, alert_t, "fingerprint", "starts_at")
            .values(values[i : i + INSERT_CHUNK])
            .returning(alert_t.c.fingerprint)
        )
        stored.extend(conn.execute(stmt).scalars())
    return stored


def _row(
    a: AlertmanagerAlert,
    route: Route,
    incident: int | None,
    group_key_sha256: str,
    now: datetime,
) -> dict[str, Any]:
    return {
        "fingerprint": a.key(),
        "alertname": a.labels.get("alertname", "")[:200],
        "status": a.status,
        "severity": route.severity,
        "cluster": route.cluster,
        "hub": route.hub,
        "community": route.community,
        "incident_number": incident,
        "labels": a.labels,
        "annotations": a.annotations,
        "starts_at": a.startsAt,
        "ends_at": a.endsAt,
        "generator_url": a.generatorURL,
        "group_key_sha256": group_key_sha256,
        "received_at": now,
        "updated_at": now,
    }


def _title(a: AlertmanagerAlert, route: Route) -> str:
    summary = a.annotations.get("summary") or a.annotations.get("title")
    if summary:
        return summary.strip()[:200]
    return f"{a.labels.get('alertname', 'Alert')} on {_where(route.cluster, route.hub)}"[:200]


def _where(cluster: str | None, hub: str | None) -> str:
    if cluster is None:
        return "an unmapped target"
    return f"{cluster}/{hub}" if hub else f"cluster {cluster}"
