"""The last few request traces per student, in Redis with a TTL."""

from __future__ import annotations

import redis

from bot.core.trace import Trace
from bot.state.keys import Keyspace
from bot.state.redis_client import transaction

TRACES_KEPT = 10
TRACE_TTL = 24 * 3600  # a trace explains a recent request; a day is plenty


class TraceLog:
    """A capped list per student: newest first, trimmed and expired on every write."""

    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self._redis = client
        self._keys = keys

    def save(self, tenant: str, user: str, trace: Trace) -> None:
        """Keep a trace; raises RedisError (callers treat traces as best effort)."""
        key = self._keys.traces(tenant, user)
        with transaction(self._redis, key) as pipe:
            pipe.lpush(key, trace.to_json())
            pipe.ltrim(key, 0, TRACES_KEPT - 1)
            pipe.expire(key, TRACE_TTL)
            pipe.execute()

    def last(self, tenant: str, user: str) -> tuple[Trace, list[Trace]] | None:
        """The newest handled request and the redeliveries of it that were ignored."""
        stored = self._redis.lrange(self._keys.traces(tenant, user), 0, -1)
        traces = [Trace.from_json(raw) for raw in stored]
        handled = [t for t in traces if not t.duplicate]
        if not handled:
            return None
        # Stored when finished; the last request is the one that arrived last.
        last = max(handled, key=lambda t: t.started_at)
        return last, [t for t in traces if t.duplicate and t.request_id == last.request_id]
