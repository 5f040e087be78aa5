"""Quizzes through the core API: FSRS scheduling, grading, idempotency, CP refusal, streaks."""

import re
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.config import RedisSettings
from bot.core.errors import InputError, NotFoundError, StateUnavailableError
from bot.quiz.bank import MultipleChoice, QuickCheck
from bot.quiz.progress import streak_length, study_day
from bot.wiring import Container
from tests.conftest import COURSE, start_redis_server, student

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(app):
    clock = Clock(START)
    app.quiz.clock = clock
    return clock


def item_of(app, prompt):
    return app.catalog.quiz_bank(COURSE).items[prompt.item_id]


def right_letter(prompt, item: MultipleChoice) -> str:
    """The letter the right option has in the order this student was shown."""
    return "abcde"[prompt.options.index(item.answer)]


def wrong_letter(prompt, item: MultipleChoice) -> str:
    return "abcde"[(prompt.options.index(item.answer) + 1) % len(item.options)]


def next_kind(app, kind, concept=None, user="U1"):
    """Draw prompts until one of the wanted kind comes up (new items are drawn at random)."""
    for _ in range(30):
        prompt = app.quiz.next_prompt(student("quiz", user=user), COURSE, concept)
        if prompt.kind == kind:
            return prompt
        item = item_of(app, prompt)
        if isinstance(item, MultipleChoice):
            app.quiz.answer(student("a", user=user), prompt.prompt_id, right_letter(prompt, item))
        else:
            app.quiz.answer(student("x", user=user), prompt.prompt_id, item.model_answer)
            app.quiz.rate(student("x", user=user), prompt.prompt_id, "good")
    raise AssertionError(f"no {kind} item found")


def test_a_new_student_gets_a_quiz_answers_and_it_comes_back_due(app, clock):
    me = student("quiz me")
    prompt = app.quiz.next_prompt(me, COURSE, "cap")
    assert prompt.concept == "cap" and not prompt.due
    # Ids go on command lines and into button values: never a leading "-".
    assert re.fullmatch(r"[0-9a-f]{12}", prompt.prompt_id)
    item = item_of(app, prompt)
    if isinstance(item, MultipleChoice):
        result = app.quiz.answer(me, prompt.prompt_id, right_letter(prompt, item))
        assert result.correct is True and result.rating == "good"
    else:
        result = app.quiz.answer(me, prompt.prompt_id, item.model_answer)
        assert result.score >= 0.5 and result.rating is None
        result = app.quiz.rate(me, prompt.prompt_id, "good")
    assert item.source.section in result.source
    due_at = datetime.fromisoformat(result.next_due)
    assert due_at > START

    stats = app.quiz.stats(me, COURSE)
    assert (stats.cards, stats.due_now, stats.reviewed_today, stats.streak) == (1, 0, 1, 1)
    assert stats.mastery["cap"] > 0 and stats.weakest == ["cap"]

    clock.now = due_at + timedelta(days=1)
    again = app.quiz.next_prompt(me, COURSE, "cap")
    assert again.item_id == prompt.item_id and again.due
    assert app.quiz.stats(me, COURSE).due_now == 1


def test_fsrs_intervals_grow_with_good_ratings_and_reset_on_again(app, clock):
    me = student("q", user="fsrs")
    bank = app.catalog.quiz_bank(COURSE)
    item = next(i for i in bank.by_concept("consensus") if isinstance(i, MultipleChoice))
    prompt = app.quiz.next_prompt(me, COURSE, item_id=item.id)
    intervals = []
    for _ in range(4):
        result = app.quiz.answer(me, prompt.prompt_id, right_letter(prompt, item))
        due = datetime.fromisoformat(result.next_due)
        intervals.append(due - clock.now)
        clock.now = due + timedelta(minutes=1)
        prompt = app.quiz.next_prompt(me, COURSE, "consensus")
        assert prompt.item_id == item.id and prompt.due
    assert intervals == sorted(intervals) and intervals[-1] > timedelta(days=2)
    lapse = app.quiz.answer(me, prompt.prompt_id, wrong_letter(prompt, item))
    assert lapse.correct is False and lapse.rating == "again"
    assert datetime.fromisoformat(lapse.next_due) - clock.now < timedelta(hours=1)


