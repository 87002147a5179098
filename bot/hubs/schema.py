"""The shape of `hubs.yaml`, validated by pydantic."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Severity = Literal["sev1", "sev2", "sev3", "sev4"]
SEVERITIES: tuple[Severity, ...] = ("sev1", "sev2", "sev3", "sev4")
RoleName = Literal["commander", "communications", "scribe", "sme"]
ROLE_NAMES: tuple[RoleName, ...] = ("commander", "communications", "scribe", "sme")

SLUG = r"^[a-z0-9][a-z0-9-]*$"
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
# A GitHub repository, `owner/name`: a hub's `github_repo`, GITHUB_REPO, and what the GitHub
# client accepts.
GITHUB_REPO_PATTERN = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"

DEFAULT_SEVERITY_MAP: dict[str, Severity] = {
    "critical": "sev1",
    "take immediate action": "sev1",
    # 2i2c's rules use this for server start failures and proxy restarts: same day, no page.
    "immediate action needed": "sev2",
    "error": "sev2",
    "same day action needed": "sev2",
    "warning": "sev3",
    "action needed this week": "sev3",
    "info": "sev4",
    "to be planned in sprint planning": "sev4",
}

# Only an outage opens an incident (and a channel, and a page) by itself; lesser alerts join
# an open incident of their hub, or are stored and listed.
OPEN_BY_DEFAULT: tuple[Severity, ...] = ("sev1",)

# How a person reads a severity, unless the registry says otherwise (`severity_names`).
DEFAULT_SEVERITY_NAMES: dict[Severity, str] = {s: s for s in SEVERITIES}

# Cluster providers that import-clusters and the registry know; another is accepted, warned.
PROVIDERS = ("aws", "gcp", "azure", "kubeconfig")

DEFAULT_ROLES: dict[RoleName, str] = {
    "commander": "Incident Commander",
    "communications": "Communication Liaison",
    "scribe": "Scribe",
    "sme": "Subject Matter Expert",
}


class _Strict(BaseModel):
    # A typo in a key of the registry is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Community(_Strict):
    id: str = Field(pattern=SLUG)
    name: str = Field(min_length=1)
    visibility: Literal["public", "private"] = "private"
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    slack_channel: str | None = None
    # A private community without token_sha256 (as import-clusters adds them) is allowed: its
    # status page opens to nobody until one is set (Registry.warnings says so).


class Hub(_Strict):
    name: str = Field(pattern=NAME)
    community: str
    domain: str | None = None
    display_name: str | None = None
    helm_chart: str | None = None
    # Where follow-up issues of this hub go (else GITHUB_REPO).
    github_repo: str | None = Field(default=None, pattern=GITHUB_REPO_PATTERN)


class Cluster(_Strict):
    name: str = Field(pattern=NAME)
    # aws | gcp | azure | kubeconfig; another string is accepted (Registry.warnings says so).
    provider: str = Field(min_length=1)
    pagerduty_escalation_policy: str | None = None
    pagerduty_service: str | None = None
    hubs: list[Hub] = Field(default_factory=list)

    @field_validator("hubs")
    @classmethod
    def _unique_hubs(cls, hubs: list[Hub]) -> list[Hub]:
        names = [h.name for h in hubs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"hub names must be unique in a cluster: {', '.join(dupes)}")
        return hubs


class Defaults(_Strict):
    pagerduty_escalation_policy: str | None = None
    # Where a page opens its PagerDuty incident when the cluster names no service of its own.
    pagerduty_service: str | None = None
    open_incident_for: list[Severity] = Field(default_factory=lambda: list(OPEN_BY_DEFAULT))
    severity_names: dict[Severity, str] = Field(
        default_factory=lambda: dict(DEFAULT_SEVERITY_NAMES)
    )
    severity_map: dict[str, Severity] = Field(default_factory=lambda: dict(DEFAULT_SEVERITY_MAP))
    roles: dict[RoleName, str] = Field(default_factory=lambda: dict(DEFAULT_ROLES))

    @field_validator("severity_map")
    @classmethod
    def _fold_keys(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        # Alert rules write severities in any case; match them case-insensitively.
        return {k.strip().lower(): v for k, v in value.items()}

    @field_validator("severity_names")
    @classmethod
    def _all_names(cls, value: dict[Severity, str]) -> dict[Severity, str]:
        return {**DEFAULT_SEVERITY_NAMES, **{k: v.strip() or k for k, v in value.items()}}

    @field_validator("roles")
    @classmethod
    def _all_roles(cls, value: dict[RoleName, str]) -> dict[RoleName, str]:
        return {**DEFAULT_ROLES, **value}


class RegistryFile(_Strict):
    communities: list[Community] = Field(default_factory=list)
    clusters: list[Cluster] = Field(default_factory=list)
    defaults: Defaults = Field(default_factory=Defaults)

    @model_validator(mode="after")
    def _references(self) -> "RegistryFile":
        ids = [c.id for c in self.communities]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"community ids must be unique: {', '.join(dupes)}")
        names = [c.name for c in self.clusters]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"cluster names must be unique: {', '.join(dupes)}")
        for ci, cluster in enumerate(self.clusters):
            for hi, hub in enumerate(cluster.hubs):
                if hub.community not in ids:
                    raise ValueError(
                        f"clusters[{ci}].hubs[{hi}].community: unknown community "
                        f"{hub.community!r} (known: {', '.join(ids) or 'none'})"
                    )
        return self
