"""`incident-bot import-clusters`: a fleet's cluster.yaml files into the registry (real CLI)."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.hubs import Registry
from tests.conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "clusters"
GOLDEN = ROOT / "tests" / "fixtures" / "imported-hubs.yaml"

HAND_WRITTEN = """\
# Our registry: written by hand, then kept up to date by import-clusters.
communities:
  - id: leap
    name: LEAP
    visibility: private
    token_sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
    slack_channel: C0LEAP  # their shared channel
clusters:
  - name: leap
    provider: gcp
    pagerduty_escalation_policy: PLEAP01
    pagerduty_service: PSVCLEAP
    hubs:
      - name: prod
        community: leap
        github_repo: leap-stc/infrastructure
defaults:
  pagerduty_escalation_policy: PDEFAULT
"""


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def cluster_file(folder: Path, name: str, provider: str, hubs: list[dict[str, str]]) -> None:
    (folder / name).mkdir(parents=True, exist_ok=True)
    body = {"name": name, "provider": provider, provider: {"ignored": True}, "hubs": hubs}
    (folder / name / "cluster.yaml").write_text(yaml.safe_dump(body), encoding="utf-8")


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    folder = tmp_path / "clusters"
    cluster_file(
        folder,
        "leap",
        "gcp",
        [
            {
                "name": "staging",
                "display_name": "LEAP Staging",
                "domain": "staging.leap.2i2c.cloud",
                "helm_chart": "daskhub",
            },
            {
                "name": "prod",
                "display_name": "LEAP",
                "domain": "leap.2i2c.cloud",
                "helm_chart": "daskhub",
                "helm_chart_values_files": "common.values.yaml",
            },
        ],
    )
    cluster_file(
        folder,
        "jetstream2",
        "kubeconfig",
        [
            {
                "name": "staging",
                "display_name": "Staging",
                "domain": "staging.js2.2i2c.cloud",
                "helm_chart": "basehub",
            },
            {
                "name": "binder",
                "display_name": "Université Côte d'Azur",
                "domain": "b.example.org",
                "helm_chart": "binderhub",
            },
        ],
    )
    cluster_file(folder, "old-cloud", "openstack", [{"name": "staging", "display_name": "Staging"}])
    (folder / "templates").mkdir()  # no cluster.yaml: skipped
    return folder


def test_import_keeps_what_was_written_by_hand_and_runs_once(fleet: Path, tmp_path: Path) -> None:
    hubs = tmp_path / "hubs.yaml"
    hubs.write_text(HAND_WRITTEN, encoding="utf-8")
    r = run("import-clusters", str(fleet), "--hubs", str(hubs))
    assert r.returncode == 0, r.stderr
    assert "2 clusters added" in r.stdout
    assert "unknown provider 'openstack'" in r.stderr
    text = hubs.read_text(encoding="utf-8")
    # Comments, tokens, channels, policies, services and a hub's own fields survive.
    assert text.startswith("# Our registry: written by hand")
    assert "slack_channel: C0LEAP  # their shared channel" in text
    registry = Registry.parse(text)
    leap = registry.clusters["leap"]
    assert (leap.pagerduty_escalation_policy, leap.pagerduty_service) == ("PLEAP01", "PSVCLEAP")
    prod = registry.hub("leap", "prod")
    assert prod is not None
    assert (prod.community, prod.github_repo) == ("leap", "leap-stc/infrastructure")
    assert (prod.display_name, prod.domain, prod.helm_chart) == (
        "LEAP",
        "leap.2i2c.cloud",
        "daskhub",
    )
    assert registry.communities["leap"].token_sha256 is not None
    # New hubs get a private community each, named for their display name; a name two
    # clusters share is told apart by the cluster.
    assert registry.clusters["jetstream2"].provider == "kubeconfig"
    assert {h.name: h.community for h in registry.clusters["jetstream2"].hubs} == {
        "staging": "staging",
        "binder": "universite-cote-d-azur",
    }
    assert registry.hub("old-cloud", "staging").community == "old-cloud-staging"  # type: ignore[union-attr]
    assert registry.hub("leap", "staging").community == "leap-staging"  # type: ignore[union-attr]
    new = registry.communities["universite-cote-d-azur"]
    assert (new.visibility, new.token_sha256, new.name) == (
        "private",
        None,
        "Université Côte d'Azur",
    )
    # A second run changes nothing.
    again = run("import-clusters", str(fleet), "--hubs", str(hubs))
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout
    assert hubs.read_text(encoding="utf-8") == text
    assert run("check", "--hubs", str(hubs)).returncode == 0


def test_dry_run_prints_a_diff_and_writes_nothing(fleet: Path, tmp_path: Path) -> None:
    hubs = tmp_path / "hubs.yaml"
    hubs.write_text(HAND_WRITTEN, encoding="utf-8")
    r = run("import-clusters", str(fleet), "--hubs", str(hubs), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"--- {hubs}\n+++ {hubs} (imported)\n")
    assert "+  - name: jetstream2" in r.stdout
    assert "+        helm_chart: daskhub" in r.stdout
    assert hubs.read_text(encoding="utf-8") == HAND_WRITTEN


def test_one_community_per_cluster_on_request(fleet: Path, tmp_path: Path) -> None:
    hubs = tmp_path / "new.yaml"  # no registry yet: one is written
    r = run("import-clusters", str(fleet), "--hubs", str(hubs), "--community-per", "cluster")
    assert r.returncode == 0, r.stderr
    registry = Registry.load(hubs)
    assert {c: {h.community for h in registry.clusters[c].hubs} for c in registry.clusters} == {
        "jetstream2": {"jetstream2"},
        "leap": {"leap"},
        "old-cloud": {"old-cloud"},
    }


def test_a_folder_without_cluster_files_is_an_error(tmp_path: Path) -> None:
    r = run("import-clusters", str(tmp_path), "--hubs", str(tmp_path / "hubs.yaml"))
    assert r.returncode == 1
    assert "no <cluster>/cluster.yaml files" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "hubs.yaml").exists()


def test_the_fixture_fleet_gives_the_golden_registry(tmp_path: Path) -> None:
    # A tree shaped like 2i2c's config/clusters: AWS, GCP, Azure and kubeconfig clusters,
    # basehub, daskhub and binderhub hubs, one cluster of 95 hubs, non-ASCII display names.
    hubs = tmp_path / "hubs.yaml"
    r = run("import-clusters", str(FIXTURE), "--hubs", str(hubs))
    assert r.returncode == 0, r.stderr
    assert "14 clusters added, 153 hubs added" in r.stdout
    assert hubs.read_text(encoding="utf-8") == GOLDEN.read_text(encoding="utf-8")
    registry = Registry.load(hubs)
    assert max(len(c.hubs) for c in registry.clusters.values()) == 95
    assert {c.provider for c in registry.clusters.values()} == {"aws", "gcp", "azure", "kubeconfig"}
    assert {h.helm_chart for c in registry.clusters.values() for h in c.hubs} >= {
        "basehub",
        "daskhub",
        "binderhub",
    }
    assert run("import-clusters", str(FIXTURE), "--hubs", str(hubs)).stdout.endswith(
        "up to date (" + str(FIXTURE) + ")\n"
    )
    assert run("check", "--hubs", str(hubs)).returncode == 0


def test_the_fixture_fleet_merges_into_the_shipped_example(tmp_path: Path) -> None:
    hubs = tmp_path / "hubs.yaml"
    shipped = (ROOT / "hubs.yaml").read_text(encoding="utf-8")
    hubs.write_text(shipped, encoding="utf-8")
    assert run("import-clusters", str(FIXTURE), "--hubs", str(hubs)).returncode == 0
    merged = Registry.load(hubs)
    before = Registry.parse(shipped)
    # Every community, token and cluster setting written by hand is still there.
    for community in before.communities.values():
        assert merged.communities[community.id] == community
    for name, cluster in before.clusters.items():
        now = merged.clusters[name]
        assert now.pagerduty_escalation_policy == cluster.pagerduty_escalation_policy
        assert now.pagerduty_service == cluster.pagerduty_service
        for hub in cluster.hubs:
            kept = merged.hub(name, hub.name)
            assert kept is not None and kept.community == hub.community
    assert merged.defaults == before.defaults
    text = hubs.read_text(encoding="utf-8")
    assert "THIS IS AN EXAMPLE" in text  # its comments too
    assert run("import-clusters", str(FIXTURE), "--hubs", str(hubs)).returncode == 0
    assert hubs.read_text(encoding="utf-8") == text


def test_comments_after_the_last_entries_stay_where_they_were(fleet: Path, tmp_path: Path) -> None:
    hubs = tmp_path / "hubs.yaml"
    text = HAND_WRITTEN.replace(
        "        github_repo: leap-stc/infrastructure\n",
        "        github_repo: leap-stc/infrastructure  # theirs\n# end of the clusters\n\n",
    )
    hubs.write_text(text, encoding="utf-8")
    assert run("import-clusters", str(fleet), "--hubs", str(hubs)).returncode == 0
    lines = hubs.read_text(encoding="utf-8").splitlines()
    assert "        github_repo: leap-stc/infrastructure  # theirs" in lines
    assert "# end of the clusters" in lines  # a line of its own, never a key's comment
    assert lines[lines.index("# end of the clusters") + 2] == "defaults:"


def test_a_hub_that_moved_to_another_cluster_keeps_its_community(tmp_path: Path) -> None:
    folder = tmp_path / "clusters"
    cluster_file(
        folder, "leap-new", "aws", [{"name": "prod", "display_name": "LEAP", "domain": "x.org"}]
    )
    hubs = tmp_path / "hubs.yaml"
    hubs.write_text(
        HAND_WRITTEN.replace("community: leap\n", "community: leap\n        domain: x.org\n")
    )
    assert run("import-clusters", str(folder), "--hubs", str(hubs)).returncode == 0
    moved = Registry.load(hubs).hub("leap-new", "prod")
    assert moved is not None and moved.community == "leap"


@pytest.mark.parametrize(
    ("registry", "cluster", "problem"),
    [
        ("clusters: [", None, "the registry is not valid YAML"),
        ("clusters:\n  - just a string\n", None, "not a mapping"),
        (HAND_WRITTEN, b"name: x\nprovider: gcp\nhubs: [\xff]\n", "cannot read"),
        (HAND_WRITTEN, b"provider: gcp\n", "no cluster `name`"),
    ],
)
def test_bad_files_are_one_clear_line(
    tmp_path: Path, registry: str, cluster: bytes | None, problem: str
) -> None:
    folder = tmp_path / "clusters"
    (folder / "x").mkdir(parents=True)
    (folder / "x" / "cluster.yaml").write_bytes(cluster or b"name: x\nprovider: gcp\nhubs: []\n")
    hubs = tmp_path / "hubs.yaml"
    hubs.write_text(registry, encoding="utf-8")
    r = run("import-clusters", str(folder), "--hubs", str(hubs))
    assert r.returncode == 1
    assert problem in r.stderr and "Traceback" not in r.stderr
    assert hubs.read_text(encoding="utf-8") == registry
