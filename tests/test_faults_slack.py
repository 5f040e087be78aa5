"""The fault matrix, Slack HTTP face: every placeholder resolved, whatever dies and whenever.

Real bolt over signed HTTP on loopback, the Web API stand-in, and a real redis-server and
`chroma run` that the tests kill (SIGKILL) or hang (SIGSTOP, then SIGKILL mid-question).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest
from aiohttp import web

from bot.config import REPO_ROOT, SlackSettings
from bot.core.assistant import HISTORY_UNAVAILABLE
from bot.core.errors import INDEX_UNAVAILABLE
from bot.quiz.service import UNAVAILABLE
from bot.standins.slack_api import SlackAPIStub
from bot.wiring import Container
from tests.conftest import API_KEY, free_port
from tests.faults import wait_until
from tests.test_slack import SECRET, TOKEN, SlackHarness, blocks_of, mention

pytestmark = pytest.mark.slow

QUESTION = "why add randomness to retry delays"


def answers(api: SlackAPIStub) -> list[str]:
    """What each chat.update put in place of a placeholder, as text."""
    return [
        json.dumps(blocks_of(u)) if u.get("blocks") else u["text"] for u in api.of("chat.update")
    ]


def ephemerals(api: SlackAPIStub) -> list[str]:
    return [params["text"] for params in api.of("chat.postEphemeral")]


class Bot:
    """The Slack app in this process over `deps`, and helpers to say things to it."""

    def __init__(self, deps, **settings: object) -> None:
        self.api = SlackAPIStub().start()
        slack = SlackSettings(bot_token=TOKEN, signing_secret=SECRET, api_url=self.api.base_url)
        self.container = Container(deps.settings(slack=slack, rate_limit="100/minute", **settings))
        self.harness = SlackHarness(self.container, self.api)
        self._events = 0

    def mention(self, text: str = QUESTION, event_id: str | None = None, **headers: str) -> str:
        """Mention the bot; wait for its placeholder to be resolved; return what it says."""
        self._events += 1
        before = len(self.api.of("chat.update"))
        ts = f"{100 + self._events}.1"
        status, _ = self.harness.event(
            mention(text, ts=ts),
            event_id=event_id or f"Ev{id(self)}-{self._events}",
            headers=headers,
        )
        assert status == 200  # acked, whatever happens next
        self.api.wait_for("chat.update", before + 1)
        return answers(self.api)[before]

    def command(self, text: str) -> str:
        """A /study command; the private reply."""
        before = len(ephemerals(self.api))
        assert self.harness.command(text)[0] == 200
        self.api.wait_for("chat.postEphemeral", before + 1)
        return ephemerals(self.api)[before]

    def trace(self) -> str:
        """`/study trace` once the last request's trace is kept (just after its reply)."""
        deadline = time.monotonic() + 10
        while (told := self.command("trace")).startswith("No recent request"):
            assert time.monotonic() < deadline, told
            time.sleep(0.2)
        return told

    def stop(self) -> None:
        self.harness.stop()
        self.api.stop()


@pytest.fixture
def bot(deps):
    made: list[Bot] = []

    def make(**settings: object) -> Bot:
        made.append(Bot(deps, **settings))
        return made[-1]

    yield make
    for one in made:
        one.stop()


def placeholders_resolved(api: SlackAPIStub) -> None:
    """Every "Thinking…" the bot posted was replaced: no silence."""
    assert len(api.of("chat.update")) == len(api.of("chat.postMessage"))


# -- Redis ------------------------------------------------------------------------------


def test_redis_down_at_start_answers_without_history_and_refuses_quiz_writes(deps, bot):
    deps.redis.kill()
    slack = bot()
    answer = slack.mention()
    assert "Jitter" in answer and HISTORY_UNAVAILABLE in answer
    quiz = slack.command("quiz")
    assert "unavailable" in quiz and "nothing was changed" in quiz
    trace = slack.trace()
    assert "Duplicate check and rate limit: skipped" in trace and "Redis: unreachable" in trace
    placeholders_resolved(slack.api)

    deps.redis.start()
    time.sleep(1.2)  # the breaker's rest; then one call finds Redis back, with no restart
    assert HISTORY_UNAVAILABLE not in slack.mention()


def test_redis_dying_between_requests_answers_and_a_retry_may_answer_twice(deps, bot):
    slack = bot()
    assert HISTORY_UNAVAILABLE not in slack.mention(event_id="EvA")
    deps.redis.kill()
    started = time.monotonic()
    answer = slack.mention(event_id="EvB")
    assert "Jitter" in answer and HISTORY_UNAVAILABLE in answer
    assert time.monotonic() - started < 3  # one Redis timeout, not one per key
    # AP, written down in the README: with no dedupe, Slack's retry is answered again.
    again = slack.mention(event_id="EvB", **{"X-Slack-Retry-Num": "1"})
    assert HISTORY_UNAVAILABLE in again
    placeholders_resolved(slack.api)


