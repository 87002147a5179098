"""The deployment files: compose.yaml parsed and checked; the Helm chart rendered by a tiny
renderer of the few template forms it uses (Helm is in no package registry this CI reaches),
its manifests parsed as YAML and checked; .env.example against Settings."""

import json
import re
from typing import Any

import yaml

from bot.config import Settings
from tests.conftest import ROOT

CHART = ROOT / "deploy" / "helm" / "incident-bot"
TAG = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


def lookup(path: str, scope: dict[str, Any]) -> Any:
    head, *rest = path.split(".") if path.startswith("$") else ["", *path[1:].split(".")]
    value = scope[head]
    for part in rest:
        value = value[part]
    return value


def render(text: str, scope: dict[str, Any]) -> str:
    """`{{ path [| quote] }}`, `{{- range $k, $v := path }}...{{- end }}`, trimming by `-`."""
    tokens: list[tuple[str, str]] = []
    last = 0
    for m in TAG.finditer(text):
        chunk = text[last : m.start()]
        tokens.append(("text", chunk.rstrip() if m.group(1) else chunk))
        tokens.append(("tag", m.group(2)))
        last = m.end()
    tokens.append(("text", text[last:]))
    out, _ = _render(tokens, 0, scope)
    return out


def _render(tokens: list[tuple[str, str]], i: int, scope: dict[str, Any]) -> tuple[str, int]:
    out = ""
    while i < len(tokens):
        kind, value = tokens[i]
        i += 1
        if kind == "text":
            out += value
        elif value == "end":
            return out, i
        elif value.startswith("range "):
            k, v, source = re.fullmatch(r"range (\$\w+), (\$\w+) := (\S+)", value).groups()  # type: ignore[union-attr]
            end = i
            for key, item in sorted(lookup(source, scope).items()):
                body, end = _render(tokens, i, {**scope, k: key, v: item})
                out += body
            if not lookup(source, scope):
                _, end = _render(tokens, i, {**scope, k: "", v: ""})
            i = end
        else:
            path, *pipes = (p.strip() for p in value.split("|"))
            found = lookup(path, scope)
            out += json.dumps(str(found)) if pipes == ["quote"] else str(found)
            assert pipes in ([], ["quote"]), value
    return out, i


def manifests(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    scope = {"": {"Values": values, "Release": {"Name": "rel"}}}
    found = {}
    for path in sorted((CHART / "templates").glob("*.yaml")):
        doc = yaml.safe_load(render(path.read_text(), scope))
        found[doc["kind"]] = doc
    return found


def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def test_the_chart_renders_to_valid_manifests():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "incident-bot"
    v = values()
    v["runbooks"] = {"disk.md": '---\ntitle: "Disk"\nalerts: [Disk]\n---\n# Disk\n'}
    v["secrets"]["API_TOKEN"] = 'se"cret'
    m = manifests(v)
    assert set(m) == {"Deployment", "Service", "Secret", "ConfigMap", "Job"}
    deployment = m["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 10001}
    [bot] = pod["containers"]
    assert bot["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert bot["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert bot["envFrom"] == [{"secretRef": {"name": m["Secret"]["metadata"]["name"]}}]
    env = {e["name"]: e["value"] for e in bot["env"]}
    assert env["HUBS_FILE"] == "/config/hubs.yaml" and env["TIMEZONE"] == "UTC"
    [volume] = pod["volumes"]
    assert volume["configMap"]["name"] == m["ConfigMap"]["metadata"]["name"]
    assert {"key": "disk.md", "path": "runbooks/disk.md"} in volume["configMap"]["items"]
    assert m["ConfigMap"]["data"]["disk.md"] == v["runbooks"]["disk.md"]
    assert m["Secret"]["stringData"]["API_TOKEN"] == 'se"cret'
    assert set(m["Secret"]["stringData"]) >= {"DATABASE_URL", "ALERTMANAGER_TOKEN"}
    job = m["Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    # The Secret the Job reads is made before it.
    weight = "helm.sh/hook-weight"
    secret_weight = int(m["Secret"]["metadata"]["annotations"][weight])
    assert secret_weight < int(job["metadata"]["annotations"][weight])
    [migrate] = job["spec"]["template"]["spec"]["containers"]
    assert migrate["command"] == ["incident-bot", "migrate"]
    assert m["Service"]["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_the_default_values_render_and_the_registry_loads():
    m = manifests(values())
    assert m["ConfigMap"]["data"] == {"hubs.yaml": values()["hubsYaml"]}
    from bot.hubs import Registry

    Registry.parse(values()["hubsYaml"])


def test_compose_runs_postgres_a_migration_and_two_ready_replicas():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    migrate, bot = services["migrate"], services["bot"]
    assert migrate["command"] == ["incident-bot", "migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert bot["deploy"]["replicas"] == 2
    assert bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "/readyz" in " ".join(bot["healthcheck"]["test"])
    for service in (migrate, bot):
        assert "./hubs.yaml:/config/hubs.yaml:ro" in service["volumes"]
        assert service["environment"]["HUBS_FILE"] == "/config/hubs.yaml"
        assert service["env_file"][0]["path"] == ".env"
        assert service["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")


def test_the_dockerfile_runs_as_a_numeric_user_and_keeps_its_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER 10001$", text, re.M)
    assert re.search(r"^HEALTHCHECK .*/healthz", text, re.M)


def test_env_example_names_every_setting_with_secrets_empty():
    names = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        # A setting with a value is listed commented out, so it never overrides an image's.
        found = re.fullmatch(r"(?:# )?([A-Z][A-Z0-9_]*)=(.*)", line)
        if found:
            names[found.group(1)] = found.group(2)
            assert line.startswith("# ") == bool(found.group(2)), line
    assert set(names) == {n.upper() for n in Settings.model_fields}
    for name, field in Settings.model_fields.items():
        if "SecretStr" in str(field.annotation):
            assert names[name.upper()] == "", name
    # Read back as the service reads it, it is the defaults.
    parsed = Settings(_env_file=ROOT / ".env.example")
    assert parsed.worker_threads == Settings(_env_file=None).worker_threads
