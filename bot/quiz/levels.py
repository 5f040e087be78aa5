"""Students' explanation levels in Redis: the one they chose, else one their FSRS cards suggest."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import redis
from fsrs import Card, Scheduler
from redis.exceptions import RedisError

from bot.core.errors import StateUnavailableError
from bot.core.levels import AUTO, INTERMEDIATE, LEVELS, StudentLevel, level_from_recall, parse_level
from bot.core.models import Incoming
from bot.quiz.bank import QuizBank
from bot.state.keys import Keyspace

logger = logging.getLogger(__name__)
HORIZON = timedelta(days=7)  # "would you still recall it in a week?"
UNAVAILABLE = "your level can't be changed right now (storage is unreachable); try again shortly"


class LevelService:
    """`/study level` on every face, and the level each answer is written for."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keyspace,
        banks: Callable[[str], QuizBank],
        person: Callable[[Incoming], str],  # the quiz's person, across linked accounts
        clock: Callable[[], datetime],
    ) -> None:
        self._redis = client
        self._keys = keys
        self._banks = banks
        self._person = person
        self._clock = clock
        self._scheduler = Scheduler()  # only its retrievability curve is used

    def command(self, incoming: Incoming, course: str, argument: str) -> str:
        """Show the level (no argument), choose one, or `auto` to infer it again."""
        if not argument.strip():
            return self.level_for(incoming, course, None).describe()
        level = parse_level(argument)
        try:
            profile = f"{self._keys.person(self._person(incoming))}:profile"
            if level == AUTO:
                self._redis.hdel(profile, "level")
            else:
                self._redis.hset(profile, "level", level)
        except (RedisError, StateUnavailableError) as exc:
            raise StateUnavailableError(UNAVAILABLE) from exc
        if level == AUTO:
            return (
                "Your level will follow your quiz results again. "
                + self.level_for(incoming, course, None).describe()
            )
        return f"Answers and quiz feedback are now written for the {level} level."

    def level_for(self, incoming: Incoming, course: str, concept: str | None) -> StudentLevel:
        """The chosen level, else the one the concept's cards suggest (all cards for None).

        Read-only, and AP: with Redis down the answer is written for the default level.
        """
        try:
            person = self._redis.get(
                self._keys.person_of(incoming.address.tenant_key, incoming.user)
            )
            if person is None:
                return StudentLevel(INTERMEDIATE)
            prefix = self._keys.person(str(person))
            chosen = self._redis.hget(f"{prefix}:profile", "level")
            if chosen in LEVELS:
                return StudentLevel(str(chosen), chosen=True)
            cards = self._redis.hgetall(f"{prefix}:cards")
        except RedisError:
            logger.info("levels unavailable; answering at the default level")
            return StudentLevel(INTERMEDIATE)
        items = self._banks(course).by_concept(concept)
        later = self._clock() + HORIZON
        recall = [
            self._scheduler.get_card_retrievability(Card.from_json(cards[i.id]), later)
            for i in items
            if i.id in cards
        ]
        return StudentLevel(level_from_recall(recall), cards=len(recall))