def test_multiple_choice_accepts_letter_number_or_text_and_refuses_other_options(app, clock):
    me = student("q")
    prompt = next_kind(app, "multiple-choice")
    item = item_of(app, prompt)
    with pytest.raises(InputError, match="pick one of the options: a, b"):
        app.quiz.answer(me, prompt.prompt_id, "z")
    number = str(prompt.options.index(item.answer) + 1)
    assert app.quiz.answer(me, prompt.prompt_id, number).correct is True
    other = next_kind(app, "multiple-choice")
    text = item_of(app, other).answer.upper()
    assert app.quiz.answer(me, other.prompt_id, text).correct is True


def test_quick_check_is_graded_by_key_points_then_rated(app, clock):
    me = student("q")
    prompt = next_kind(app, "quick-check")
    item: QuickCheck = item_of(app, prompt)
    with pytest.raises(InputError, match="answer the question before rating"):
        app.quiz.rate(me, prompt.prompt_id, "good")
    weak = app.quiz.answer(me, prompt.prompt_id, "I am not sure, something about computers.")
    assert weak.score < 0.5 and weak.missed and weak.model_answer == item.model_answer
    with pytest.raises(InputError, match="again, hard, good or easy"):
        app.quiz.rate(me, prompt.prompt_id, "brilliant")
    before = app.quiz.stats(me, COURSE).reviewed_today
    rated = app.quiz.rate(me, prompt.prompt_id, "again")
    assert rated.rating == "again"
    assert app.quiz.rate(me, prompt.prompt_id, "easy").duplicate  # counts once
    assert app.quiz.stats(me, COURSE).reviewed_today == before + 1

    strong_prompt = next_kind(app, "quick-check")
    strong_item = item_of(app, strong_prompt)
    strong = app.quiz.answer(me, strong_prompt.prompt_id, " ".join(strong_item.key_points))
    assert strong.score == 1.0


