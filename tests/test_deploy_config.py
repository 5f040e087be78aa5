"""Deploy config: the compose topology (as docker-compose reads it), .env.example, k8s manifests."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices, BaseModel
from pydantic_settings import BaseSettings

from bot.config import REPO_ROOT, Settings

DEPLOY = REPO_ROOT / "deploy"
K8S = DEPLOY / "k8s"
K8S_VERSION = "1.30.0"
IN_CI = os.environ.get("CI") == "true"

STUDYBOT_SERVICES = {"ingest", "slack", "discord", "worker"}
LONG_RUNNING = {"redis", "chroma", "slack", "discord", "worker", "proxy"}
# Names in .env.example that are not fields of bot/config.py's Settings: the LLM provider's own
# variables and the compose file's SITE_ADDRESS and STUDYBOT_ENV_FILE.
NOT_SETTINGS = {"OPENAI_API_KEY", "OPENAI_BASE_URL", "SITE_ADDRESS", "STUDYBOT_ENV_FILE"}
ENV_LINE = re.compile(r"^(?P<comment># )?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


def _missing_tool(what: str, how: str) -> None:
    """Skip on a developer's machine without the tool; in CI, where .ci/run installs it, fail."""
    if IN_CI:
        pytest.fail(f"{what} is missing in CI: {how}")
    pytest.skip(f"{what} is not installed ({how}); CI installs it and runs this test")


