"""`incident-bot import-clusters`: the registry's clusters and hubs from a fleet's own files.

Reads an infrastructure repository's `<cluster>/cluster.yaml` files (2i2c's
`config/clusters/` shape: `name`, `provider`, `hubs:` with `name`, `domain`,
`display_name`, `helm_chart`; everything else in them is ignored) and adds or updates the
matching clusters and hubs of a registry file. The file is edited in place, comments and
order kept (ruamel.yaml): every field written by hand (tokens, channels, escalation
policies, services, a hub's community) stays as it is, nothing is ever deleted, and a
second run changes nothing.
"""

import copy
import difflib
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError as RuamelYAMLError

from bot.hubs.registry import Registry, RegistryError

CommunityPer = Literal["hub", "cluster"]
# The fields a cluster.yaml decides; any other field of a hub is the registry's own.
HUB_FIELDS = ("domain", "display_name", "helm_chart")


class FleetError(Exception):
    """A cluster file cannot be read, or the result is not a valid registry."""


@dataclass(frozen=True)
class FleetHub:
    name: str
    domain: str | None
    display_name: str | None
    helm_chart: str | None


@dataclass(frozen=True)
class FleetCluster:
    name: str
    provider: str
    hubs: tuple[FleetHub, ...]
    source: Path


@dataclass
class ImportResult:
    """The new registry text, and what changed, for the command to print."""

    before: str
    after: str
    clusters_added: list[str] = field(default_factory=list)
    hubs_added: list[str] = field(default_factory=list)
    hubs_updated: list[str] = field(default_factory=list)
    communities_added: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self, path: Path) -> str:
        """A unified diff of the registry file, as `--dry-run` prints it."""
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=str(path),
                tofile=f"{path} (imported)",
            )
        )


def read_fleet(folder: Path) -> list[FleetCluster]:
    """Every `<cluster>/cluster.yaml` under `folder`, by folder name; others are skipped."""
    if not folder.is_dir():
        raise FleetError(f"{folder}: not a folder of <cluster>/cluster.yaml files")
    found = [_read_cluster(p) for p in sorted(folder.glob("*/cluster.yaml"))]
    if not found:
        raise FleetError(f"{folder}: no <cluster>/cluster.yaml files in it")
    names = [c.name for c in found]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise FleetError(f"{folder}: cluster names used twice: {', '.join(dupes)}")
    return found


def _read_cluster(path: Path) -> FleetCluster:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise FleetError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise FleetError(f"{path}: no cluster `name`")
    provider = raw.get("provider")
    if not isinstance(provider, str) or not provider:
        raise FleetError(f"{path}: cluster {raw['name']} has no `provider`")
    hubs = []
    for i, hub in enumerate(raw.get("hubs") or []):
        if not isinstance(hub, dict) or not isinstance(hub.get("name"), str):
            raise FleetError(f"{path}: hubs[{i}] has no `name`")
        hubs.append(
            FleetHub(
                name=hub["name"],
                domain=_text(hub.get("domain")),
                display_name=_text(hub.get("display_name")),
                helm_chart=_text(hub.get("helm_chart")),
            )
        )
    return FleetCluster(raw["name"], provider, tuple(hubs), path)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None


def import_clusters(
    fleet: Iterable[FleetCluster], registry_text: str, *, community_per: CommunityPer = "hub"
) -> ImportResult:
    """Merge `fleet` into the registry YAML `registry_text`; returns the new text."""
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096  # never re-wrap a hand-written line
    rt.indent(mapping=2, sequence=4, offset=2)
    try:
        data = rt.load(registry_text) if registry_text.strip() else None
    except RuamelYAMLError as exc:
        raise FleetError(f"the registry is not valid YAML: {exc}") from exc
    if data is None:
        data = CommentedMap()
    if not isinstance(data, CommentedMap):
        raise FleetError("the registry's top level is not a mapping")
    communities = _seq(data, "communities")
    clusters = _seq(data, "clusters")
    result = ImportResult(before=registry_text, after=registry_text)
    for entry in (*communities, *clusters):
        if not isinstance(entry, CommentedMap):
            raise FleetError(
                f"the registry's lists hold something that is not a mapping: {entry!r}"
            )
    taken = {str(c.get("id")) for c in communities}
    by_cluster = {str(c.get("name")): c for c in clusters}
    # A hub that moved to another cluster keeps its community (found by its domain).
    by_domain = {
        str(h.get("domain")): str(h.get("community"))
        for c in clusters
        for h in (c.get("hubs") or [])
        if isinstance(h, CommentedMap) and h.get("domain") and h.get("community")
    }
    for fc in fleet:
        cluster = by_cluster.get(fc.name)
        added = cluster is None
        if cluster is None:
            cluster = CommentedMap([("name", fc.name), ("provider", fc.provider)])
            cluster["hubs"] = CommentedSeq()
            by_cluster[fc.name] = cluster
            result.clusters_added.append(fc.name)
        elif cluster.get("provider") != fc.provider:
            cluster["provider"] = fc.provider
        hubs = _seq(cluster, "hubs")
        by_hub = {str(h.get("name")): h for h in hubs}
        for fh in fc.hubs:
            where = f"{fc.name}/{fh.name}"
            hub = by_hub.get(fh.name)
            if hub is None:
                community = (fh.domain and by_domain.get(fh.domain)) or _community_for(
                    fc, fh, community_per, communities, taken, result
                )
                hub = CommentedMap([("name", fh.name), ("community", community)])
                _append(hubs, hub)
                result.hubs_added.append(where)
            updated = False
            for key in HUB_FIELDS:
                value = getattr(fh, key)
                if value is not None and hub.get(key) != value:
                    _set(hub, key, value)
                    updated = True
            if updated and where not in result.hubs_added:
                result.hubs_updated.append(where)
        if added:
            # Whole, so that the blank line or comment after the last cluster stays last.
            _append(clusters, cluster)
    out = io.StringIO()
    rt.dump(data, out)
    result.after = out.getvalue()
    if not result.changed:
        result.after = registry_text
    try:
        registry = Registry.parse(result.after, source="the imported registry")
    except RegistryError as exc:
        raise FleetError(str(exc)) from exc
    result.warnings = registry.warnings
    return result


