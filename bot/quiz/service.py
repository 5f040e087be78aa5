"""Quiz sessions: next card, answer, rate; FSRS schedules in Redis, written atomically (CP)."""

from __future__ import annotations

import json
import logging
import random
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import redis
from fsrs import Card, Rating, Scheduler
from redis.exceptions import RedisError, WatchError

from bot import metrics
from bot.core.errors import InputError, NotFoundError, StateUnavailableError
from bot.core.models import Incoming
from bot.quiz.bank import MultipleChoice, QuickCheck, QuizBank
from bot.quiz.grading import Coverage, grade_key_points
from bot.quiz.groups import GroupService
from bot.quiz.progress import Stats, streak_length, study_day, utc_now, validate_timezone
from bot.quiz.views import AnswerResult, QuizPrompt
from bot.retrieval.embedding import Embedder
from bot.state.keys import Keyspace
from bot.state.redis_client import transaction

if TYPE_CHECKING:
    from bot.llm import LLMClient
    from bot.quiz.coaching import BeginnerCoach

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Item = MultipleChoice | QuickCheck
RATINGS = {"again": Rating.Again, "hard": Rating.Hard, "good": Rating.Good, "easy": Rating.Easy}
POINTS = {Rating.Again: 0, Rating.Hard: 1, Rating.Good: 2, Rating.Easy: 3}
PROMPT_TTL = 24 * 3600
MAX_REVIEWS_KEPT = 5000
EXPIRED = "that quiz question has expired or does not exist; ask for a new one"
UNAVAILABLE = "quizzes are unavailable right now, so nothing was changed; try again shortly"


Graded = tuple[AnswerResult, Rating | None]
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
START = datetime.min.replace(tzinfo=UTC)