# --- deploy/compose.yaml ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The compose file as docker-compose resolves and validates it, with .env.example as .env."""
    exe = shutil.which("docker-compose")
    if exe is None:
        _missing_tool("docker-compose", "apt-get install -y docker-compose")
    # A copy of deploy/, as an operator sets it up (cp .env.example .env), without a real .env.
    work = tmp_path_factory.mktemp("compose") / "deploy"
    shutil.copytree(DEPLOY, work, ignore=shutil.ignore_patterns("k8s", ".env"))
    shutil.copy(DEPLOY / ".env.example", work / ".env")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "SITE_ADDRESS"))}
    result = subprocess.run(
        [exe, "-f", str(work / "compose.yaml"), "--env-file", str(work / ".env"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    return yaml.safe_load(result.stdout)


def test_a_fresh_clone_validates_without_a_dot_env(tmp_path: Path) -> None:
    exe = shutil.which("docker-compose")
    if exe is None:
        _missing_tool("docker-compose", "apt-get install -y docker-compose")
    work = tmp_path / "deploy"
    shutil.copytree(DEPLOY, work, ignore=shutil.ignore_patterns("k8s", ".env"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "STUDYBOT_"))}
    result = subprocess.run([exe, "-f", str(work / "compose.yaml"), "config"],
                            capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        yaml.safe_load(result.stdout)["services"]["slack"]["environment"]["SLACK_BOT_TOKEN"] == ""
    )


def test_compose_runs_every_part_of_the_bot(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == LONG_RUNNING | {"ingest"}
    commands = {name: compose["services"][name]["command"] for name in STUDYBOT_SERVICES}
    assert commands == {
        "ingest": ["studybot", "ingest"],
        "slack": ["studybot", "run", "slack", "--http", "--port", "3000"],
        "discord": ["studybot", "run", "discord"],
        "worker": ["studybot", "worker"],
    }
    for name in STUDYBOT_SERVICES:
        service = compose["services"][name]
        assert service["image"] == "studybot:latest"
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"


def test_two_slack_replicas_behind_the_proxy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["slack"]["deploy"]["replicas"] == 2
    # Only the proxy is reachable from outside, and it sends /slack/events to every replica.
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    mounts = {v.split(":")[1] for v in services["proxy"]["volumes"] if v.startswith("/")}
    assert "/etc/caddy/Caddyfile" in mounts
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    assert re.search(
        r"handle /slack/events \{\s*reverse_proxy \{\s*(#.*\s*)*dynamic a slack 3000", caddyfile
    )
    assert "lb_policy round_robin" in caddyfile


def test_redis_runs_the_repos_conf_on_a_volume_and_is_not_published(
    compose: dict[str, Any],
) -> None:
    redis = compose["services"]["redis"]
    assert redis["image"] == "redis:7"
    assert redis["command"] == ["redis-server", "/usr/local/etc/redis/redis.conf"]
    binds = dict(v.rsplit(":", 2)[:2] for v in redis["volumes"])
    conf = next(src for src, dst in binds.items() if dst == "/usr/local/etc/redis/redis.conf")
    assert Path(conf).name == "redis.conf" and Path(conf).parent.name == "redis"
    assert binds["redis-data"] == "/data"
    assert "ports" not in redis and "ports" not in compose["services"]["chroma"]
    text = (DEPLOY / "redis" / "redis.conf").read_text()
    assert re.search(r"^appendonly yes$", text, re.M)
    assert re.search(r"^appendfsync everysec$", text, re.M)


def test_chroma_server_matches_the_client_and_persists(compose: dict[str, Any]) -> None:
    chroma = compose["services"]["chroma"]
    assert chroma["image"] == f"chromadb/chroma:{importlib.metadata.version('chromadb')}"
    assert "chroma-data:/data:rw" in chroma["volumes"]


def test_named_volumes_hold_the_state(compose: dict[str, Any]) -> None:
    assert set(compose["volumes"]) == {"redis-data", "chroma-data", "caddy-data"}


def test_bots_wait_for_ingest_and_find_redis_and_chroma(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["ingest"]["restart"] == "no"
    assert services["ingest"]["depends_on"] == {
        "redis": {"condition": "service_healthy"},
        "chroma": {"condition": "service_healthy"},
    }
    for name in STUDYBOT_SERVICES - {"ingest"}:
        assert services[name]["depends_on"] == {
            "redis": {"condition": "service_healthy"},
            "chroma": {"condition": "service_healthy"},
            "ingest": {"condition": "service_completed_successfully"},
        }, name
    for name in STUDYBOT_SERVICES:
        env = services[name]["environment"]
        assert env["CHROMA_HOST"] == "chroma" and env["CHROMA_PORT"] == "8000", name
        assert env["REDIS_URL"] == "redis://redis:6379/0", name
        # Credentials come from the settings file (env_file).
        assert {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "DISCORD_TOKEN"} <= set(env), name
    for name in ("discord", "worker"):
        assert services[name]["environment"]["STUDYBOT_HTTP_PORT"] == "8080"


def test_long_running_services_have_healthchecks_and_restart(compose: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        service = compose["services"][name]
        assert service["restart"] == "unless-stopped", name
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD" and test != ["NONE"], name
    ports = {"slack": 3000, "discord": 8080, "worker": 8080}
    for name, port in ports.items():
        assert (
            f"http://127.0.0.1:{port}/readyz"
            in compose["services"][name]["healthcheck"]["test"][-1]
        )


# --- deploy/.env.example ---------------------------------------------------------------------


def _setting_env_names() -> set[str]:
    """Every environment variable bot/config.py's Settings reads."""
    prefix = Settings.model_config["env_prefix"]
    delimiter = Settings.model_config["env_nested_delimiter"]
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseSettings):
            sub_prefix = kind.model_config["env_prefix"]
            names |= {f"{sub_prefix}{sub}".upper() for sub in kind.model_fields}
        elif isinstance(kind, type) and issubclass(kind, BaseModel):
            names |= {f"{prefix}{name}{delimiter}{sub}".upper() for sub in kind.model_fields}
        elif isinstance(field.validation_alias, AliasChoices):
            names.add(str(field.validation_alias.choices[0]))
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def _env_example() -> list[tuple[int, bool, str, str]]:
    """(line index, active, name, value) of each variable line of deploy/.env.example."""
    found = []
    for index, line in enumerate((DEPLOY / ".env.example").read_text().splitlines()):
        match = ENV_LINE.match(line)
        if match:
            found.append((index, not match["comment"], match["name"], match["value"]))
    return found


def test_env_example_documents_every_setting() -> None:
    documented = {name for _, _, name, _ in _env_example()}
    settings = _setting_env_names()
    assert "SLACK_SIGNING_SECRET" in settings and "STUDYBOT_LLM_OPTIONS__RETRIES" in settings
    assert settings - documented == set(), "settings missing from deploy/.env.example"
    assert documented - settings - NOT_SETTINGS == set(), "unknown names in deploy/.env.example"
    names = [name for _, _, name, _ in _env_example()]
    assert len(names) == len(set(names)), "a variable is listed twice"


def test_env_example_comments_each_variable_and_leaves_secrets_empty() -> None:
    lines = (DEPLOY / ".env.example").read_text().splitlines()
    for index, active, name, value in _env_example():
        above = lines[index - 1]
        assert above.startswith("# ") and not ENV_LINE.match(above), f"{name} has no comment"
        if active and name != "STUDYBOT_ENV_FILE":  # compose's own switch, not a secret
            assert value == "", f"{name} must be empty in the example"
            assert re.search(r"TOKEN|SECRET|KEY", name), f"{name} is active but not a secret"


def test_env_example_as_is_gives_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for _, active, name, value in _env_example():
        if active and name not in NOT_SETTINGS:
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.slack.bot_token == "" and settings.discord.guild_id is None


# --- deploy/k8s ------------------------------------------------------------------------------

MANIFESTS = sorted(K8S.glob("*.yaml"))


def _docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@functools.cache
def _all_docs() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in _docs(path)]


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in _all_docs() if doc["kind"] == kind]


def _named(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in _of_kind(kind) if d["metadata"]["name"] == name]
    return doc


def _mebibytes(quantity: str) -> float:
    units = {"Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    for unit, factor in units.items():
        if quantity.endswith(unit):
            return float(quantity.removesuffix(unit)) * factor
    raise AssertionError(f"unexpected memory quantity {quantity!r}")


def test_one_file_per_concern_in_apply_order() -> None:
    names = [path.name for path in MANIFESTS]
    assert names[0] == "00-namespace.yaml"
    assert all(re.match(r"^\d\d-[a-z0-9-]+\.yaml$", name) for name in names), names
    kinds = {doc["kind"] for doc in _all_docs()}
    assert kinds == {
        "Namespace", "ConfigMap", "Secret", "Service", "Job", "Deployment", "Ingress",
        "PodDisruptionBudget",
    }  # fmt: skip
    for doc in _all_docs():
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "studybot", doc["metadata"]["name"]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_is_valid_kubernetes(path: Path) -> None:
    try:
        import kubernetes_validate
    except ImportError:
        _missing_tool("kubernetes-validate", "pip install -e '.[dev]'")
    for doc in _docs(path):
        # Strict: an unknown or misspelt field fails too. The schemas ship with the package.
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def _workloads() -> list[tuple[str, dict[str, Any]]]:
    return [(doc["kind"], doc) for doc in _all_docs() if doc["kind"] in {"Deployment", "Job"}]


def test_every_container_has_resources_and_every_server_has_probes() -> None:
    for kind, doc in _workloads():
        for container in doc["spec"]["template"]["spec"]["containers"]:
            where = f"{doc['metadata']['name']}/{container['name']}"
            resources = container["resources"]
            for side in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[side]), where
            # Sized for this app: ~300-600 MiB RSS serving, ~900 MiB while exporting the model.
            assert _mebibytes(resources["requests"]["memory"]) >= 384, where
            assert _mebibytes(resources["limits"]["memory"]) >= 1024, where
            if kind != "Deployment":
                continue
            ports = {port["name"] for port in container["ports"]}
            probes = {
                "startupProbe": "/healthz",
                "livenessProbe": "/healthz",
                "readinessProbe": "/readyz",
            }
            for probe, path in probes.items():
                assert container[probe]["httpGet"]["path"] == path, (where, probe)
                assert container[probe]["httpGet"]["port"] in ports, (where, probe)


def test_slack_runs_three_http_replicas_behind_ingress_and_pdb() -> None:
    slack = _named("Deployment", "studybot-slack")
    assert slack["spec"]["replicas"] == 3
    (container,) = slack["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["studybot", "run", "slack", "--http", "--port", "3000"]
    assert container["ports"] == [{"name": "http", "containerPort": 3000}]
    labels = slack["spec"]["template"]["metadata"]["labels"]
    service = _named("Service", "studybot-slack")
    assert service["spec"]["selector"].items() <= labels.items()
    pdb = _named("PodDisruptionBudget", "studybot-slack")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 0 < pdb["spec"]["minAvailable"] < slack["spec"]["replicas"]
    (ingress,) = _of_kind("Ingress")
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/slack/events"
    assert path["backend"]["service"]["name"] == "studybot-slack"


def test_discord_shard_groups_cover_each_shard_once() -> None:
    groups = [
        d for d in _of_kind("Deployment") if d["metadata"]["name"].startswith("studybot-discord")
    ]
    assert len(groups) == 2
    counts, ids = set(), []
    for group in groups:
        assert group["spec"]["replicas"] == 1 and group["spec"]["strategy"]["type"] == "Recreate"
        (container,) = group["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["studybot", "run", "discord"]
        env = {item["name"]: item["value"] for item in container["env"]}
        counts.add(int(env["DISCORD_SHARD_COUNT"]))
        ids += [int(i) for i in env["DISCORD_SHARD_IDS"].split(",")]
    assert counts == {4}
    assert sorted(ids) == [0, 1, 2, 3]


def test_worker_and_ingest() -> None:
    worker = _named("Deployment", "studybot-worker")
    assert worker["spec"]["replicas"] == 2
    assert worker["spec"]["template"]["spec"]["containers"][0]["command"] == ["studybot", "worker"]
    (job,) = _of_kind("Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["studybot", "ingest"]


def test_redis_and_chroma_are_external_and_configured() -> None:
    external = {
        d["metadata"]["name"]: d["spec"]
        for d in _of_kind("Service")
        if d["spec"]["type"] == "ExternalName"
    }
    assert set(external) == {"redis", "chroma"}
    (config,) = _of_kind("ConfigMap")
    assert config["data"]["CHROMA_HOST"] == "chroma"
    assert config["data"]["STUDYBOT_HTTP_PORT"] == "8080"
    (secret,) = _of_kind("Secret")
    assert re.match(r"^redis\+(sentinel|cluster)://", secret["stringData"]["REDIS_URL"])
    # Every workload gets both.
    for _, doc in _workloads():
        for container in doc["spec"]["template"]["spec"]["containers"]:
            sources = container["envFrom"]
            assert {"configMapRef": {"name": "studybot-config"}} in sources
            assert {"secretRef": {"name": "studybot-secrets"}} in sources


REAL_LOOKING = re.compile(
    r"xox[abpr]-|xapp-|sk-[A-Za-z0-9]|[A-Za-z0-9_\-]{20,}|[A-Za-z0-9+/=]{24,}|://[^:/@]*:[^@]+@"
)


def test_no_secret_holds_a_real_looking_value() -> None:
    for secret in _of_kind("Secret"):
        assert "data" not in secret, "placeholders go in stringData, in plain sight"
        for key, value in secret["stringData"].items():
            assert value == "" or "REPLACE_ME" in value, key
            assert not REAL_LOOKING.search(value.replace(":REPLACE_ME@", "")), key
    for config in _of_kind("ConfigMap"):
        for key in config["data"]:
            assert not re.search(r"TOKEN|SECRET|PASSWORD|API_KEY|REDIS_URL", key), key
