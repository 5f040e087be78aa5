"""The fault matrix, Slack Socket Mode face: a real `studybot run slack` over the stand-in.

Each test runs `python -m bot run slack` (Socket Mode) against `SlackSocketStub`, a real
redis-server and a real `chroma run` (the `deps` fixture), then kills, hangs or SIGTERMs
something and checks what the student sees in Slack.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.adapters.failures import RESTARTING
from bot.core.assistant import HISTORY_UNAVAILABLE
from bot.core.errors import INDEX_UNAVAILABLE
from bot.quiz.service import UNAVAILABLE
from bot.standins.slack_socket import SlackSocketStub
from tests.conftest import API_KEY, free_port
from tests.faults import wait_until
from tests.test_operability import get, start
from tests.test_slack import TOKEN, fixture, mention

pytestmark = pytest.mark.slow

APP_TOKEN = "xapp-1-A1-0123456789-abcdef"
QUESTION = "why add randomness to retry delays"
ANSWERED = "jitter"  # the extractive answer to QUESTION mentions it
MODEL_ANSWER = "Jitter spreads retries out [1]."
MODEL_TEXT = "Jitter spreads retries out"  # the answer as the placeholder shows it
STARTUP = 120.0  # the process loads the embedding model before it connects


@dataclass
class Running:
    """One `run slack` process in Socket Mode, with its health port and its log."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def readyz(self) -> tuple[int, dict[str, Any]]:
        status, body = get(self.port, "/readyz", timeout=5)
        return status, json.loads(body)


@pytest.fixture
def api() -> Iterator[SlackSocketStub]:
    stand_in = SlackSocketStub().start()
    try:
        yield stand_in
    finally:
        stand_in.stop()


def launch(deps, api: SlackSocketStub, port: int, log: Path, **env: str) -> subprocess.Popen:
    """`studybot -v run slack` in Socket Mode, on the test's dependencies and stand-in."""
    environment = deps.env(SLACK_BOT_TOKEN=TOKEN, SLACK_APP_TOKEN=APP_TOKEN,
                           SLACK_API_URL=api.base_url, STUDYBOT_HTTP_PORT=str(port))  # fmt: skip
    environment.pop("SLACK_SIGNING_SECRET", None)
    environment.update(env)  # after deps.env, which drops STUDYBOT_LLM
    return start(["-v", "run", "slack"], environment, log)


def kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def socket_mode(deps, api: SlackSocketStub, tmp_path: Path, **env: str) -> Iterator[Running]:
    """Start the process, wait until its websocket is open; kill it on the way out."""
    port, log = free_port(), tmp_path / "slack.log"
    process = launch(deps, api, port, log, **env)
    try:
        wait_until(
            lambda: api.connected or process.poll() is not None,
            "the Socket Mode connection",
            timeout=STARTUP,
            log=log,
        )
        assert process.poll() is None, log.read_text()[-3000:]
        assert set(api.app_tokens) == {APP_TOKEN}  # the app-level token opened the connection
        yield Running(process, port, log)
    finally:
        kill(process)


def envelope(text: str, ts: str, event_id: str) -> dict[str, Any]:
    """An Events API body carrying a mention of the bot."""
    body = {**fixture("app_mention"), "event_id": event_id, "event_time": int(time.time())}
    body["event"] = mention(text, ts=ts)
    return body


def command(text: str) -> dict[str, Any]:
    return {**fixture("slash_command"), "text": text}


def action(action_id: str, value: str) -> dict[str, Any]:
    payload = fixture("block_actions")
    payload["actions"][0].update(action_id=action_id, value=value)
    return payload


