"""Load `hubs.yaml` and map alert labels to a hub, cluster, community and severity."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from bot.hubs.schema import (
    PROVIDERS,
    SEVERITIES,
    Cluster,
    Community,
    Hub,
    RegistryFile,
    Severity,
)


class RegistryError(Exception):
    """The registry file is missing or invalid; the message names the file and the path in it."""


@dataclass(frozen=True, slots=True)
class Route:
    """What an alert with some labels becomes."""

    cluster: str | None
    hub: str | None
    community: str | None
    severity: Severity
    opens_incident: bool
    escalation_policy: str | None

    @property
    def scope(self) -> str:
        """The key under which one open incident absorbs every new alert."""
        return scope_of(self.cluster, self.hub)


def scope_of(cluster: str | None, hub: str | None) -> str:
    """`hub:<cluster>/<hub>`, `cluster:<cluster>` (cluster-wide) or `unmapped`."""
    if cluster is None:
        return "unmapped"
    if hub is None:
        return f"cluster:{cluster}"
    return f"hub:{cluster}/{hub}"


def label_value(value: str | None) -> str | None:
    """Read a label value, where real rules sometimes write `key=value` for `value`."""
    if value is None:
        return None
    value = value.strip()
    if "=" in value:
        value = value.split("=", 1)[1].strip()
    return value or None


class Registry:
    """The hub registry, indexed for routing."""

    def __init__(self, data: RegistryFile, source: str = "hubs.yaml") -> None:
        self.data = data
        self.source = source
        self.defaults = data.defaults
        self.communities: dict[str, Community] = {c.id: c for c in data.communities}
        self.clusters: dict[str, Cluster] = {c.name: c for c in data.clusters}
        self._hubs: dict[tuple[str, str], Hub] = {
            (c.name, h.name): h for c in data.clusters for h in c.hubs
        }
        self._by_pd_service = {
            c.pagerduty_service: c.name for c in data.clusters if c.pagerduty_service
        }
        self._open_for = frozenset(data.defaults.open_incident_for)

    @classmethod
    def load(cls, path: Path) -> "Registry":
        """Read and validate a registry file."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RegistryError(f"{path}: cannot read the hub registry: {exc.strerror}") from exc
        return cls.parse(text, source=str(path))

    @classmethod
    def parse(cls, text: str, source: str = "hubs.yaml") -> "Registry":
        """Validate registry YAML text; errors name `source` and the path in it."""
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = ""
            mark = getattr(exc, "problem_mark", None)
            if mark is not None:
                where = f" (line {mark.line + 1}, column {mark.column + 1})"
            problem = getattr(exc, "problem", None) or str(exc)
            raise RegistryError(f"{source}{where}: not valid YAML: {problem}") from exc
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise RegistryError(
                f"{source}: the top level must be a mapping, not {type(raw).__name__}"
            )
        try:
            data = RegistryFile.model_validate(raw)
        except ValidationError as exc:
            raise RegistryError(_describe(source, exc)) from exc
        return cls(data, source)

    @property
    def warnings(self) -> list[str]:
        """What is accepted but worth saying (logged at start, printed by `check`)."""
        found = [
            f"{self.source}: cluster {c.name}: unknown provider {c.provider!r} "
            f"(known: {', '.join(PROVIDERS)})"
            for c in self.data.clusters
            if c.provider not in PROVIDERS
        ]
        closed = [c.id for c in self.data.communities if c.visibility == "private"]
        closed = [i for i in closed if not self.communities[i].token_sha256]
        if closed:
            found.append(
                f"{self.source}: {len(closed)} private communities have no token_sha256, so "
                f"their status pages open to nobody: {', '.join(closed[:5])}"
                + (", ..." if len(closed) > 5 else "")
            )
        return found

    def severity_name(self, severity: str) -> str:
        """How a person reads a severity (`sev1` -> "P1" with `severity_names`)."""
        names: dict[str, str] = dict(self.defaults.severity_names.items())
        return names.get(severity, severity)

    def pagerduty_service(self, cluster: str | None) -> str | None:
        """The PagerDuty service a page for `cluster` opens its incident on."""
        found = self.clusters.get(cluster) if cluster else None
        return (found.pagerduty_service if found else None) or self.defaults.pagerduty_service

    def role_name(self, role: str) -> str:
        """A role's display name (`commander` -> "Incident Commander")."""
        names: dict[str, str] = dict(self.defaults.roles.items())
        return names.get(role, role)

    def hub(self, cluster: str, name: str) -> Hub | None:
        """The hub `name` of `cluster`, if registered."""
        return self._hubs.get((cluster, name))

    def cluster_for_pagerduty_service(self, service_id: str) -> str | None:
        """The cluster whose PagerDuty service is `service_id`."""
        return self._by_pd_service.get(service_id)

    def severity(self, label: str | None) -> Severity:
        """An incident severity for an alert's `severity` label; unknown ones are sev2."""
        if label:
            key = label.strip().lower()
            if key in SEVERITIES:
                return key
            mapped = self.defaults.severity_map.get(key)
            if mapped:
                return mapped
            unwrapped = label_value(key)  # `severity=critical`, as some rules write it
            if unwrapped and unwrapped != key:
                return self.severity(unwrapped)
        return "sev2"

    def opens_incident(self, severity: Severity) -> bool:
        """Whether alerts of this severity open incidents by themselves."""
        return severity in self._open_for

    def parse_hub_ref(self, ref: str) -> tuple[str, str | None] | None:
        """Resolve `cluster/hub`, `cluster` or a hub name unique in the registry."""
        ref = ref.strip()
        if "/" in ref:
            cluster, _, hub = ref.partition("/")
            return (cluster, hub) if (cluster, hub) in self._hubs else None
        if ref in self.clusters:
            return ref, None
        matches = [key for key in self._hubs if key[1] == ref]
        return (matches[0][0], ref) if len(matches) == 1 else None

    def route(self, labels: Mapping[str, str]) -> Route:
        """Map an alert's labels to its hub, cluster, community and severity."""
        severity = self.severity(labels.get("severity"))
        cluster_name = label_value(labels.get("cluster"))
        hub_name = label_value(labels.get("hub")) or label_value(labels.get("namespace"))
        if hub_name and "/" in hub_name:
            # `hub="leap/prod"`: its cluster is named too, and must not contradict the label.
            prefix, _, name = hub_name.partition("/")
            if cluster_name in (None, prefix):
                cluster_name, hub_name = prefix, name
        cluster = self.clusters.get(cluster_name) if cluster_name else None
        if cluster is None and cluster_name is None and hub_name:
            # No cluster label: a hub name that is unique in the registry still maps.
            found = [key for key in self._hubs if key[1] == hub_name]
            if len(found) == 1:
                cluster = self.clusters[found[0][0]]
        if cluster is None:
            return Route(
                None,
                None,
                None,
                severity,
                self.opens_incident(severity),
                self.defaults.pagerduty_escalation_policy,
            )
        policy = cluster.pagerduty_escalation_policy or self.defaults.pagerduty_escalation_policy
        hub = self._hubs.get((cluster.name, hub_name)) if hub_name else None
        if hub is None:
            communities = {h.community for h in cluster.hubs}
            # A dedicated cluster's cluster-wide trouble is still its community's.
            community = communities.pop() if len(communities) == 1 else None
            return Route(
                cluster.name, None, community, severity, self.opens_incident(severity), policy
            )
        return Route(
            cluster.name, hub.name, hub.community, severity, self.opens_incident(severity), policy
        )


def _describe(source: str, exc: ValidationError) -> str:
    err = exc.errors()[0]
    path = ""
    for part in err["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    msg = err["msg"].removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    # Cross-reference checks run on the whole file and name their own path in the message.
    return f"{source}: {path + ': ' if path else ''}{msg}{more}"