class QuizService:
    """Quizzes for students: one FSRS card per (person, item)."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keyspace,
        banks: Callable[[str], QuizBank],
        embedder: Callable[[], Embedder],  # a provider: only quick checks need the model
        desired_retention: float = 0.9,
        default_timezone: str = "UTC",
        clock: Clock = utc_now,
        groups: GroupService | None = None,
        llm: LLMClient | None = None,
        coach: BeginnerCoach | None = None,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._banks = banks
        self._embedder = embedder
        self._scheduler = Scheduler(desired_retention=desired_retention, enable_fuzzing=False)
        self._default_tz = default_timezone
        self.clock = clock
        self.groups = groups
        self._llm = llm
        self._coach = coach

    # -- people ----------------------------------------------------------------

    def person(self, incoming: Incoming) -> str:
        """The person behind an account, created on first use."""
        account = f"{incoming.address.tenant_key}|{incoming.user}"
        key = self._keys.person_of(incoming.address.tenant_key, incoming.user)
        try:
            if self._redis.set(key, new := uuid.uuid4().hex, nx=True):
                self._redis.sadd(f"{self._keys.person(new)}:accounts", account)
            person = str(self._redis.get(key))
            if incoming.display_name:
                self._redis.hset(
                    f"{self._keys.person(person)}:profile", "name", incoming.display_name
                )
            return person
        except RedisError as exc:
            raise StateUnavailableError(UNAVAILABLE) from exc

    def set_reminders(self, incoming: Incoming, enabled: bool, quiet: str = "22:00-08:00") -> None:
        """Opt in (or out) of a daily reminder, sent to this account, when cards are due."""
        start, _, end = quiet.partition("-")
        if not (_CLOCK.match(start) and _CLOCK.match(end)):
            raise InputError("quiet hours look like 22:00-08:00")
        person = self.person(incoming)
        index = f"{self._keys.prefix}:{{subs}}:reminders"
        try:
            if enabled:
                address = asdict(incoming.address)
                address["channel"] = incoming.user  # a direct message to the student
                self._redis.hset(
                    f"{self._keys.person(person)}:profile",
                    mapping={"reminders": json.dumps(address), "quiet": f"{start}-{end}"},
                )
                self._redis.sadd(index, person)
            else:
                self._redis.hdel(f"{self._keys.person(person)}:profile", "reminders")
                self._redis.srem(index, person)
        except RedisError as exc:
            raise StateUnavailableError(UNAVAILABLE) from exc

    # -- one student, many accounts --------------------------------------------

    LINK_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
    LINK_TTL = 600

    def link_code(self, incoming: Incoming) -> str:
        """A one-time code that, entered from another account, merges the two."""
        person = self.person(incoming)
        code = "".join(secrets.choice(self.LINK_ALPHABET) for _ in range(6))
        try:
            self._redis.set(f"{self._keys.prefix}:{{links}}:{code}", person, ex=self.LINK_TTL)
        except RedisError as exc:
            raise StateUnavailableError(UNAVAILABLE) from exc
        return code

    def redeem_link(self, incoming: Incoming, code: str) -> str:
        """Merge this account's person into the one that issued the code; returns that person."""
        cleaned = code.strip().upper().replace("-", "")
        if not re.fullmatch(f"[{self.LINK_ALPHABET}]{{6}}", cleaned):
            raise InputError("that link code is wrong or has expired")
        try:
            target = self._redis.getdel(f"{self._keys.prefix}:{{links}}:{cleaned}")
            if target is None:
                raise InputError("that link code is wrong or has expired")
            source = self.person(incoming)
            if source != target:
                self._merge(source, target)
        except RedisError as exc:
            raise StateUnavailableError(UNAVAILABLE) from exc
        return target

    def _merge(self, source: str, target: str) -> None:
        """Move cards, history, days, points, groups and accounts from one person to another.

        The two people live on different Cluster slots, so this is not one
        transaction; every step is safe to repeat if a run is interrupted.
        """
        src, dst = self._keys.person(source), self._keys.person(target)
        for item, raw in self._redis.hgetall(f"{src}:cards").items():
            mine = self._redis.hget(f"{dst}:cards", item)
            card = Card.from_json(raw)
            if mine is None or (card.last_review or START) > (
                Card.from_json(mine).last_review or START
            ):
                self._redis.hset(f"{dst}:cards", item, raw)
                self._redis.zadd(f"{dst}:due", {item: card.due.timestamp()})
        for day, count in self._redis.hgetall(f"{src}:days").items():
            self._redis.hincrby(f"{dst}:days", day, int(count))
        reviews = self._redis.lrange(f"{src}:reviews", 0, -1)
        if reviews:
            self._redis.rpush(f"{dst}:reviews", *reviews)
        points = self._redis.hget(f"{src}:profile", "points")
        if points:
            self._redis.hincrby(f"{dst}:profile", "points", int(points))
        if self.groups:
            self.groups.move_member(source, target)
        for account in self._redis.smembers(f"{src}:accounts"):
            tenant, _, user = account.rpartition("|")
            self._redis.set(self._keys.person_of(tenant, user), target)
            self._redis.sadd(f"{dst}:accounts", account)
        for key in list(self._redis.scan_iter(match=f"{src}:*")):
            self._redis.delete(key)

    def timezone(self, person: str) -> str:
        """The student's timezone (UTC until they set one)."""
        return self._redis.hget(f"{self._keys.person(person)}:profile", "tz") or self._default_tz

    def set_timezone(self, incoming: Incoming, timezone: str) -> str:
        """Remember the student's timezone for streaks and reminders."""
        name = validate_timezone(timezone)
        self._redis.hset(f"{self._keys.person(self.person(incoming))}:profile", "tz", name)
        return name

    # -- asking ----------------------------------------------------------------

    def next_prompt(
        self,
        incoming: Incoming,
        course: str,
        concept: str | None = None,
        item_id: str | None = None,
        shuffled: bool = True,
    ) -> QuizPrompt | None:
        """The next due card (optionally of one concept), else a new item; None when caught up.

        `item_id` asks a particular item ("quiz me on this"). Options come in the
        student's own stable order; `shuffled=False` keeps the bank's order, for an
        answer to a channel quiz whose buttons carry bank positions.
        """
        bank = self._banks(course)
        if concept and concept not in bank.concepts():
            raise NotFoundError(
                f"no quiz items for {concept!r} (concepts: {', '.join(bank.concepts())})"
            )
        person = self.person(incoming)
        prefix = self._keys.person(person)
        now = self.clock()
        try:
            due_ids = self._redis.zrangebyscore(f"{prefix}:due", "-inf", now.timestamp())
            seen = set(self._redis.hkeys(f"{prefix}:cards"))
        except RedisError as exc:
            raise StateUnavailableError(UNAVAILABLE) from exc
        candidates = {i.id for i in bank.by_concept(concept)}
        due = [i for i in due_ids if i in candidates]
        if item_id:
            if item_id not in bank.items:
                raise NotFoundError(f"no quiz item {item_id[:60]!r}")
            item, is_due = bank.items[item_id], item_id in due_ids
        elif due:
            item, is_due = bank.items[due[0]], True
        else:
            fresh = [i for i in bank.by_concept(concept) if i.id not in seen]
            if not fresh:
                return None
            item, is_due = random.Random(f"{person}:{len(seen)}").choice(fresh), False
        order = []
        if isinstance(item, MultipleChoice):
            order = item.shown_order(person) if shuffled else list(range(len(item.options)))
        prompt = QuizPrompt(
            prompt_id=secrets.token_hex(6),  # hex: never starts with "-" (a CLI option)
            item_id=item.id,
            kind=item.kind,
            concept=item.concept,
            text=item.text,
            options=[item.options[i] for i in order],
            due=is_due,
        )
        record = {
            "course": course,
            "item_id": item.id,
            "state": "open",
            "issued": now.isoformat(),
            "order": order,  # what each letter meant when it was shown
        }
        try:
            self._redis.set(
                f"{prefix}:prompt:{prompt.prompt_id}", json.dumps(record), ex=PROMPT_TTL
            )
        except RedisError as exc:
            raise StateUnavailableError(UNAVAILABLE) from exc
        return prompt

    # -- answering -------------------------------------------------------------

    def answer(self, incoming: Incoming, prompt_id: str, response: str) -> AnswerResult:
        """Grade an answer; answering the same prompt twice counts once.

        Multiple choice updates the schedule at once; a quick check waits for
        the student's recall rating.
        """
        person = self.person(incoming)

        def grade(
            record: dict[str, Any], item: MultipleChoice | QuickCheck
        ) -> tuple[AnswerResult, Rating | None]:
            if record["state"] != "open":
                return AnswerResult(**record["result"]), None
            text = response.strip()
            if not text:
                raise InputError("the answer is empty")
            source = f"{item.source.path} > {item.source.section}"
            if isinstance(item, MultipleChoice):
                choice = item.chosen(text, record.get("order"))
                correct = choice == item.answer
                result = AnswerResult(
                    prompt_id, item.id, item.kind, correct, item.explanation, source,
                    model_answer=item.answer,
                )  # fmt: skip
                return result, Rating.Good if correct else Rating.Again
            coverage = self._grade(item, text[:4000])
            result = AnswerResult(
                prompt_id, item.id, item.kind, None, "", source,
                model_answer=item.model_answer, covered=coverage.covered,
                missed=coverage.missed, score=round(coverage.score, 2),
                hint=self._hint(incoming, record["course"], item, coverage.missed),
            )  # fmt: skip
            return result, None

        result = self._apply(person, prompt_id, grade, new_state="answered")
        outcome = {True: "correct", False: "wrong", None: "graded"}[result.correct]
        return _counted(result, outcome)

    def reveal(self, incoming: Incoming, prompt_id: str) -> AnswerResult:
        """Show a quick check's model answer without a written attempt; rate it next."""
        person = self.person(incoming)

        def grade(record: dict[str, Any], item: Item) -> Graded:
            if record["state"] != "open":
                return AnswerResult(**record["result"]), None
            if not isinstance(item, QuickCheck):
                raise InputError("pick one of the options instead")
            source = f"{item.source.path} > {item.source.section}"
            result = AnswerResult(
                prompt_id, item.id, item.kind, None, "", source,
                model_answer=item.model_answer, missed=list(item.key_points),
                hint=self._hint(incoming, record["course"], item, list(item.key_points)),
            )  # fmt: skip
            return result, None

        return _counted(self._apply(person, prompt_id, grade, new_state="answered"), "revealed")

    def _hint(self, incoming: Incoming, course: str, item: QuickCheck, missed: list[str]) -> str:
        return self._coach.hint(incoming, course, item, missed) if self._coach else ""

    def _grade(self, item: QuickCheck, answer: str) -> Coverage:
        """Key-point coverage by the model when one is configured, else offline."""
        if self._llm:
            from bot.llm import LLMUnavailable

            try:
                covered = self._llm.covered_key_points(
                    item.prompt, item.model_answer, item.key_points, answer
                )
                return Coverage(covered, [p for p in item.key_points if p not in covered])
            except LLMUnavailable:
                logger.info("LLM grading unavailable; grading offline")
        return grade_key_points(self._embedder(), answer, item.key_points)

    def rate(self, incoming: Incoming, prompt_id: str, rating: str) -> AnswerResult:
        """Record how well a quick check was recalled (again, hard, good, easy)."""
        chosen = RATINGS.get(rating.strip().lower())
        if chosen is None:
            raise InputError("rate your recall as again, hard, good or easy")
        person = self.person(incoming)

        def grade(
            record: dict[str, Any], item: MultipleChoice | QuickCheck
        ) -> tuple[AnswerResult, Rating | None]:
            if record["state"] == "open":
                raise InputError("answer the question before rating it")
            result = AnswerResult(**record["result"])
            if record["state"] == "rated" or result.kind != "quick-check":
                result.duplicate = True
                return result, None
            return result, chosen

        result = self._apply(person, prompt_id, grade, new_state="rated")
        return _counted(result, f"rated_{rating.strip().lower()}")

    def _apply(
        self,
        person: str,
        prompt_id: str,
        grade: Callable[
            [dict[str, Any], MultipleChoice | QuickCheck], tuple[AnswerResult, Rating | None]
        ],
        new_state: str,
    ) -> AnswerResult:
        """Grade a prompt and write everything it changes in one MULTI/EXEC.

        WATCH on the prompt and the cards makes concurrent answers retry: the
        prompt, card, due queue, review log and study day all change, or none do.
        Every key is under the person's hash tag, so on a cluster it is one slot.
        """
        prefix = self._keys.person(person)
        prompt_key = f"{prefix}:prompt:{prompt_id[:40]}"
        try:
            with transaction(self._redis, prompt_key) as pipe:
                while True:
                    try:
                        pipe.watch(prompt_key, f"{prefix}:cards")
                        raw = pipe.get(prompt_key)
                        if raw is None:
                            raise InputError(EXPIRED)
                        record = json.loads(raw)
                        bank = self._banks(record["course"])
                        item = bank.items.get(record["item_id"])
                        if item is None:
                            raise NotFoundError("that quiz item is no longer in the bank")
                        result, rating = grade(record, item)
                        if record["state"] != "open" and rating is None:
                            result.duplicate = True
                            pipe.unwatch()
                            return result
                        now = self.clock()
                        card_json = pipe.hget(f"{prefix}:cards", item.id) if rating else None
                        timezone = self.timezone(person)
                        pipe.multi()
                        if rating is not None:
                            card = Card.from_json(card_json) if card_json else Card()
                            day = study_day(now, timezone).isoformat()
                            self._schedule(pipe, prefix, item, card, rating, now, day, result)
                            state = "rated"
                        else:
                            state = new_state
                        record.update(state=state, result=asdict(result))
                        pipe.set(prompt_key, json.dumps(record), keepttl=True)
                        pipe.execute()
                        if rating is not None and self.groups:
                            # Leaderboards are AP: after the CP write, best effort.
                            self.groups.record_review(person, POINTS[rating], day)
                        return result
                    except WatchError:
                        continue  # someone answered at the same moment: re-read and decide again
        except RedisError as exc:
            raise StateUnavailableError(UNAVAILABLE) from exc

    def _schedule(
        self,
        pipe: Any,
        prefix: str,
        item: Item,
        card: Card,
        rating: Rating,
        now: datetime,
        day: str,
        result: AnswerResult,
    ) -> None:
        """Queue the FSRS update and its bookkeeping on a pipeline already in MULTI."""
        card, _ = self._scheduler.review_card(card, rating, now)
        result.rating = rating.name.lower()
        result.next_due = card.due.isoformat()
        review = {
            "item": item.id,
            "concept": item.concept,
            "rating": result.rating,
            "at": now.isoformat(),
            "day": day,
        }
        pipe.hset(f"{prefix}:cards", item.id, card.to_json())
        pipe.zadd(f"{prefix}:due", {item.id: card.due.timestamp()})
        pipe.lpush(f"{prefix}:reviews", json.dumps(review))
        pipe.ltrim(f"{prefix}:reviews", 0, MAX_REVIEWS_KEPT - 1)
        pipe.hincrby(f"{prefix}:days", day, 1)
        pipe.hincrby(f"{prefix}:profile", "points", POINTS[rating])

    # -- progress --------------------------------------------------------------

    def stats(self, incoming: Incoming, course: str) -> Stats:
        """Due count, today's reviews, streak and per-concept mastery."""
        bank = self._banks(course)
        person = self.person(incoming)
        prefix = self._keys.person(person)
        now = self.clock()
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.zcount(f"{prefix}:due", "-inf", now.timestamp())
                pipe.hgetall(f"{prefix}:cards")
                pipe.hgetall(f"{prefix}:days")
                pipe.hget(f"{prefix}:profile", "points")
                due, cards, days, points = pipe.execute()
        except RedisError as exc:
            raise StateUnavailableError(UNAVAILABLE) from exc
        timezone = self.timezone(person)
        today = study_day(now, timezone)
        mastery: dict[str, list[float]] = {c: [] for c in bank.concepts()}
        started: dict[str, int] = {}
        for item in bank.items.values():
            raw = cards.get(item.id)
            value = 0.0
            if raw:
                value = self._scheduler.get_card_retrievability(Card.from_json(raw), now)
                started[item.concept] = started.get(item.concept, 0) + 1
            mastery[item.concept].append(value)
        last_30 = [(today - timedelta(days=n)).isoformat() for n in range(29, -1, -1)]
        return Stats(
            due_now=int(due),
            reviewed_today=int(days.get(today.isoformat(), 0)),
            streak=streak_length({date.fromisoformat(d) for d in days}, today),
            mastery={c: round(sum(v) / len(v), 3) for c, v in mastery.items() if v},
            cards=len(cards),
            points=int(points or 0),
            timezone=timezone,
            reviews_by_day={d: int(days.get(d, 0)) for d in last_30},
            started=started,
        )


def _counted(result: AnswerResult, outcome: str) -> AnswerResult:
    """Count a quiz answer in the metrics (a repeat of one already counted is not)."""
    if not result.duplicate:
        metrics.QUIZ_ANSWERS.labels(result.kind, outcome).inc()
    return result
