"""The declare form: hub, severity, title."""

from typing import Any

from bot.hubs import Registry
from bot.hubs.schema import SEVERITIES

DECLARE_CALLBACK = "declare_incident"
SEVERITY_HELP = {
    "sev1": "critical: hubs down for users",
    "sev2": "major: degraded",
    "sev3": "minor: some users affected",
    "sev4": "low: no user impact yet",
}


def declare_modal(registry: Registry) -> dict[str, Any]:
    """The modal `/incident declare` opens."""
    severities = [
        _option(f"{registry.severity_name(s)}: {SEVERITY_HELP[s]}", s) for s in SEVERITIES
    ]
    groups = []
    for cluster in registry.clusters.values():
        options = [_option(f"{cluster.name} (whole cluster)", cluster.name)]
        options += [
            _option(f"{cluster.name}/{h.name}", f"{cluster.name}/{h.name}") for h in cluster.hubs
        ]
        groups.append({"label": _plain(cluster.name[:75]), "options": options[:100]})
    return {
        "type": "modal",
        "callback_id": DECLARE_CALLBACK,
        "title": _plain("Declare an incident"),
        "submit": _plain("Declare"),
        "close": _plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": "hub",
                "label": _plain("Hub"),
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "placeholder": _plain("Which hub or cluster?"),
                    "option_groups": groups[:100],
                },
            },
            {
                "type": "input",
                "block_id": "severity",
                "label": _plain("Severity"),
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "initial_option": severities[1],
                    "options": severities,
                },
            },
            {
                "type": "input",
                "block_id": "title",
                "label": _plain("Title"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "max_length": 150,
                    "placeholder": _plain("What is wrong, in a few words"),
                },
            },
        ],
    }


def submitted(view: dict[str, Any]) -> dict[str, str]:
    """The values of a submitted declare form: hub, severity, title."""
    values = view.get("state", {}).get("values", {})
    out = {}
    for block in ("hub", "severity", "title"):
        field = values.get(block, {}).get("value", {})
        selected = field.get("selected_option") or {}
        out[block] = str(selected.get("value") or field.get("value") or "").strip()
    return out


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": _plain(text[:75]), "value": value}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}
