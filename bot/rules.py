"""The Prometheus alert rules in `alerts/`: what each alert means and how it is computed."""

from dataclasses import dataclass, field
from pathlib import Path

import yaml


class RulesError(Exception):
    """A rule file that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class Rule:
    name: str
    expr: str
    path: Path
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def load(folder: Path) -> list[Rule]:
    """Every alerting rule of the folder's `*.yaml`/`*.yml` files (recording rules skipped)."""
    if not folder.is_dir():
        return []
    rules: list[Rule] = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise RulesError(f"{path}: not valid YAML: {exc}") from exc
        if isinstance(data, dict) and "groups" not in data and "route" in data:
            continue  # an Alertmanager config kept beside the rules (alerts/alertmanager.yml)
        groups = data.get("groups") if isinstance(data, dict) else None
        if not isinstance(groups, list):
            raise RulesError(f"{path}: not a Prometheus rule file (no `groups` list)")
        for gi, group in enumerate(groups):
            for ri, rule in enumerate((group or {}).get("rules") or []):
                if not isinstance(rule, dict) or "alert" not in rule:
                    continue
                if not isinstance(rule.get("expr"), str):
                    raise RulesError(
                        f"{path}: groups[{gi}].rules[{ri}] ({rule['alert']}) has no `expr`"
                    )
                rules.append(
                    Rule(
                        str(rule["alert"]),
                        rule["expr"],
                        path,
                        {str(k): str(v) for k, v in (rule.get("labels") or {}).items()},
                        {str(k): str(v) for k, v in (rule.get("annotations") or {}).items()},
                    )
                )
    return rules


def by_name(rules: list[Rule]) -> dict[str, Rule]:
    """Rules by alert name (the first of a name wins)."""
    found: dict[str, Rule] = {}
    for rule in rules:
        found.setdefault(rule.name, rule)
    return found
