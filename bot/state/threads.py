"""Which student a chat thread's answers belong to, so their follow-ups need no mention."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

import redis

from bot.state.keys import Keyspace, escape

logger = logging.getLogger(__name__)

THREAD_TTL = 7 * 24 * 3600
CLAIMS_HELD = 5000  # claims this process made, remembered while Redis is down


class ThreadClaims:
    """A thread's asker in Redis (shared by replicas), and in memory for Redis outages (AP).

    Claims are best effort: while Redis is down a thread this process answered still
    recognises its asker; a thread another replica answered needs a mention again.
    """

    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self._redis = client
        self._keys = keys
        self._held: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def _key(self, tenant: str, kind: str, *parts: str) -> str:
        return f"{self._keys.tenant(tenant)}:{kind}:{':'.join(escape(p) for p in parts)}"

    def claim(self, tenant: str, kind: str, *parts: str, user: str) -> None:
        """The bot answers `user` in this thread (kind: "slack-thread", "discord-thread")."""
        key = self._key(tenant, kind, *parts)
        with self._lock:
            self._held[key] = user
            self._held.move_to_end(key)
            while len(self._held) > CLAIMS_HELD:
                self._held.popitem(last=False)
        try:
            self._redis.set(key, user, ex=THREAD_TTL)
        except redis.RedisError as exc:
            logger.warning("thread claim kept in memory only: %s", type(exc).__name__)

    def asker(self, tenant: str, kind: str, *parts: str) -> str | None:
        """The student the bot answers in this thread, if any."""
        key = self._key(tenant, kind, *parts)
        try:
            return self._redis.get(key)
        except redis.RedisError:
            with self._lock:
                return self._held.get(key)