def shown(params: dict[str, Any]) -> str:
    """What a recorded chat call shows: its text and every text in its blocks, one line."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            found.append(value)

    blocks = params.get("blocks") or []
    walk([params.get("text") or "", json.loads(blocks) if isinstance(blocks, str) else blocks])
    return " ".join(" ".join(found).split())


def updates(api: SlackSocketStub, count: int, timeout: float = 30) -> list[str]:
    """What the first `count` placeholder updates show."""
    return [shown(params) for params in api.wait_for("chat.update", count, timeout=timeout)]


def ready(running: Running) -> bool:
    try:
        return running.readyz()[0] == 200
    except OSError:
        return False


# -- SIGTERM ----------------------------------------------------------------------------


def test_sigterm_closes_the_socket_finishes_the_answer_in_flight_and_exits_0(
    deps, stub, api, tmp_path
):
    stub.default = {"sleep": 3, "text": MODEL_ANSWER}
    grace = 15.0
    llm = {"STUDYBOT_LLM": "openai:gpt-test", "OPENAI_BASE_URL": stub.base_url,
           "OPENAI_API_KEY": API_KEY, "STUDYBOT_LLM_OPTIONS__TIMEOUT_SECONDS": "10",
           "STUDYBOT_SHUTDOWN_GRACE_SECONDS": str(grace)}  # fmt: skip
    with socket_mode(deps, api, tmp_path, **llm) as bot:
        wait_until(lambda: ready(bot), "/readyz", timeout=30, log=bot.log)
        first = api.send_event(envelope(QUESTION, "700.1", "EvTerm"))
        api.wait_for_ack(first)
        [placeholder] = api.wait_for("chat.postMessage")
        assert placeholder["thread_ts"] == "700.1" and "Thinking" in placeholder["text"]
        wait_until(lambda: stub.chat_requests, "the model call to start", log=bot.log)
        assert api.of("chat.update") == []

        stopped_at = time.monotonic()
        bot.process.send_signal(signal.SIGTERM)
        # The socket closes at once, while the answer is still being written...
        api.wait_connected(False, timeout=5)
        assert api.of("chat.update") == [], "closed only after the answer: not a drain"
        status, checks = bot.readyz()
        assert status == 503 and checks["status"] == "stopping"  # no new traffic routed here
        # ... so an envelope sent now reaches no one: it is neither acked nor answered.
        late = api.send_event(envelope("what is a quorum", "701.1", "EvLate"))

        assert bot.process.wait(timeout=grace + 10) == 0
        took = time.monotonic() - stopped_at
        [update] = updates(api, 1)
        assert MODEL_TEXT in update
        assert took < grace, took
        assert late not in api.acks
        assert [p["thread_ts"] for p in api.of("chat.postMessage")] == ["700.1"]
        assert api.connections == 1  # it did not reconnect while draining
    text = bot.log.read_text()
    assert "shutdown: done" in text
    assert TOKEN not in text and APP_TOKEN not in text and API_KEY not in text


def test_sigterm_past_the_grace_tells_the_student_to_ask_again_and_exits_promptly(
    deps, stub, api, tmp_path
):
    stub.default = {"sleep": 10, "text": MODEL_ANSWER}
    llm = {"STUDYBOT_LLM": "openai:gpt-test", "OPENAI_BASE_URL": stub.base_url,
           "OPENAI_API_KEY": API_KEY, "STUDYBOT_LLM_OPTIONS__TIMEOUT_SECONDS": "20",
           "STUDYBOT_LLM_OPTIONS__RETRIES": "0",
           "STUDYBOT_SHUTDOWN_GRACE_SECONDS": "1"}  # fmt: skip
    with socket_mode(deps, api, tmp_path, **llm) as bot:
        wait_until(lambda: ready(bot), "/readyz", timeout=30, log=bot.log)
        api.wait_for_ack(api.send_event(envelope(QUESTION, "710.1", "EvSlow")))
        api.wait_for("chat.postMessage")
        wait_until(lambda: stub.chat_requests, "the model call to start", log=bot.log)
        stopped_at = time.monotonic()
        bot.process.send_signal(signal.SIGTERM)
        [update] = updates(api, 1, timeout=8)
        assert RESTARTING in update
        assert MODEL_TEXT not in update
        code = bot.process.wait(timeout=15)
        took = time.monotonic() - stopped_at
        assert code == 0
        assert took < 5, f"exited {took:.1f} s after SIGTERM with a 1 s grace"
    assert "still running at the deadline" in bot.log.read_text()


def test_sigterm_while_slack_refuses_the_connection_exits_0_at_once(deps, api, tmp_path):
    api.refuse = "invalid_auth"  # Socket Mode keeps retrying: SIGTERM must still stop it
    log = tmp_path / "slack.log"
    process = launch(deps, api, free_port(), log)
    try:
        api.wait_for("apps.connections.open", timeout=STARTUP)
        # The stand-in records the call before it replies: wait for the refusal to be logged.
        wait_until(lambda: "invalid_auth" in log.read_text(), "the refusal in the log", log=log)
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
        took = time.monotonic() - stopped_at
    finally:
        kill(process)
    assert code == 0 and took < 5, (code, took, log.read_text()[-2000:])
    assert api.connections == 0 and APP_TOKEN not in log.read_text()


# -- Redis ------------------------------------------------------------------------------


def test_redis_down_the_mention_is_acked_and_answered_with_a_note_and_quizzes_refuse(
    deps, api, tmp_path
):
    with socket_mode(deps, api, tmp_path) as bot:
        wait_until(lambda: ready(bot), "/readyz", timeout=30, log=bot.log)
        api.send_event(envelope(QUESTION, "719.1", "EvUp"))
        [up] = updates(api, 1)
        # No note while Redis is up, on its empty script cache too (the rate limiter's first
        # EVALSHA gets NOSCRIPT: an answer, which must not open the Redis breaker).
        assert ANSWERED in up.lower() and HISTORY_UNAVAILABLE not in up

        deps.redis.kill()
        ack = api.wait_for_ack(api.send_event(envelope(QUESTION, "720.1", "EvRedis")), timeout=10)
        assert "payload" not in ack  # events are acked bare
        answer = updates(api, 2)[1]
        assert ANSWERED in answer.lower() and HISTORY_UNAVAILABLE in answer

        api.wait_for_ack(api.send_command(command("quiz")), timeout=10)
        [by_command] = api.wait_for("chat.postEphemeral", 1)
        assert UNAVAILABLE in by_command["text"]
        api.wait_for_ack(api.send_interactive(action("quiz_on_this", "")), timeout=10)
        by_button = api.wait_for("chat.postEphemeral", 2)[1]
        assert UNAVAILABLE in by_button["text"]

        status, checks = bot.readyz()
        assert status == 503 and checks["checks"]["redis"] is not True
        assert bot.process.poll() is None


def test_redis_hanging_then_dying_mid_mention_still_answers_with_a_note(deps, api, tmp_path):
    with socket_mode(deps, api, tmp_path) as bot:
        wait_until(lambda: ready(bot), "/readyz", timeout=30, log=bot.log)
        api.send_event(envelope(QUESTION, "730.1", "EvWarm"))
        [first] = updates(api, 1)
        assert ANSWERED in first.lower() and HISTORY_UNAVAILABLE not in first

        deps.redis.pause()  # accepts connections, answers nothing
        killer = threading.Timer(0.3, deps.redis.kill)
        killer.start()
        try:
            api.wait_for_ack(api.send_event(envelope(QUESTION, "731.1", "EvHung")), timeout=10)
            second = updates(api, 2)[1]
        finally:
            killer.join(15)
        assert ANSWERED in second.lower() and HISTORY_UNAVAILABLE in second
        assert bot.process.poll() is None


# -- Chroma -----------------------------------------------------------------------------


def test_chroma_down_says_the_index_is_unreachable_then_recovers_without_a_restart(
    deps, api, tmp_path
):
    with socket_mode(deps, api, tmp_path) as bot:
        wait_until(lambda: ready(bot), "/readyz", timeout=30, log=bot.log)
        deps.chroma.kill()
        api.wait_for_ack(api.send_event(envelope(QUESTION, "740.1", "EvChroma1")), timeout=10)
        [down] = updates(api, 1)
        assert INDEX_UNAVAILABLE in down
        assert ANSWERED not in down.lower()
        status, checks = bot.readyz()
        assert status == 503 and checks["checks"]["chroma"] is not True
        assert checks["checks"]["redis"] is True

        deps.chroma.start()
        time.sleep(1.2)  # the breaker's rest
        api.wait_for_ack(api.send_event(envelope(QUESTION, "741.1", "EvChroma2")), timeout=10)
        back = updates(api, 2)[1]
        assert ANSWERED in back.lower() and INDEX_UNAVAILABLE not in back
        wait_until(lambda: ready(bot), "/readyz once Chroma is back", timeout=10, log=bot.log)
        assert bot.process.poll() is None and api.connections == 1  # no restart, no reconnect


def test_chroma_hanging_then_dying_mid_mention_says_the_index_is_unreachable(deps, api, tmp_path):
    with socket_mode(deps, api, tmp_path) as bot:
        wait_until(lambda: ready(bot), "/readyz", timeout=30, log=bot.log)
        deps.chroma.pause()  # accepts connections, answers nothing
        killer = threading.Timer(0.3, deps.chroma.kill)
        killer.start()
        try:
            api.wait_for_ack(api.send_event(envelope(QUESTION, "750.1", "EvChromaHung")), 10)
            [down] = updates(api, 1)
        finally:
            killer.join(15)
        assert INDEX_UNAVAILABLE in down and ANSWERED not in down.lower()
        assert bot.process.poll() is None


# -- the model, Slack's Web API and the process itself ----------------------------------


def llm_env(stub, timeout: float) -> dict[str, str]:
    return {"STUDYBOT_LLM": "openai:gpt-test", "OPENAI_BASE_URL": stub.base_url,
            "OPENAI_API_KEY": API_KEY, "STUDYBOT_LLM_OPTIONS__RETRIES": "0",
            "STUDYBOT_LLM_OPTIONS__TIMEOUT_SECONDS": str(timeout)}  # fmt: skip


def test_the_model_dying_mid_answer_and_web_api_errors_still_land_an_answer(
    deps, stub, api, tmp_path
):
    stub.default = {"sleep": 0.3, "drop": True}  # the connection closes with no response
    with socket_mode(deps, api, tmp_path, **llm_env(stub, 5)) as bot:
        wait_until(lambda: ready(bot), "/readyz", timeout=30, log=bot.log)
        failure = {"ok": False, "error": "internal_error"}
        api.failures["chat.update"].extend(web.json_response(failure, status=500) for _ in "ab")
        api.wait_for_ack(api.send_event(envelope(QUESTION, "760.1", "EvModelDies")), 10)
        [answer] = updates(api, 1)  # after two 500s, retried
        assert stub.chat_requests, "the model was called"
        assert ANSWERED in answer.lower() and "course notes" in answer


def test_a_process_killed_mid_answer_has_its_placeholder_resolved_by_the_next(
    deps, stub, api, tmp_path
):
    stub.default = {"sleep": 60, "text": "never shown"}
    env = {**llm_env(stub, 90), "STUDYBOT_HEARTBEAT_SECONDS": "3"}
    with socket_mode(deps, api, tmp_path, **env) as bot:
        wait_until(lambda: ready(bot), "/readyz", timeout=30, log=bot.log)
        api.wait_for_ack(api.send_event(envelope(QUESTION, "770.1", "EvKilled")), 10)
        [placeholder] = api.wait_for("chat.postMessage")
        wait_until(lambda: stub.chat_requests, "the model call", 20, bot.log)
        kill(bot.process)  # SIGKILL: "Thinking…" is left behind
    api.wait_connected(False, timeout=10)
    with socket_mode(deps, api, tmp_path, **env):
        [update] = updates(api, 1, timeout=60)  # the dead process's heartbeat ends, a sweep
        assert update == RESTARTING
        time.sleep(2.5)  # two more sweeps
        assert len(api.of("chat.update")) == 1 and placeholder["thread_ts"] == "770.1"