def test_redis_hanging_then_dying_mid_request_still_answers(deps, bot):
    slack = bot()
    slack.mention()
    deps.redis.pause()
    threading.Timer(0.2, deps.redis.kill).start()
    answer = slack.mention()
    assert "Jitter" in answer and HISTORY_UNAVAILABLE in answer
    placeholders_resolved(slack.api)


def _answer_button(posted: dict) -> dict:
    """An option (multiple choice) or Reveal (a quick check): either answers the card."""
    return next(
        e
        for b in blocks_of(posted)
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith("quiz_answer_") or e["action_id"] == "quiz_reveal"
    )


def test_quiz_answers_during_an_outage_are_refused_and_never_half_applied(deps, bot):
    slack = bot()
    slack.command("quiz")
    [question] = [p for p in slack.api.of("chat.postEphemeral") if p.get("blocks")]
    button = _answer_button(question)
    keys_before = set(deps.redis.client().scan_iter(f"{deps.prefix}:*"))
    deps.redis.kill()
    before = len(ephemerals(slack.api))
    assert slack.harness.action(button["action_id"], button["value"])[0] == 200
    slack.api.wait_for("chat.postEphemeral", before + 1)
    assert UNAVAILABLE in ephemerals(slack.api)[before]
    deps.redis.start()
    assert set(deps.redis.client().scan_iter(f"{deps.prefix}:*")) <= keys_before


# -- Chroma -----------------------------------------------------------------------------


def test_chroma_down_at_start_resolves_the_placeholder_then_recovers(deps, bot):
    deps.chroma.kill()
    slack = bot()
    assert INDEX_UNAVAILABLE in slack.mention()
    assert "course index (Chroma) was unreachable" in slack.trace()
    deps.chroma.start()
    time.sleep(1.2)
    assert "Jitter" in slack.mention()
    placeholders_resolved(slack.api)


def test_chroma_hung_between_requests_costs_one_timeout(deps, bot):
    slack = bot()
    assert "Jitter" in slack.mention()
    deps.chroma.pause()
    started = time.monotonic()
    replies = [slack.mention() for _ in range(3)]
    assert all(INDEX_UNAVAILABLE in reply for reply in replies)
    assert time.monotonic() - started < 2 * 2 + 1  # one 2 s timeout, then the breaker
    placeholders_resolved(slack.api)


def test_chroma_hanging_then_dying_mid_request_resolves_the_placeholder(deps, bot):
    slack = bot()
    slack.mention()
    deps.chroma.pause()
    threading.Timer(0.3, deps.chroma.kill).start()
    assert INDEX_UNAVAILABLE in slack.mention("what is a quorum")
    placeholders_resolved(slack.api)


# -- the language model -----------------------------------------------------------------


def test_the_model_down_failing_or_dying_mid_answer_falls_back_to_the_notes(
    deps, bot, stub, monkeypatch
):
    from bot.config import LLMSettings

    options = LLMSettings(timeout_seconds=2, retries=0, breaker_failures=100)
    slack = bot(llm_model="openai:gpt-test", llm_options=options)
    stub.default = {"status": 503}  # failing between requests
    assert "error (503)" in slack.mention() and "Answered straight from" in slack.mention()
    stub.default = {"sleep": 0.3, "drop": True}  # dies mid-request
    assert "Answered straight from the course notes" in slack.mention()
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # down at start
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    cold = bot(llm_model="openai:gpt-test", llm_options=options)
    assert "could not be reached" in cold.mention()


# -- the Web API ------------------------------------------------------------------------


def test_web_api_errors_are_retried_and_the_answer_lands(deps, bot):
    slack = bot()

    def failure() -> web.Response:
        return web.json_response({"ok": False, "error": "internal_error"}, status=500)

    slack.api.failures["chat.postMessage"].append(failure())  # between requests: placeholder
    slack.api.failures["chat.update"].extend([failure(), failure()])  # mid-request: answer
    status, _ = slack.harness.event(mention(QUESTION, ts="300.1"), event_id="Ev5xx")
    assert status == 200
    [*_, answer] = slack.api.wait_for("chat.update", 3)  # two 500s, then the answer
    assert "Jitter" in json.dumps(blocks_of(answer))
    assert len(slack.api.of("chat.postMessage")) == 2  # one 500, then the placeholder