def test_answering_the_same_prompt_twice_counts_once(app, clock):
    me = student("q")
    prompt = next_kind(app, "multiple-choice")
    item = item_of(app, prompt)
    before = app.quiz.stats(me, COURSE).reviewed_today
    results = []

    def answer():
        results.append(app.quiz.answer(me, prompt.prompt_id, right_letter(prompt, item)))

    threads = [threading.Thread(target=answer) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(not r.duplicate for r in results) == 1
    assert app.quiz.stats(me, COURSE).reviewed_today == before + 1


def test_bad_quiz_input_is_refused_without_changing_state(app, clock):
    me = student("q")
    with pytest.raises(InputError, match="expired or does not exist"):
        app.quiz.answer(me, "nope", "a")
    with pytest.raises(NotFoundError, match="no quiz items for 'underwater'"):
        app.quiz.next_prompt(me, COURSE, "underwater")
    prompt = next_kind(app, "multiple-choice")
    cards = app.quiz.stats(me, COURSE).cards
    with pytest.raises(InputError, match="empty"):
        app.quiz.answer(me, prompt.prompt_id, "  ")
    # Prompts live 24 hours in Redis (a TTL); an expired one is simply gone.
    app.redis.delete(f"{app.keys.person(app.quiz.person(me))}:prompt:{prompt.prompt_id}")
    with pytest.raises(InputError, match="expired"):
        app.quiz.answer(me, prompt.prompt_id, "a")
    assert app.quiz.stats(me, COURSE).cards == cards


def test_quiz_writes_are_refused_when_redis_stops_mid_quiz(
    make_settings, indexed_data_dir, tmp_path
):
    process, port = start_redis_server(tmp_path / "r")
    container = Container(
        make_settings(
            data_dir=indexed_data_dir,
            redis=RedisSettings(url=f"redis://127.0.0.1:{port}/0", key_prefix="cp"),
        )
    )
    me = student("q")
    prompt = container.quiz.next_prompt(me, COURSE)
    item = item_of(container, prompt)
    process.kill()
    process.wait()
    answer = right_letter(prompt, item) if isinstance(item, MultipleChoice) else item.model_answer
    with pytest.raises(StateUnavailableError, match="nothing was changed"):
        container.quiz.answer(me, prompt.prompt_id, answer)
    # The same Redis comes back (same port): the prompt is still open, nothing half-applied.
    process, _ = start_redis_server(tmp_path / "r", port=port)
    time.sleep(container.settings.redis.breaker_reset_seconds)  # the breaker's rest
    try:
        with pytest.raises(InputError, match="expired"):  # --save "": the prompt died with it
            container.quiz.answer(me, prompt.prompt_id, answer)
        assert container.quiz.stats(me, COURSE).cards == 0
    finally:
        process.kill()


def test_study_day_has_a_4am_boundary_and_survives_dst():
    tz = "America/New_York"
    # 2026-03-08: clocks jump from 02:00 to 03:00 in New York.
    assert study_day(datetime(2026, 3, 8, 8, 30, tzinfo=UTC), tz) == date(
        2026, 3, 8
    )  # 04:30 EDT? no: 03:30 EST->EDT
    assert study_day(datetime(2026, 3, 8, 7, 59, tzinfo=UTC), tz) == date(2026, 3, 7)  # 03:59 EDT
    assert study_day(datetime(2026, 3, 8, 8, 1, tzinfo=UTC), tz) == date(2026, 3, 8)  # 04:01 EDT
    # 2026-11-01: clocks fall back from 02:00 to 01:00.
    assert study_day(datetime(2026, 11, 1, 8, 59, tzinfo=UTC), tz) == date(
        2026, 10, 31
    )  # 03:59 EST
    assert study_day(datetime(2026, 11, 1, 9, 1, tzinfo=UTC), tz) == date(2026, 11, 1)  # 04:01 EST
    assert study_day(datetime(2026, 6, 1, 2, 0, tzinfo=UTC), "Asia/Tokyo") == date(2026, 6, 1)


def test_streak_counts_consecutive_days_and_survives_until_today_is_missed():
    days = {date(2026, 3, d) for d in (5, 6, 7, 8)}
    assert streak_length(days, date(2026, 3, 8)) == 4
    assert streak_length(days, date(2026, 3, 9)) == 4  # not studied yet today
    assert streak_length(days, date(2026, 3, 10)) == 0


def test_streak_across_a_dst_change_in_the_students_timezone(app, clock):
    me = student("q", user="dst")
    app.quiz.set_timezone(me, "America/New_York")
    # One review a day at 23:30 local time, across the March DST change.
    for day in range(5, 11):
        local_2330 = datetime(2026, 3, day, 23, 30)
        offset = 5 if day < 8 else 4
        clock.now = (local_2330 + timedelta(hours=offset)).replace(tzinfo=UTC)
        prompt = app.quiz.next_prompt(me, COURSE)
        item = item_of(app, prompt)
        if isinstance(item, MultipleChoice):
            app.quiz.answer(me, prompt.prompt_id, right_letter(prompt, item))
        else:
            app.quiz.answer(me, prompt.prompt_id, item.model_answer)
            app.quiz.rate(me, prompt.prompt_id, "good")
    assert app.quiz.stats(me, COURSE).streak == 6
    with pytest.raises(InputError, match="unknown timezone"):
        app.quiz.set_timezone(me, "Mars/Olympus")


def test_options_come_in_each_students_own_stable_order_and_the_key_sits_anywhere(app, clock):
    """1,000 deliveries put the key in each of four places within 5 points of a quarter."""
    bank = app.catalog.quiz_bank(COURSE)
    items = [i for i in bank.items.values() if isinstance(i, MultipleChoice)]
    items = [i for i in items if len(i.options) == 4]
    places = Counter()
    for n in range(1000):
        item = items[n % len(items)]
        prompt = app.quiz.next_prompt(student("q", user=f"S{n}"), COURSE, item_id=item.id)
        places[prompt.options.index(item.answer)] += 1
    assert sorted(places) == [0, 1, 2, 3]
    assert all(abs(count / 1000 - 0.25) <= 0.05 for count in places.values()), places

    me = student("q", user="U7")
    first = app.quiz.next_prompt(me, COURSE, item_id=items[0].id)
    other_replica = Container(app.settings)
    again = other_replica.quiz.next_prompt(me, COURSE, item_id=items[0].id)
    assert again.options == first.options  # a re-render or another replica: same letters
    assert sorted(first.options) == sorted(items[0].options)
    letter = right_letter(first, items[0])
    assert other_replica.quiz.answer(me, first.prompt_id, letter).correct is True
