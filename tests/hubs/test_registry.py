"""Loading and validating hubs.yaml, and mapping labels to hubs."""

from pathlib import Path

import pytest

from bot.hubs import Registry, RegistryError
from tests.conftest import ROOT

MINIMAL = """
communities:
  - id: acme
    name: Acme
    visibility: public
clusters:
  - name: c1
    provider: gcp
    hubs:
      - name: prod
        community: acme
"""


@pytest.fixture
def registry() -> Registry:
    return Registry.load(ROOT / "hubs.yaml")


def test_the_shipped_example_is_valid_and_realistic(registry: Registry):
    providers = {c.provider for c in registry.clusters.values()}
    assert {"aws", "gcp"} <= providers
    visibilities = {c.visibility for c in registry.communities.values()}
    assert visibilities == {"public", "private"}
    assert sum(len(c.hubs) for c in registry.clusters.values()) >= 10


def test_defaults_include_the_free_text_severities_of_real_rules(registry: Registry):
    assert registry.severity("take immediate action") == "sev1"
    # 2i2c's server start and proxy restart rules: same day, not a page.
    assert registry.severity("Immediate Action Needed") == "sev2"
    assert registry.severity("same day action needed") == "sev2"
    assert registry.severity("action needed this week") == "sev3"
    assert registry.severity("to be planned in sprint planning") == "sev4"
    assert registry.severity("sev3") == "sev3"
    assert registry.severity(None) == "sev2"
    assert registry.severity("made up") == "sev2"
    # As some rules write a label: `key=value`.
    assert registry.severity("severity=critical") == "sev1"
    assert registry.severity("severity = warning") == "sev3"
    assert registry.severity("severity=made up") == "sev2"


def test_an_empty_registry_has_the_built_in_defaults():
    r = Registry.parse("")
    assert r.severity("critical") == "sev1"
    assert r.opens_incident("sev1") and not r.opens_incident("sev2")
    assert r.defaults.roles["commander"] == "Incident Commander"
    assert [r.severity_name(s) for s in ("sev1", "sev4")] == ["sev1", "sev4"]
    assert r.pagerduty_service("anything") is None


def test_severity_names_and_the_default_pagerduty_service(registry: Registry):
    # The shipped example names them as 2i2c reads them.
    assert [registry.severity_name(s) for s in ("sev1", "sev2", "sev3", "sev4")] == [
        "P1",
        "P2",
        "P3",
        "P4",
    ]
    partial = Registry.parse(MINIMAL + "defaults:\n  severity_names: {sev1: Outage}\n")
    assert partial.severity_name("sev1") == "Outage"
    assert partial.severity_name("sev2") == "sev2"
    # A cluster without a service of its own pages on the default one.
    assert registry.clusters["openscapes"].pagerduty_service is not None
    assert (
        registry.pagerduty_service("openscapes")
        == registry.clusters["openscapes"].pagerduty_service
    )
    assert registry.pagerduty_service("2i2c") == registry.defaults.pagerduty_service


def test_any_provider_is_accepted_and_an_unknown_one_warned():
    for known in ("aws", "gcp", "azure", "kubeconfig"):
        assert Registry.parse(MINIMAL.replace("provider: gcp", f"provider: {known}")).warnings == []
    odd = Registry.parse(MINIMAL.replace("provider: gcp", "provider: ibm"))
    assert odd.clusters["c1"].provider == "ibm"
    assert odd.warnings == [
        "hubs.yaml: cluster c1: unknown provider 'ibm' (known: aws, gcp, azure, kubeconfig)"
    ]


def test_a_private_community_without_a_token_is_closed_and_warned():
    closed = Registry.parse(MINIMAL.replace("visibility: public", "visibility: private"))
    assert closed.communities["acme"].token_sha256 is None
    assert closed.warnings == [
        "hubs.yaml: 1 private communities have no token_sha256, so their status pages open "
        "to nobody: acme"
    ]