def test_web_api_down_then_back_the_bot_answers_again(deps, bot):
    slack = bot()
    assert "Jitter" in slack.mention()
    port = slack.api.port
    slack.api.stop()  # Slack's Web API unreachable: nothing can be shown meanwhile ...
    assert slack.harness.event(mention(QUESTION, ts="900.1"), event_id="EvDown")[0] == 200
    time.sleep(2)
    # ... and once it is back on the same address, the next question is answered.
    slack.api = slack.harness.api = SlackAPIStub().start(port)
    assert "Jitter" in slack.mention()


# -- the bot process --------------------------------------------------------------------


def start_bot(deps, api: SlackAPIStub, port: int, log) -> subprocess.Popen[bytes]:
    env = deps.env(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=api.base_url)
    command = [sys.executable, "-m", "bot", "run", "slack", "--http", "--port", str(port)]
    return subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=log, stderr=log)


def test_a_bot_restarted_between_requests_and_a_retry_while_it_was_down(deps, tmp_path):
    api = SlackAPIStub().start()
    harness = SlackHarness.__new__(SlackHarness)
    harness.port, harness.api = free_port(), api
    log = open(tmp_path / "bot.log", "wb")  # noqa: SIM115 - the bot writes to it across restarts
    # Down at start: Slack's first delivery finds nothing listening ...
    with pytest.raises(OSError):
        harness.event(mention(QUESTION, ts="500.1"), event_id="EvLate")
    process = start_bot(deps, api, harness.port, log)
    try:
        ready = lambda: _answers(harness)  # noqa: E731
        wait_until(ready, "the bot to listen", timeout=90, log=tmp_path / "bot.log")
        # ... and its retry, once the bot is up, is answered once.
        retry = {"X-Slack-Retry-Num": "1"}
        assert harness.event(mention(QUESTION, ts="500.1"), event_id="EvLate", headers=retry)[0]
        api.wait_for("chat.update")
        # Killed between requests and started again: the thread it answered is still its.
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        process = start_bot(deps, api, harness.port, log)
        wait_until(ready, "the bot to listen again", timeout=90, log=tmp_path / "bot.log")
        follow_up = {"type": "message", "channel": "C1", "channel_type": "channel",
                     "user": "U1", "text": "and what about jitter?", "ts": "500.9",
                     "thread_ts": "500.1"}  # fmt: skip
        assert harness.event(follow_up, event_id="EvFollow")[0] == 200
        api.wait_for("chat.update", 2)
        assert len(api.of("chat.postMessage")) == 2  # one answer each, no duplicate
        placeholders_resolved(api)
    finally:
        process.terminate()
        process.wait(30)
        log.close()
        api.stop()


def _answers(harness: SlackHarness) -> bool:
    try:
        harness.post("{}", "application/json")
        return True
    except OSError:
        return False


def test_a_bot_killed_mid_answer_has_its_placeholder_resolved_by_the_next(deps, stub, tmp_path):
    stub.default = {"sleep": 30, "text": "never shown"}
    api = SlackAPIStub().start()
    harness = SlackHarness.__new__(SlackHarness)
    harness.port, harness.api = free_port(), api
    llm = {"STUDYBOT_LLM": "openai:gpt-test", "OPENAI_BASE_URL": stub.base_url,
           "OPENAI_API_KEY": API_KEY, "STUDYBOT_LLM_OPTIONS__TIMEOUT_SECONDS": "60",
           "STUDYBOT_HEARTBEAT_SECONDS": "3"}  # fmt: skip
    deps.extra_env.update(llm)
    log = open(tmp_path / "bot.log", "wb")  # noqa: SIM115 - the bot writes to it across restarts
    process = start_bot(deps, api, harness.port, log)
    try:
        wait_until(lambda: _answers(harness), "the bot to listen", 90, tmp_path / "bot.log")
        assert harness.event(mention(QUESTION, ts="600.1"), event_id="EvKilled")[0] == 200
        wait_until(lambda: stub.chat_requests, "the model call", 20, tmp_path / "bot.log")
        [placeholder] = api.of("chat.postMessage")
        process.send_signal(signal.SIGKILL)  # no grace, no goodbye: "Thinking…" is left behind
        process.wait(10)
        process = start_bot(deps, api, harness.port, log)
        # Within the dead process's heartbeat (3 s) and a sweep (1 s), once.
        [update] = api.wait_for("chat.update", timeout=60)
        assert update["ts"] == "1.000" and "restarting" in update["text"]
        assert placeholder["channel"] == update["channel"]
        time.sleep(2.5)  # two more sweeps
        assert len(api.of("chat.update")) == 1  # one sweeper told the student, once
    finally:
        process.terminate()
        process.wait(30)
        log.close()
        api.stop()
