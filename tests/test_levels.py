"""Explanation levels: chosen or inferred from quiz recall, and answers written for each."""

import io

import pytest
from rich.console import Console

from bot.adapters.console import ConsoleChat
from bot.core.errors import InputError
from bot.quiz.bank import MultipleChoice
from tests.conftest import COURSE, call, student

QUESTION = "what is linearizability and when do I need it"


def test_the_same_question_is_answered_for_a_beginner_and_for_an_expert(app):
    ada, bo = student(QUESTION, user="ada"), student(QUESTION, user="bo")
    app.levels.command(ada, COURSE, "beginner")
    app.levels.command(bo, COURSE, "Advanced")
    beginner, expert = app.assistant.ask(ada).body, app.assistant.ask(bo).body
    middle = app.assistant.ask(student(QUESTION, user="cy")).body  # nothing known: the default
    assert beginner.startswith("*In short:* ") and "In depth" not in beginner
    assert "*In depth:* " in expert and "In short" not in expert
    assert "In short" not in middle and "In depth" not in middle
    assert len(beginner.split()) <= 150 and beginner != middle != expert


def test_a_level_is_inferred_from_the_concepts_quiz_cards_until_one_is_chosen(app):
    me = student("quiz", user="dee")
    assert app.levels.level_for(me, COURSE, "consistency").level == "intermediate"
    wrong = [
        i for i in app.catalog.quiz_bank(COURSE).by_concept("consistency")
        if isinstance(i, MultipleChoice)
    ][:2]  # fmt: skip
    for item in wrong:
        prompt = app.quiz.next_prompt(me, COURSE, item_id=item.id)
        right = prompt.options.index(item.answer)
        app.quiz.answer(me, prompt.prompt_id, "abcde"[(right + 1) % len(prompt.options)])
    inferred = app.levels.level_for(me, COURSE, "consistency")
    assert (inferred.level, inferred.chosen, inferred.cards) == ("beginner", False, 2)
    assert "inferred from 2 reviewed quiz cards" in inferred.describe("consistency")
    assert app.levels.level_for(me, COURSE, "cap").level == "intermediate"  # no evidence there

    app.levels.command(me, COURSE, "advanced")
    assert app.levels.level_for(me, COURSE, "consistency").chosen is True
    assert "follow your quiz results again" in app.levels.command(me, COURSE, "auto")
    assert app.levels.level_for(me, COURSE, "consistency").level == "beginner"


def test_an_unknown_level_is_refused_with_the_valid_ones(app, cli_redis_env, capsys):
    with pytest.raises(InputError, match="choose beginner, intermediate, advanced or auto"):
        app.levels.command(student("level"), COURSE, "expert")
    code, _, err = call(capsys, "level", "expert", "--user", "eve")
    assert code == 2 and "unknown level 'expert'" in err
    assert call(capsys, "level", "beginner", "--user", "eve")[0] == 0
    code, out, _ = call(capsys, "level", "--user", "eve")
    assert code == 0 and "Your level: beginner (you chose it" in out


def typed(*lines):
    """A console's input: these lines, then end of input."""
    pending = list(lines)

    def read(_prompt: str) -> str:
        if not pending:
            raise EOFError
        return pending.pop(0)

    return read


def test_the_console_shows_and_sets_the_level(app):
    buffer = io.StringIO()
    chat = ConsoleChat(
        app.assistant,
        Console(file=buffer, width=200),
        "fay",
        read=typed("/level advanced", "/level", "/level sideways"),
        quiz=app.quiz,
        commands=app.commands,
    )
    chat.run()
    text = " ".join(buffer.getvalue().split())
    assert "now written for the advanced level" in text
    assert "Your level: advanced (you chose it" in text
    assert "unknown level 'sideways'" in text


def test_quick_check_feedback_goes_deeper_for_a_beginner(app):
    item = next(i for i in app.catalog.quiz_bank(COURSE).items.values() if i.kind == "quick-check")
    results = {}
    for name, level in (("gus", "beginner"), ("hal", "intermediate")):
        me = student("quiz", user=name)
        app.levels.command(me, COURSE, level)
        prompt = app.quiz.next_prompt(me, COURSE, item_id=item.id)
        results[level] = app.quiz.answer(me, prompt.prompt_id, "no idea, sorry")
    deeper, plain = results["beginner"], results["intermediate"]
    assert plain.hint == "" and deeper.missed == plain.missed == item.key_points
    first, *per_point = deeper.hint.splitlines()
    assert first.startswith("In plain words: ") and len(first.split()) >= 10
    assert [line.split(": ", 1)[0] for line in per_point] == [f"- {p}" for p in item.key_points]