def test_hubs_take_display_name_helm_chart_and_github_repo():
    text = MINIMAL.replace(
        "community: acme",
        "community: acme\n        display_name: Acme Prod\n        helm_chart: daskhub\n"
        "        github_repo: acme/infra",
    )
    hub = Registry.parse(text).hub("c1", "prod")
    assert hub is not None
    assert (hub.display_name, hub.helm_chart, hub.github_repo) == (
        "Acme Prod",
        "daskhub",
        "acme/infra",
    )


def test_routing_follows_the_contract(registry: Registry):
    hub = registry.route({"cluster": "openscapes", "namespace": "prod", "severity": "critical"})
    assert (hub.cluster, hub.hub, hub.community, hub.scope) == (
        "openscapes",
        "prod",
        "openscapes",
        "hub:openscapes/prod",
    )
    assert hub.opens_incident and hub.escalation_policy == "P7QK2LM"
    kv = registry.route({"cluster": "cluster=leap", "namespace": "hub=staging"})
    assert (kv.cluster, kv.hub) == ("leap", "staging")
    # An explicit `hub` label wins over `namespace`, written `cluster/hub` or not.
    for labels in (
        {"cluster": "leap", "namespace": "support", "hub": "leap/prod"},
        {"namespace": "support", "hub": "leap/prod"},
        {"cluster": "leap", "namespace": "support", "hub": "prod"},
    ):
        assert registry.route(labels).scope == "hub:leap/prod", labels
    assert registry.route({"cluster": "2i2c", "hub": "leap/prod"}).hub is None  # contradicts
    wide = registry.route({"cluster": "2i2c", "namespace": "kube-system"})
    assert (wide.cluster, wide.hub, wide.scope) == ("2i2c", None, "cluster:2i2c")
    assert wide.escalation_policy == registry.defaults.pagerduty_escalation_policy
    lost = registry.route({"cluster": "elsewhere", "namespace": "prod"})
    assert (lost.cluster, lost.hub, lost.community, lost.scope) == (None, None, None, "unmapped")
    warn = registry.route({"cluster": "leap", "namespace": "prod", "severity": "warning"})
    assert warn.severity == "sev3" and not warn.opens_incident


def test_a_cluster_wide_alert_on_a_dedicated_cluster_belongs_to_its_community(registry: Registry):
    assert registry.route({"cluster": "leap", "namespace": "support"}).community == "leap"


def test_hub_references_resolve(registry: Registry):
    assert registry.parse_hub_ref("leap/prod") == ("leap", "prod")
    assert registry.parse_hub_ref("leap") == ("leap", None)
    assert registry.parse_hub_ref("staging") is None  # in every cluster: ambiguous
    assert registry.parse_hub_ref("r-prod") == ("utoronto", "r-prod")
    assert registry.parse_hub_ref("leap/nope") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clusters: [", "line"),
        ("- a\n- b", "top level must be a mapping"),
        (
            MINIMAL.replace("community: acme", "community: ghost"),
            "clusters[0].hubs[0].community: unknown community 'ghost'",
        ),
        (MINIMAL.replace("provider: gcp", 'provider: ""'), "clusters[0].provider"),
        (
            MINIMAL.replace("visibility: public", "visibility: private\n    token_sha256: nothex"),
            "communities[0].token_sha256",
        ),
        (
            MINIMAL.replace("    name: Acme", "    name: Acme\n    colour: red"),
            "communities[0].colour",
        ),
        (
            MINIMAL + "defaults:\n  severity_map:\n    critical: sev9\n",
            "defaults.severity_map.critical",
        ),
        (
            MINIMAL.replace(
                "      - name: prod\n        community: acme",
                "      - name: prod\n        community: acme\n"
                "      - name: prod\n        community: acme",
            ),
            "hub names must be unique",
        ),
    ],
)
def test_errors_name_the_file_the_path_and_the_problem(text: str, message: str):
    with pytest.raises(RegistryError) as err:
        Registry.parse(text, source="my-hubs.yaml")
    assert str(err.value).startswith("my-hubs.yaml")
    assert message in str(err.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(RegistryError, match="cannot read the hub registry"):
        Registry.load(tmp_path / "nope.yaml")
