"""Helpful / not helpful ratings of answers, kept with the answer so staff can act on them."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import redis

from bot.state.keys import Keyspace, escape

ANSWER_TTL = 30 * 24 * 3600


@dataclass
class AnswerRecord:
    """What was asked and answered, saved when the answer is sent."""

    answer_id: str
    tenant: str
    question: str
    answer: str
    concept: str | None
    sources: list[str] = field(default_factory=list)  # "path > section"
    followups: list[str] = field(default_factory=list)


@dataclass
class Rated:
    """An answer with one student's verdict."""

    record: AnswerRecord
    user: str
    helpful: bool
    reason: str
    at: float


class FeedbackStore:
    """Answers by id (with a TTL) and each user's latest rating of them (last click wins)."""

    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self._redis = client
        self._keys = keys

    def _answers(self, tenant: str) -> str:
        return f"{self._keys.tenant(tenant)}:answers"

    def _ratings(self, tenant: str) -> str:
        return f"{self._keys.tenant(tenant)}:feedback"

    def save_answer(self, record: AnswerRecord) -> None:
        """Keep the answer so a later click can refer to it."""
        key = f"{self._answers(record.tenant)}:{escape(record.answer_id)}"
        pipe = self._redis.pipeline(transaction=False)  # one round trip on the ask path
        pipe.set(key, json.dumps(asdict(record)), ex=ANSWER_TTL)
        pipe.sadd(f"{self._keys.prefix}:{{feedback}}:tenants", record.tenant)
        pipe.execute()

    def answer(self, tenant: str, answer_id: str) -> AnswerRecord | None:
        """A saved answer, if it has not expired."""
        raw = self._redis.get(f"{self._answers(tenant)}:{escape(answer_id)}")
        return AnswerRecord(**json.loads(raw)) if raw else None

    def rate(self, tenant: str, answer_id: str, user: str, helpful: bool, reason: str = "") -> bool:
        """Record a verdict; False if the answer is unknown or expired."""
        if not self._redis.exists(f"{self._answers(tenant)}:{escape(answer_id)}"):
            return False
        verdict = {"helpful": helpful, "reason": reason[:1000], "at": time.time()}
        self._redis.hset(self._ratings(tenant), f"{answer_id}|{user}", json.dumps(verdict))
        return True

    def rated(self, not_helpful_only: bool = False) -> list[Rated]:
        """Every rated answer still on record, newest first."""
        found = []
        for tenant in self._redis.smembers(f"{self._keys.prefix}:{{feedback}}:tenants"):
            for field_name, raw in self._redis.hgetall(self._ratings(tenant)).items():
                answer_id, _, user = field_name.rpartition("|")
                verdict = json.loads(raw)
                if not_helpful_only and verdict["helpful"]:
                    continue
                stored = self._redis.get(f"{self._answers(tenant)}:{escape(answer_id)}")
                if stored:
                    record = AnswerRecord(**json.loads(stored))
                    found.append(
                        Rated(record, user, verdict["helpful"], verdict["reason"], verdict["at"])
                    )
        return sorted(found, key=lambda r: r.at, reverse=True)
