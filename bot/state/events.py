"""Event dedupe and per-user rate limits, shared by every adapter and replica through Redis."""

# Both fail open: while Redis is unreachable a question goes ahead without them (AP). A
# platform's retry during the outage may then be answered twice; that is the trade-off.

from __future__ import annotations

import logging
from typing import Any

import redis
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from bot import metrics
from bot.state.keys import Keyspace, escape

logger = logging.getLogger(__name__)

EVENT_TTL = 3600  # Slack retries for minutes; an hour covers every retry


class EventDeduper:
    """One reply per platform event, across retries and replicas: SET NX with a TTL."""

    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self._redis = client
        self._keys = keys

    def first_time(self, tenant: str, event_id: str) -> bool | None:
        """True for the first delivery of an event id, False for a repeat, None: not checked.

        None means Redis is unreachable: answer anyway (a retry may be answered twice).
        Pushes, which must happen once, use their own lease and fail closed instead.
        """
        key = f"{self._keys.tenant(tenant)}:event:{escape(event_id)}"
        try:
            first = bool(self._redis.set(key, "1", nx=True, ex=EVENT_TTL))
        except redis.RedisError as exc:
            logger.warning("duplicate check skipped, Redis unreachable: %s", type(exc).__name__)
            metrics.UNAVAILABLE.labels("redis").inc()
            return None
        if not first:
            metrics.DUPLICATES.labels(tenant.partition(":")[0]).inc()
        return first


class UserRateLimiter:
    """A moving-window limit per user (the `limits` package, stored in Redis)."""

    def __init__(self, storage_uri: str, rate: str, prefix: str, **options: Any) -> None:
        # The URI's scheme picks limits' own storage: redis://, redis+cluster://, redis+sentinel://
        storage = storage_from_string(storage_uri, key_prefix=prefix, **options)
        self._limiter = MovingWindowRateLimiter(storage)
        self._rate: RateLimitItem = parse(rate)
        self.rate = rate

    def allow(self, tenant: str, user: str) -> bool | None:
        """Count one request; False once the user is over the limit, None: not counted.

        None means Redis is unreachable: the question goes ahead uncounted.
        """
        try:
            return self._limiter.hit(self._rate, escape(tenant), escape(user))
        except redis.RedisError as exc:
            logger.warning("rate limit skipped, Redis unreachable: %r", exc)
            return None
