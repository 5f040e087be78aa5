"""The fault matrix, console face: Redis, Chroma and the model, down at start, between, mid-request.

The terminal chat runs in-process on a real redis-server and a real `chroma run`, which the
tests kill (SIGKILL) or hang (SIGSTOP, then SIGKILL while a question is in flight).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable

import pytest
from rich.console import Console

from bot.adapters.console import ConsoleChat
from bot.core.assistant import HISTORY_UNAVAILABLE
from bot.core.errors import INDEX_UNAVAILABLE
from bot.quiz.service import UNAVAILABLE
from bot.wiring import Container
from tests.conftest import API_KEY

pytestmark = pytest.mark.slow

QUESTION = "why add randomness to retry delays"
ANSWERED = "jitter"  # the extractive answer to QUESTION mentions it


class Session:
    """A terminal chat fed a script: lines to type, and actions (kills) between them."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.out = io.StringIO()
        console = Console(file=self.out, width=200, force_terminal=False)
        self.replies: list[str] = []
        self._steps: list[str | Callable[[], None]] = []
        self._mark = 0
        self.chat = ConsoleChat(
            container.assistant, console, "ana", read=self._read, quiz=container.quiz
        )

    def _read(self, prompt: str) -> str:
        text = self.out.getvalue()
        if self._mark:
            self.replies.append(text[self._mark :])
        while self._steps:
            step = self._steps.pop(0)
            if callable(step):
                step()
                continue
            self._mark = len(self.out.getvalue()) or 1
            return step
        raise EOFError

    def run(self, *steps: str | Callable[[], None]) -> list[str]:
        """Type the lines (running the actions in between); the reply to each line."""
        self.replies, self._steps, self._mark = [], list(steps), 0
        self.chat.run()
        return [" ".join(reply.split()) for reply in self.replies]


def later(seconds: float, action: Callable[[], None]) -> Callable[[], None]:
    """An action that runs `action` after a delay, while the next line is being handled."""

    def start() -> None:
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        timer.start()

    return start


def quiz_keys(deps) -> list[str]:
    return [k for k in deps.redis.client().scan_iter(f"{deps.prefix}:*") if ":person:" in k]


# -- Redis ------------------------------------------------------------------------------


def test_redis_down_at_start_answers_without_history_and_refuses_quiz_writes(deps):
    deps.redis.kill()
    session = Session(Container(deps.settings()))
    answer, quiz, trace = session.run(QUESTION, "/quiz", "/trace")
    assert ANSWERED in answer.lower() and HISTORY_UNAVAILABLE in answer
    assert UNAVAILABLE in quiz
    assert "Redis: unreachable" in trace  # held in memory while Redis is down

    deps.redis.start()
    time.sleep(1.1)  # the breaker's rest: then one call finds Redis back, no restart
    [answer] = session.run(QUESTION)
    assert ANSWERED in answer.lower() and HISTORY_UNAVAILABLE not in answer


def test_redis_dying_between_questions_costs_no_answer_and_half_writes_nothing(deps):
    session = Session(Container(deps.settings()))
    first, question = session.run(QUESTION, "/quiz")
    assert "question" in question.lower()
    assert HISTORY_UNAVAILABLE not in first
    before = {k: deps.redis.client().type(k) for k in quiz_keys(deps)}
    deps.redis.kill()
    [reply] = session.run("a")  # the answer to the quiz question
    assert UNAVAILABLE in reply
    started = time.monotonic()
    [answer] = Session(session.container).run(QUESTION)
    took = time.monotonic() - started
    assert ANSWERED in answer.lower() and HISTORY_UNAVAILABLE in answer
    assert took < 3, took  # one timeout for the outage, not one per Redis call
    deps.redis.start()
    # The restarted server has only what it kept: the quiz prompt, no half-applied answer.
    assert {k: deps.redis.client().type(k) for k in quiz_keys(deps)}.keys() <= before.keys()


def test_redis_hanging_then_dying_mid_question_still_answers(deps):
    session = Session(Container(deps.settings()))
    session.run(QUESTION)
    deps.redis.pause()
    [answer] = session.run(later(0.2, deps.redis.kill), QUESTION)
    assert ANSWERED in answer.lower() and HISTORY_UNAVAILABLE in answer


# -- Chroma -----------------------------------------------------------------------------


def test_chroma_down_at_start_says_the_index_is_unreachable_then_recovers(deps):
    deps.chroma.kill()
    session = Session(Container(deps.settings()))
    answer, trace = session.run(QUESTION, "/trace")
    assert INDEX_UNAVAILABLE in answer
    assert "course index (Chroma) was unreachable" in trace
    deps.chroma.start()
    time.sleep(1.1)  # the breaker's rest
    [answer] = session.run(QUESTION)
    assert ANSWERED in answer.lower()


def test_chroma_dying_between_questions_costs_one_timeout_not_one_per_question(deps):
    session = Session(Container(deps.settings()))
    [answer] = session.run(QUESTION)
    assert ANSWERED in answer.lower()
    deps.chroma.pause()  # hung: every request would wait for its whole timeout
    started = time.monotonic()
    first, second, third = session.run(QUESTION, QUESTION, QUESTION)
    took = time.monotonic() - started
    assert all(INDEX_UNAVAILABLE in reply for reply in (first, second, third))
    assert took < 2 * 2, took  # one 2 s timeout, then the open breaker answers at once
    deps.chroma.kill()


def test_chroma_hanging_then_dying_mid_question_says_the_index_is_unreachable(deps):
    session = Session(Container(deps.settings()))
    session.run(QUESTION)
    deps.chroma.pause()
    [answer] = session.run(later(0.3, deps.chroma.kill), "what is a quorum")
    assert INDEX_UNAVAILABLE in answer


# -- the language model -----------------------------------------------------------------


@pytest.fixture
def llm_session(deps, stub, monkeypatch):
    from bot.config import LLMSettings

    def make(**options: object) -> Session:
        settings = deps.settings(
            llm_model="openai:gpt-test",
            llm_options=LLMSettings(**{"timeout_seconds": 2, "retries": 0, **options}),  # type: ignore[arg-type]
        )
        return Session(Container(settings))

    return make


def test_model_down_at_start_answers_from_the_notes(llm_session, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    [answer] = llm_session().run(QUESTION)
    assert ANSWERED in answer.lower() and "could not be reached" in answer


def test_model_failing_between_questions_answers_from_the_notes(llm_session, stub):
    session = llm_session()
    [first] = session.run(QUESTION)
    assert first.startswith("Jitter spreads retries out")
    stub.default = {"status": 503}
    [second] = session.run(QUESTION)
    assert ANSWERED in second.lower() and "error (503)" in second


def test_model_dying_mid_answer_answers_from_the_notes(llm_session, stub):
    stub.default = {"sleep": 0.3, "drop": True}
    [answer] = llm_session().run(QUESTION)
    assert ANSWERED in answer.lower() and "Answered straight from the course notes" in answer


# -- the CLI ----------------------------------------------------------------------------


def test_cli_ask_with_chroma_down_exits_1_and_trace_names_chroma(deps, monkeypatch, capsys):
    from tests.conftest import call

    for name, value in deps.env().items():
        if name.startswith(("STUDYBOT_", "REDIS_", "CHROMA_")):
            monkeypatch.setenv(name, value)
    deps.chroma.kill()
    code, _, err = call(capsys, "ask", QUESTION, "--user", "ana")
    assert code == 1 and "course index is unreachable" in err  # not the user's mistake: 1
    code, out, _ = call(capsys, "trace", "--user", "ana")
    assert code == 0 and "course index (Chroma) was unreachable" in out
