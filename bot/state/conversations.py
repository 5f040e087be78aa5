"""Conversation turns, pending templates, content gaps and course choices in Redis."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis

from bot.config import ConversationSettings
from bot.core.models import Turn
from bot.state.keys import Keyspace
from bot.state.redis_client import transaction


@dataclass
class PendingTemplate:
    """A template the bot is filling with a student, waiting for the `missing` slots."""

    template_id: str
    slots: dict[str, Any]
    missing: list[str]
    question: str
    course: str


class ConversationStore:
    """Recent turns and the pending template of each (tenant, user, thread)."""

    def __init__(self, client: redis.Redis, keys: Keyspace, settings: ConversationSettings) -> None:
        self._redis = client
        self._keys = keys
        self._settings = settings

    def load(
        self, tenant: str, user: str, thread: str
    ) -> tuple[list[Turn], PendingTemplate | None]:
        """The thread's recent turns (oldest first) and its pending template: one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.lrange(self._keys.conversation(tenant, user, thread), 0, -1)
        pipe.get(self._keys.pending(tenant, user, thread))
        turns, pending = pipe.execute()
        history = [Turn(**json.loads(item)) for item in turns]
        return history, PendingTemplate(**json.loads(pending)) if pending else None

    def append(self, tenant: str, user: str, thread: str, *turns: Turn) -> None:
        """Add turns, keep the last N, refresh the TTL: one atomic transaction."""
        key = self._keys.conversation(tenant, user, thread)
        with transaction(self._redis, key) as pipe:
            # vars, not asdict: a flat record needs no deep copy (asdict showed in the ask profile).
            pipe.rpush(key, *(json.dumps(vars(t)) for t in turns))
            pipe.ltrim(key, -self._settings.max_turns, -1)
            pipe.expire(key, self._settings.ttl_hours * 3600)
            pipe.execute()

    def set_pending(self, tenant: str, user: str, thread: str, pending: PendingTemplate) -> None:
        """Remember the template until the student supplies its slots (with a TTL)."""
        self._redis.set(
            self._keys.pending(tenant, user, thread),
            json.dumps(asdict(pending)),
            ex=self._settings.pending_ttl_hours * 3600,
        )

    def clear_pending(self, tenant: str, user: str, thread: str) -> None:
        """Forget the pending template."""
        self._redis.delete(self._keys.pending(tenant, user, thread))

    def reset(self, tenant: str, user: str, thread: str) -> None:
        """Forget the thread entirely."""
        self._redis.delete(
            self._keys.conversation(tenant, user, thread), self._keys.pending(tenant, user, thread)
        )


@dataclass(frozen=True)
class Gap:
    """An off-topic question the course does not cover."""

    question: str
    count: int
    last_asked: float


class GapLog:
    """Questions the course could not answer: what to write next."""

    MAX_QUESTION_CHARS = 300

    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self._redis = client
        self._keys = keys

    def record(self, tenant: str, question: str) -> None:
        """Count the question and mark it as asked now."""
        text = " ".join(question.split())[: self.MAX_QUESTION_CHARS].lower()
        # Both keys carry the tenant's hash tag: one slot, so one MULTI/EXEC on a cluster too.
        with transaction(self._redis, self._keys.gaps(tenant)) as pipe:
            pipe.zadd(self._keys.gaps(tenant), {text: time.time()})
            pipe.hincrby(self._keys.gap_counts(tenant), text, 1)
            pipe.execute()

    def newest(self, tenant: str, limit: int = 50) -> list[Gap]:
        """Gaps, most recently asked first."""
        entries = self._redis.zrevrange(self._keys.gaps(tenant), 0, limit - 1, withscores=True)
        if not entries:
            return []
        counts = self._redis.hmget(self._keys.gap_counts(tenant), [q for q, _ in entries])
        return [
            Gap(question, int(count or 0), when)
            for (question, when), count in zip(entries, counts, strict=True)
        ]


class CourseChoices:
    """A tenant's default course and per-channel overrides."""

    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self._redis = client
        self._keys = keys

    def for_channel(self, tenant: str, channel: str) -> str | None:
        """The channel's course, else the tenant's default, else None."""
        channel_course, default = self._redis.hmget(
            self._keys.courses(tenant), [f"channel:{channel}", "default"]
        )
        return channel_course or default

    def set(self, tenant: str, course: str, channel: str | None = None) -> None:
        """Set the tenant default (no channel) or a channel override."""
        field = f"channel:{channel}" if channel else "default"
        self._redis.hset(self._keys.courses(tenant), field, course)
