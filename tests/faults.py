"""The fault matrix's dependencies as real processes: a redis-server and a `chroma run` to kill."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from bot.config import ChromaSettings, RedisSettings, Settings
from tests.conftest import free_port, start_redis_server

# Short timeouts, as a deployment that cares about latency would set them: an outage then
# costs a question well under a second (the breakers make it one timeout, not one per call).
FAST = {
    "REDIS_SOCKET_TIMEOUT": "0.3",
    "REDIS_CONNECT_TIMEOUT": "0.3",
    "REDIS_RETRIES": "1",
    "REDIS_BREAKER_RESET_SECONDS": "1",
    "CHROMA_TIMEOUT_SECONDS": "2",
    "CHROMA_BREAKER_RESET_SECONDS": "1",
}


class RedisProcess:
    """A redis-server on its own port and folder: stop, pause, kill and start it again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.process, self.port = start_redis_server(folder)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        """SIGKILL: the server is gone at once, as in a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def pause(self) -> None:
        """SIGSTOP: it accepts connections but answers nothing (a hung server)."""
        self.process.send_signal(signal.SIGSTOP)

    def start(self) -> None:
        """Back on the same port (after kill)."""
        self.process, _ = start_redis_server(self.folder, self.port)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=1, decode_responses=True)


class ChromaProcess:
    """`chroma run` over a copy of the session's indexed course: kill it, start it again."""

    def __init__(self, source: Path, folder: Path) -> None:
        self.path = folder
        shutil.copytree(source, folder)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
        self.process = subprocess.Popen(
            [chroma, "run", "--path", str(self.path), "--host", "127.0.0.1",
             "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not self.answers():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                pytest.fail("chroma server did not start")
            time.sleep(0.1)

    def answers(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/api/v2/heartbeat"
            urllib.request.urlopen(url, timeout=1).close()
            return True
        except OSError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)


@dataclass
class Deps:
    """The two killable dependencies of one test, and the settings that point at them."""

    redis: RedisProcess
    chroma: ChromaProcess
    data_dir: Path
    models_dir: Path
    prefix: str = "faults"
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, **overrides: str) -> dict[str, str]:
        """Environment for a `python -m bot` process using these dependencies."""
        inherited = {k: v for k, v in os.environ.items() if k != "STUDYBOT_LLM"}
        return {
            **inherited,
            "STUDYBOT_DATA_DIR": str(self.data_dir),
            "STUDYBOT_MODELS_PATH": str(self.models_dir),
            "REDIS_URL": self.redis.url,
            "REDIS_KEY_PREFIX": self.prefix,
            "CHROMA_HOST": "127.0.0.1",
            "CHROMA_PORT": str(self.chroma.port),
            "COLUMNS": "200",
            **FAST,
            **self.extra_env,
            **overrides,
        }

    def settings(self, **overrides: object) -> Settings:
        """The same, as a Settings object for an in-process Container."""
        values: dict[str, object] = {
            "data_dir": self.data_dir,
            "models_path": self.models_dir,
            "redis": RedisSettings(
                url=self.redis.url,
                key_prefix=self.prefix,
                socket_timeout=0.3,
                connect_timeout=0.3,
                retries=1,
                breaker_reset_seconds=1,
            ),
            "chroma": ChromaSettings(
                host="127.0.0.1", port=self.chroma.port, timeout_seconds=2, breaker_reset_seconds=1
            ),
            **overrides,
        }
        return Settings(**values)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.redis.stop()
        self.chroma.stop()


def wait_until(condition, what: str, timeout: float = 20.0, log: Path | None = None):
    """Poll until `condition()` is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            pytest.fail(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.05)
