"""Alertmanager v4 webhook bodies for tests."""

import hashlib
import json
from typing import Any

ZERO = "0001-01-01T00:00:00Z"


def alert(
    alertname: str = "HubHealthCheckFailing",
    *,
    cluster: str | None = "openscapes",
    namespace: str | None = "prod",
    severity: str | None = "critical",
    status: str = "firing",
    starts_at: str = "2026-11-25T10:00:00Z",
    ends_at: str = ZERO,
    fingerprint: str | None = None,
    summary: str | None = None,
    **extra_labels: str,
) -> dict[str, Any]:
    """One alert as Alertmanager sends it."""
    labels = {"alertname": alertname, **extra_labels}
    for key, value in (("cluster", cluster), ("namespace", namespace), ("severity", severity)):
        if value is not None:
            labels[key] = value
    if fingerprint is None:
        raw = json.dumps(labels, sort_keys=True).encode()
        fingerprint = hashlib.sha256(raw).hexdigest()[:16]
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": summary or f"{alertname} on {cluster}/{namespace}"},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus.example/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
        "fingerprint": fingerprint,
    }


def resolved(a: dict[str, Any], ends_at: str = "2026-11-25T10:30:00Z") -> dict[str, Any]:
    """The same alert, resolved."""
    return {**a, "status": "resolved", "endsAt": ends_at}


def delivery(*alerts: dict[str, Any], group_key: str = '{}:{alertname="X"}') -> dict[str, Any]:
    """A whole webhook body around some alerts."""
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    common = alerts[0]["labels"] if len(alerts) == 1 else {}
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "incident-bot",
        "groupLabels": {},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": list(alerts),
    }
