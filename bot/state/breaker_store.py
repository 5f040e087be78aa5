"""A circuit breaker's state in Redis, so every process opens, probes and closes it together."""

from __future__ import annotations

import logging
import secrets

import redis

from bot.resilience import LocalStore

logger = logging.getLogger(__name__)


class RedisBreakerStore:
    """`opened_at` and `failures` keys, and the half-open probe as a `SET NX PX` lease.

    Only the process holding the lease probes; the others keep failing fast until the probe
    closes the breaker, re-opens it, or its lease runs out (a prober that died). When Redis
    itself is unreachable each process falls back to its own state (AP).
    """

    def __init__(self, client: redis.Redis, namespace: str, ttl_seconds: float) -> None:
        self._redis = client
        self._opened = f"{namespace}:opened_at"
        self._failures = f"{namespace}:failures"
        self._probe = f"{namespace}:probe"
        # Failures far apart are not an outage: the count forgets them after a while.
        self._ttl = max(1, int(ttl_seconds))
        self._me = secrets.token_hex(8)
        self._local = LocalStore()

    def opened_at(self) -> float | None:
        """When the breaker last opened, as every process sees it."""
        try:
            raw = self._redis.get(self._opened)
        except redis.RedisError:
            return self._local.opened_at()
        return float(raw) if raw is not None else None

    def add_failure(self) -> int:
        """INCR the shared count, with a TTL."""
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(self._failures)
                pipe.expire(self._failures, self._ttl)
                count, _ = pipe.execute()
            return int(count)
        except redis.RedisError:
            return self._local.add_failure()

    def open(self, now: float) -> None:
        """Open for everyone; the probe lease and the count are cleared."""
        self._local.open(now)
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(self._opened, repr(now))
                pipe.delete(self._failures)  # one key per command: a Cluster pipeline needs it
                pipe.delete(self._probe)
                pipe.execute()
        except redis.RedisError:
            logger.warning("breaker state not shared: Redis unreachable")

    def close(self) -> None:
        """Close for everyone."""
        self._local.close()
        try:
            self._redis.delete(self._opened, self._failures, self._probe)
        except redis.RedisError:
            logger.warning("breaker state not shared: Redis unreachable")

    def claim_probe(self, lease_seconds: float, now: float) -> bool:
        """SET NX with an expiry: one process probes at a time, even if it dies probing."""
        try:
            return bool(
                self._redis.set(self._probe, self._me, nx=True, px=int(lease_seconds * 1000))
            )
        except redis.RedisError:
            return self._local.claim_probe(lease_seconds, now)