def _take_tail(node: Any) -> Any:
    """Detach the comment or blank lines that follow `node`'s last line (ruamel keeps them on
    the deepest last key), so that what is appended goes before them, not after."""
    if isinstance(node, CommentedMap) and node:
        last = list(node.keys())[-1]
        slot = node.ca.items.get(last)
        if slot and len(slot) > 2 and slot[2] is not None:
            token = slot[2]
            value = str(token.value)
            # A comment at the end of the key's own line stays there; what follows moves.
            own = value[: value.find("\n") + 1] if not value.startswith("\n") else ""
            if not own:
                slot[2] = None
                return token
            rest = value[len(own) :]
            if not rest:
                return None
            moved = copy.copy(token)
            # Starting with a line end, so that it is never read as the next key's own comment.
            token.value, moved.value = own, "\n" + rest
            return moved
        return _take_tail(node[last])
    if isinstance(node, CommentedSeq) and node:
        return _take_tail(node[-1])
    return None


def _put_tail(node: Any, token: Any) -> None:
    if token is None:
        return
    if isinstance(node, CommentedMap) and node:
        last = list(node.keys())[-1]
        if isinstance(node[last], CommentedMap | CommentedSeq) and node[last]:
            _put_tail(node[last], token)
            return
        node.ca.items.setdefault(last, [None, None, None, None])[2] = token
    elif isinstance(node, CommentedSeq) and node:
        _put_tail(node[-1], token)


def _append(seq: CommentedSeq, item: CommentedMap) -> None:
    tail = _take_tail(seq)
    seq.append(item)
    _put_tail(seq, tail)


def _set(node: CommentedMap, key: str, value: Any) -> None:
    if key in node:
        node[key] = value
        return
    tail = _take_tail(node)
    node[key] = value
    _put_tail(node, tail)


def _seq(parent: CommentedMap, key: str) -> CommentedSeq:
    found = parent.get(key)
    if found is None:
        found = parent[key] = CommentedSeq()
    if not isinstance(found, CommentedSeq):
        raise FleetError(f"`{key}` in the registry is not a list")
    return found


def _community_for(
    fc: FleetCluster,
    fh: FleetHub,
    per: CommunityPer,
    communities: CommentedSeq,
    taken: set[str],
    result: ImportResult,
) -> str:
    """The community a new hub belongs to: its own, or its cluster's (added if missing)."""
    if per == "cluster":
        wanted, name = slug(fc.name), fc.name
        if wanted in taken:
            return wanted
    else:
        name = fh.display_name or fh.name
        wanted = slug(name)
        if wanted in taken:
            # Two hubs called "Staging" on two clusters: the second is the cluster's.
            wanted = slug(f"{fc.name} {name}")
    base, n = wanted or "hub", 2
    while wanted in taken or not wanted:
        wanted, n = f"{base}-{n}", n + 1
    taken.add(wanted)
    # Private, with no token yet: its status page opens to nobody until one is set.
    _append(communities, CommentedMap([("id", wanted), ("name", name), ("visibility", "private")]))
    result.communities_added.append(wanted)
    return wanted


def slug(text: str) -> str:
    """A community id: lowercase ASCII letters, digits and `-`."""
    # "Université de Paris" -> "universite-de-paris"
    folded = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")
