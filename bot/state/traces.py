"""The last few request traces per student, in Redis with a TTL (held here while it is down)."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque

import redis

from bot.core.trace import Trace
from bot.state.keys import Keyspace
from bot.state.redis_client import transaction

TRACES_KEPT = 10
TRACE_TTL = 24 * 3600  # a trace explains a recent request; a day is plenty
STUDENTS_HELD = 1000  # traces held in memory while Redis is down: this many students at most


class TraceLog:
    """A capped list per student: newest first, trimmed and expired on every write.

    A trace that cannot be written (Redis down) is held in this process's memory, so
    `/study trace` can still say what failed; reads merge the two.
    """

    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self._redis = client
        self._keys = keys
        self._held: OrderedDict[str, deque[Trace]] = OrderedDict()
        self._lock = threading.Lock()

    def save(self, tenant: str, user: str, trace: Trace) -> None:
        """Keep a trace; raises RedisError after holding it here (traces are best effort)."""
        key = self._keys.traces(tenant, user)
        try:
            with transaction(self._redis, key) as pipe:
                pipe.lpush(key, trace.to_json())
                pipe.ltrim(key, 0, TRACES_KEPT - 1)
                pipe.expire(key, TRACE_TTL)
                pipe.execute()
        except redis.RedisError:
            with self._lock:
                self._held.setdefault(key, deque(maxlen=TRACES_KEPT)).appendleft(trace)
                self._held.move_to_end(key)
                while len(self._held) > STUDENTS_HELD:
                    self._held.popitem(last=False)
            raise

    def last(self, tenant: str, user: str) -> tuple[Trace, list[Trace]] | None:
        """The newest handled request and the redeliveries of it that were ignored.

        Raises RedisError only when Redis is down and nothing is held here either.
        """
        key = self._keys.traces(tenant, user)
        with self._lock:
            held = list(self._held.get(key, ()))
        try:
            stored = self._redis.lrange(key, 0, -1)
        except redis.RedisError:
            if not held:
                raise
            stored = []
        traces = [Trace.from_json(raw) for raw in stored] + held
        handled = [t for t in traces if not t.duplicate]
        if not handled:
            return None
        # Stored when finished; the last request is the one that arrived last.
        last = max(handled, key=lambda t: t.started_at)
        return last, [t for t in traces if t.duplicate and t.request_id == last.request_id]
