"""`incident-bot check`: the registry, the runbooks and the alert rules agree."""

from pathlib import Path

from bot.hubs import Registry
from bot.hubs.schema import SEVERITIES
from bot.rules import Rule
from bot.runbooks import Runbooks


class CheckError(Exception):
    """The first problem found, said so a person can fix it."""


def check_all(registry: Registry, runbooks: Runbooks, rules: list[Rule], alerts_dir: Path) -> str:
    """Raise `CheckError` on the first problem; return a one-line report otherwise."""
    severities = set(registry.defaults.severity_map) | set(SEVERITIES)
    for rule in rules:
        where = f"{rule.path}: alert {rule.name}"
        severity = rule.labels.get("severity")
        if not severity:
            raise CheckError(f"{where} has no `severity` label")
        if severity.strip().lower() not in severities:
            raise CheckError(
                f"{where}: severity {severity!r} is not in the registry's "
                f"severity_map ({', '.join(sorted(severities))})"
            )
        if not rule.annotations.get("summary"):
            raise CheckError(f"{where} has no `summary` annotation")
        if not rule.annotations.get("runbook_url") and runbooks.match(rule.name) is None:
            raise CheckError(
                f"{where} has no runbook: add a runbook whose `alerts` match it "
                f"to {runbooks.folder}, or a `runbook_url` annotation"
            )
    names = [r.name for r in rules]
    for book in runbooks.books:
        if rules and not any(book.matches(n) for n in names):
            raise CheckError(
                f"{book.path}: its `alerts` {[p.pattern for p in book.patterns]} "
                f"match no alert rule in {alerts_dir}"
            )
    hubs = sum(len(c.hubs) for c in registry.clusters.values())
    return (
        f"ok: {registry.source} ({len(registry.communities)} communities, "
        f"{len(registry.clusters)} clusters, {hubs} hubs), {len(runbooks.books)} runbooks, "
        f"{len(rules)} alert rules"
    )
