"""The fault matrix, Discord face: Redis, Chroma, the model, Discord's API and the bot itself.

Each cell runs a real `python -m bot run discord` process against the Discord stand-in (REST
and gateway), a real redis-server and a real `chroma run`, which the tests kill (SIGKILL) or
hang (SIGSTOP, then SIGKILL while a request is in flight). What is asserted is what the
student sees: the follow-up of a deferred interaction, or the message a mention or DM gets.

The cells that kill a dependency between or during requests share one bot process (and one
Redis and Chroma): a fixture brings both back, and waits until /readyz says so, before each.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.adapters.failures import GENERIC, RESTARTING
from bot.config import REPO_ROOT
from bot.core.assistant import HISTORY_UNAVAILABLE
from bot.core.errors import INDEX_UNAVAILABLE
from bot.quiz.service import UNAVAILABLE
from tests.conftest import API_KEY, free_port
from tests.fakes.discord_api import DiscordAPIStub, _json
from tests.fakes.openai_stub import OpenAIStub
from tests.faults import ChromaProcess, Deps, RedisProcess, wait_until
from tests.test_discord import TOKEN
from tests.test_discord import fixture as discord_fixture

pytestmark = pytest.mark.slow

QUESTION = "why add randomness to retry delays"
ANSWERED = "jitter"  # the extractive answer to QUESTION mentions it
MODEL_TEXT = "Jitter spreads retries out"  # the OpenAI stand-in's default answer
FROM_NOTES = "Answered straight from the course notes"
CHROMA_TRACE = "course index (Chroma) was unreachable"

IDS = itertools.count(70_000)


# -- the Discord stand-in, failing on demand ----------------------------------------------


class FlakyDiscordAPI(DiscordAPIStub):
    """The Discord stand-in, whose follow-up webhook posts fail on demand.

    `fail_webhooks`: how many of the next webhook posts get a 500 (discord.py retries those).
    `drop_webhooks`: Discord is down for follow-ups: each post's connection is closed unanswered.
    Failed posts are not recorded as calls (`of` lists what was delivered), but in `failed`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fail_webhooks = 0
        self.drop_webhooks = False
        self.failed: list[tuple[str, str]] = []  # (path, "500" | "dropped")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        if request.method == "POST" and path.startswith("/webhooks/"):
            if self.drop_webhooks:
                self.failed.append((path, "dropped"))
                assert request.transport is not None
                request.transport.close()
                return web.Response()  # never reaches the client: its connection is gone
            if self.fail_webhooks > 0:
                self.fail_webhooks -= 1
                self.failed.append((path, "500"))
                return _json({"message": "500: Internal Server Error", "code": 0}, status=500)
        return await super()._handle(request)


# -- the bot process ----------------------------------------------------------------------


def readyz(port: int) -> tuple[int, dict[str, Any]] | None:
    """GET /readyz: (status, body) whether ready or not; None while nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return None


def healthz(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status
    except OSError:
        return None


def shown(body: dict[str, Any]) -> str:
    """What the student reads in a posted message: its text and its embeds' descriptions."""
    parts = [body.get("content") or ""]
    parts += [embed.get("description") or "" for embed in body.get("embeds") or []]
    return " ".join(" ".join(parts).split())


def custom_ids(body: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in body.get("components", []) for c in row["components"]]


class Bot:
    """A `python -m bot run discord` process, its Discord stand-in, and a student's actions."""

    def __init__(self, deps: Deps, api: DiscordAPIStub, log: Path, **env: str) -> None:
        self.deps, self.api, self.log = deps, api, log
        self.port = free_port()
        base = deps.env(
            DISCORD_TOKEN=TOKEN,
            DISCORD_API_URL=api.base_url,
            STUDYBOT_HTTP_PORT=str(self.port),
            STUDYBOT_RATE_LIMIT="1000/minute",  # many questions per test: not this cell
        )
        self.env = {**base, **env}  # after Deps.env, which drops STUDYBOT_LLM
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start the process; return once its gateway session is ready (whatever the deps)."""
        with self.log.open("a") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "-v", "run", "discord"],
                env=self.env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        try:
            wait_until(self.connected, "the bot's gateway session", timeout=60, log=self.log)
        except BaseException:
            self.kill()
            raise
        # The course's server, so that mentions in its channel (and thread 8888) resolve.
        self.api.dispatch(0, "GUILD_CREATE", discord_fixture("guild_create"))

    def connected(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            tail = self.log.read_text()[-3000:]
            pytest.fail(f"the bot exited ({self.process.returncode})\n{tail}")
        found = readyz(self.port)
        return bool(found and found[1].get("checks", {}).get("gateway") is True)

    def ready(self) -> dict[str, Any] | None:
        found = readyz(self.port)
        return found[1] if found and found[0] == 200 else None

    def kill(self) -> None:
        """SIGKILL, as in a crash; returns once the stand-in has seen its gateway close."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            gone = lambda: not any(c.open for c in self.api.gateways)  # noqa: E731
            wait_until(gone, "the gateway connection to close", timeout=10)

    # -- interactions ---------------------------------------------------------------------

    def _interaction(self, kind: int, data: dict[str, Any], user: str) -> dict[str, Any]:
        number = next(IDS)
        payload = discord_fixture("interaction_command")
        payload.update(id=str(number), type=kind, token=f"tok{number}", data=data)
        payload["member"]["user"].update(id=user, username=f"user{user}")
        return payload

    def command(self, sub: str, user: str, **options: str) -> dict[str, Any]:
        """Dispatch /study SUB over the gateway; the interaction payload."""
        opts = [{"name": k, "type": 3, "value": v} for k, v in options.items()]
        data = {"id": "1", "name": "study", "type": 1,
                "options": [{"name": sub, "type": 1, "options": opts}]}  # fmt: skip
        payload = self._interaction(2, data, user)
        self.api.dispatch(0, "INTERACTION_CREATE", payload)
        return payload

    def click(self, custom_id: str, user: str) -> dict[str, Any]:
        """Dispatch a button click (a persistent custom_id, as after any restart)."""
        payload = self._interaction(3, {"custom_id": custom_id, "component_type": 2}, user)
        button = {"type": 2, "style": 1, "label": "button", "custom_id": custom_id}
        payload["message"] = {**self.api._message({}), "channel_id": "555",
                              "components": [{"type": 1, "components": [button]}]}  # fmt: skip
        self.api.dispatch(0, "INTERACTION_CREATE", payload)
        return payload

    def deferred(self, payload: dict[str, Any], timeout: float = 10) -> None:
        """The interaction was acknowledged at once with "thinking…" (type 5)."""
        path = f"/interactions/{payload['id']}/{payload['token']}/callback"
        [callback] = self.api.wait_for(path, timeout=timeout)
        assert callback["type"] == 5

    def followups(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        return self.api.of(f"/webhooks/888/{payload['token']}")

    def followup(self, payload: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
        """The one follow-up that resolved the deferred interaction (never two)."""
        self.deferred(payload, timeout)
        [body] = self.api.wait_for(f"/webhooks/888/{payload['token']}", timeout=timeout)
        time.sleep(0.1)  # a second message (half an answer, then an error) would show here
        assert len(self.followups(payload)) == 1, self.followups(payload)
        return body

    def ask(self, user: str, question: str = QUESTION) -> str:
        """/study ask: what the student reads in its follow-up."""
        return shown(self.followup(self.command("ask", user, question=question)))

    # -- messages (mentions, DMs, thread follow-ups: the on_message path) -----------------

    def _message(self, text: str, user: str, **fields: Any) -> dict[str, Any]:
        author = {"id": user, "username": f"user{user}", "discriminator": "0",
                  "avatar": None, "global_name": None}  # fmt: skip
        return {**self.api._message({"content": text}), "id": str(next(IDS)),
                "author": author, **fields}  # fmt: skip

    def dm(self, text: str, user: str) -> str:
        """A direct message (its own DM channel): what the bot sends back there."""
        channel = str(next(IDS))
        self.api.dispatch(0, "MESSAGE_CREATE", self._message(text, user, channel_id=channel))
        [sent] = self.api.wait_for(f"/channels/{channel}/messages", timeout=20)
        return shown(sent)

    def in_thread(self, send: dict[str, Any]) -> str:
        """Dispatch a message; the next message the bot posts in its thread 8888."""
        before = len(self.api.of("/channels/8888/messages"))
        self.api.dispatch(0, "MESSAGE_CREATE", send)
        found = self.api.wait_for("/channels/8888/messages", count=before + 1, timeout=20)
        time.sleep(0.1)
        assert len(self.api.of("/channels/8888/messages")) == before + 1  # one reply
        return shown(found[before])

    def mention(self, text: str, user: str) -> str:
        """@studybot in the course channel: a thread is opened for the answer."""
        message = self._message(f"<@999> {text}", user, channel_id="555", guild_id="777")
        message["mentions"] = [discord_fixture("message_create")["mentions"][0]]
        message["member"] = discord_fixture("message_create")["member"]
        threads = len(self.api.of(f"/channels/555/messages/{message['id']}/threads"))
        reply = self.in_thread(message)
        assert len(self.api.of(f"/channels/555/messages/{message['id']}/threads")) == threads + 1
        return reply

    def thread_message(self, text: str, user: str) -> dict[str, Any]:
        """A message in the bot's thread 8888, without a mention."""
        message = self._message(text, user, channel_id="8888", guild_id="777")
        message["member"] = discord_fixture("message_create")["member"]
        return message


def later(seconds: float, action) -> None:
    """Run `action` after a delay, while the test waits for the request in flight."""
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()


def restart_redis(deps: Deps) -> None:
    """Redis back on its port (loading a SAVEd snapshot, if any); the breaker's rest passes."""
    deps.redis.start()  # a fresh server: no Lua scripts loaded (NOSCRIPT is an answer)
    time.sleep(1.2)  # REDIS_BREAKER_RESET_SECONDS=1: then one call finds it back, no restart


def restart_chroma(deps: Deps) -> None:
    deps.chroma.start()
    time.sleep(1.2)  # CHROMA_BREAKER_RESET_SECONDS=1


def make_deps(folder: Path, indexed_data_dir: Path, models_dir: Path) -> Deps:
    return Deps(
        RedisProcess(folder / "redis"),
        ChromaProcess(indexed_data_dir / "chroma", folder / "chroma"),
        folder / "data",
        models_dir,
    )


@pytest.fixture
def own_bot(deps: Deps, tmp_path: Path) -> Iterator[Any]:
    """start(**env): a bot of this test's own, on this test's own Redis and Chroma."""
    made: list[tuple[Bot, DiscordAPIStub]] = []

    def start(**env: str) -> Bot:
        api = DiscordAPIStub().start()
        made.append((Bot(deps, api, tmp_path / "bot.log", **env), api))
        return made[-1][0]

    try:
        yield start
    finally:
        for bot, api in made:
            bot.kill()
            api.stop()


# -- the shared process: kills between and during requests ----------------------------------


@pytest.fixture(scope="module")
def shared_deps(
    tmp_path_factory: pytest.TempPathFactory, indexed_data_dir: Path, models_dir: Path
) -> Iterator[Deps]:
    found = make_deps(tmp_path_factory.mktemp("discord-faults"), indexed_data_dir, models_dir)
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture(scope="module")
def shared(shared_deps: Deps, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    api = FlakyDiscordAPI().start()
    bot: Bot | None = None
    try:
        bot = Bot(shared_deps, api, tmp_path_factory.mktemp("discord-bot") / "bot.log")
        yield bot
    finally:
        if bot is not None:
            bot.kill()
        api.stop()


def heal(deps: Deps) -> None:
    """Both dependencies running: resumed, or started again."""
    for process in (deps.redis.process, deps.chroma.process):
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGCONT)
    if deps.redis.process.poll() is not None:
        deps.redis.start()
    if deps.chroma.process is None or deps.chroma.process.poll() is not None:
        deps.chroma.start()


@pytest.fixture
def bot(shared: Bot) -> Bot:
    """The shared bot, healthy: Redis, Chroma and Discord's API all up, breakers closed."""
    assert isinstance(shared.api, FlakyDiscordAPI)
    shared.api.fail_webhooks, shared.api.drop_webhooks = 0, False
    shared.api.failed.clear()
    if shared.process is None or shared.process.poll() is not None:
        shared.start()
    heal(shared.deps)
    # Ready: its own Redis and Chroma checks pass, so both breakers are closed again.
    wait_until(shared.ready, "the bot to be ready again", timeout=15, log=shared.log)
    return shared


# -- Redis --------------------------------------------------------------------------------


def test_redis_down_at_start_answers_without_history_and_refuses_quiz_writes(deps, own_bot):
    deps.redis.kill()
    bot = own_bot()
    answer = bot.ask("101")
    assert ANSWERED in answer.lower() and HISTORY_UNAVAILABLE in answer
    dm = bot.dm(QUESTION, "101")  # on_message: dedupe and the rate limit fail open
    assert ANSWERED in dm.lower() and HISTORY_UNAVAILABLE in dm
    quiz = bot.followup(bot.command("quiz", "101"))
    assert UNAVAILABLE in shown(quiz) and custom_ids(quiz) == []  # no question to answer
    trace = shown(bot.followup(bot.command("trace", "101")))  # held in memory meanwhile
    assert "Rate limit: skipped, because Redis was unreachable" in trace
    assert "Redis: unreachable, so I answered without your history" in trace

    restart_redis(deps)
    answer = bot.ask("101")
    assert ANSWERED in answer.lower() and HISTORY_UNAVAILABLE not in answer
    question = bot.followup(bot.command("quiz", "101"))
    assert "New question" in shown(question) and custom_ids(question)


def test_redis_killed_between_requests_answers_and_half_applies_no_quiz_answer(bot):
    question = bot.followup(bot.command("quiz", "102"))
    assert "New question" in shown(question)
    choice = custom_ids(question)[0]
    assert HISTORY_UNAVAILABLE not in bot.ask("102")
    bot.deps.redis.client().save()  # a snapshot: the restarted server starts from it
    bot.deps.redis.kill()

    click = bot.followup(bot.click(choice, "102"))
    assert shown(click) == UNAVAILABLE
    quiz = bot.followup(bot.command("quiz", "102"))
    assert shown(quiz) == UNAVAILABLE
    started = time.monotonic()
    answer = bot.ask("102")
    assert ANSWERED in answer.lower() and HISTORY_UNAVAILABLE in answer
    assert time.monotonic() - started < 3  # the open breaker: no timeout per Redis call
    mention = bot.mention(QUESTION, "102")  # on_message: a thread, its claim held in memory
    assert ANSWERED in mention.lower() and HISTORY_UNAVAILABLE in mention

    restart_redis(bot.deps)
    answer = bot.ask("102")
    assert ANSWERED in answer.lower() and HISTORY_UNAVAILABLE not in answer
    # The refused click left nothing behind: answering again is the first answer that counts
    # (an option, or Reveal for a quick check), and only the one after that is a repeat.
    result = shown(bot.followup(bot.click(choice, "102")))
    assert "Source:" in result and "already answered" not in result
    assert "already answered" in shown(bot.followup(bot.click(choice, "102")))


def test_redis_hung_then_killed_mid_request_still_answers(bot):
    assert HISTORY_UNAVAILABLE not in bot.ask("103")
    bot.deps.redis.pause()  # it accepts connections but answers nothing
    started = time.monotonic()
    ask = bot.command("ask", "103", question=QUESTION)
    bot.deferred(ask)
    later(0.3, bot.deps.redis.kill)
    dm = bot.dm(QUESTION, "103")  # on_message, in flight at the same time
    answer = shown(bot.followup(ask))
    assert ANSWERED in answer.lower() and HISTORY_UNAVAILABLE in answer
    assert ANSWERED in dm.lower() and HISTORY_UNAVAILABLE in dm
    assert time.monotonic() - started < 5

    restart_redis(bot.deps)
    answer = bot.ask("103")
    assert ANSWERED in answer.lower() and HISTORY_UNAVAILABLE not in answer


# -- Chroma -------------------------------------------------------------------------------


def chroma_check(bot: Bot) -> dict[str, Any] | None:
    """/readyz's checks while it answers 503 because of Chroma (Redis still fine)."""
    found = readyz(bot.port)
    if found and found[0] == 503 and found[1]["checks"]["chroma"] is not True:
        return found[1]["checks"]
    return None


def test_chroma_down_at_start_says_the_index_is_unreachable_then_recovers(deps, own_bot):
    deps.chroma.kill()
    bot = own_bot()  # the Chroma client is built lazily: the bot starts anyway
    checks = wait_until(lambda: chroma_check(bot), "/readyz to blame Chroma", log=bot.log)
    assert checks["redis"] is True and checks["gateway"] is True
    assert "IndexUnavailableError" in checks["chroma"]
    assert shown(bot.followup(bot.command("ask", "201", question=QUESTION))) == INDEX_UNAVAILABLE
    assert bot.dm(QUESTION, "201") == INDEX_UNAVAILABLE  # on_message
    trace = shown(bot.followup(bot.command("trace", "201")))
    assert CHROMA_TRACE in trace

    restart_chroma(deps)
    answer = bot.ask("201")
    assert ANSWERED in answer.lower()
    wait_until(bot.ready, "/readyz to pass again", timeout=10, log=bot.log)


def test_chroma_killed_between_requests_resolves_every_deferred_ask(bot):
    assert ANSWERED in bot.ask("202").lower()
    bot.deps.chroma.kill()
    started = time.monotonic()
    ask = bot.command("ask", "202", question=QUESTION)
    assert shown(bot.followup(ask)) == INDEX_UNAVAILABLE  # never left "thinking…"
    assert time.monotonic() - started < 5
    assert bot.mention(QUESTION, "202") == INDEX_UNAVAILABLE  # on_message, in its thread
    checks = wait_until(lambda: chroma_check(bot), "/readyz to blame Chroma", log=bot.log)
    assert checks["redis"] is True
    ask = bot.command("ask", "202", question=QUESTION)
    assert shown(bot.followup(ask)) == INDEX_UNAVAILABLE
    assert CHROMA_TRACE in shown(bot.followup(bot.command("trace", "202")))

    restart_chroma(bot.deps)
    assert ANSWERED in bot.ask("202").lower()


def test_chroma_hung_then_killed_mid_request_says_the_index_is_unreachable(bot):
    assert ANSWERED in bot.ask("203").lower()
    bot.deps.chroma.pause()
    started = time.monotonic()
    ask = bot.command("ask", "203", question="what is a quorum")
    bot.deferred(ask)
    later(0.5, bot.deps.chroma.kill)
    assert shown(bot.followup(ask)) == INDEX_UNAVAILABLE
    assert time.monotonic() - started < 5  # one 2 s timeout at most
    assert CHROMA_TRACE in shown(bot.followup(bot.command("trace", "203")))

    restart_chroma(bot.deps)
    assert ANSWERED in bot.ask("203").lower()


# -- Discord's own API ----------------------------------------------------------------------


def test_a_follow_up_refused_with_500_is_retried_and_delivered_once(bot):
    api = bot.api
    assert isinstance(api, FlakyDiscordAPI)
    api.fail_webhooks = 1  # the answer's first post; discord.py tries again after 1 s
    ask = bot.command("ask", "301", question=QUESTION)
    answer = shown(bot.followup(ask, timeout=15))
    assert ANSWERED in answer.lower()
    assert api.failed == [(f"/webhooks/888/{ask['token']}", "500")]


def test_discord_down_for_follow_ups_leaves_the_bot_up_to_answer_once_it_is_back(bot):
    api = bot.api
    assert isinstance(api, FlakyDiscordAPI)
    api.drop_webhooks = True
    ask = bot.command("ask", "302", question=QUESTION)
    bot.deferred(ask)
    path = f"/webhooks/888/{ask['token']}"
    # The answer's post fails, then the short failure note's: neither reaches anyone.
    wait_until(lambda: [p for p, _ in api.failed].count(path) >= 2, "the two tries", 15)
    assert bot.followups(ask) == []
    assert bot.process is not None and bot.process.poll() is None
    assert healthz(bot.port) == 200

    api.drop_webhooks = False
    answer = bot.ask("302")
    assert ANSWERED in answer.lower()


def test_a_discord_outage_is_traced_as_the_platform_not_the_bot(bot):
    api = bot.api
    assert isinstance(api, FlakyDiscordAPI)
    api.drop_webhooks = True
    ask = bot.command("ask", "303", question=QUESTION)
    path = f"/webhooks/888/{ask['token']}"
    wait_until(lambda: [p for p, _ in api.failed].count(path) >= 2, "the two tries", 15)
    api.drop_webhooks = False
    trace = shown(bot.followup(bot.command("trace", "303")))
    assert "the chat platform's API did not take the reply" in trace
    assert GENERIC not in trace


# -- the bot process itself ------------------------------------------------------------------


def test_the_bot_killed_between_requests_and_started_again_keeps_its_state(bot):
    assert ANSWERED in bot.mention(QUESTION, "401").lower()  # opens thread 8888 for 401
    question = bot.followup(bot.command("quiz", "401"))
    choice = custom_ids(question)[0]
    bot.kill()  # SIGKILL: nothing in the process survives
    bot.start()
    # The thread's claim is in Redis: the asker's follow-up there needs no mention.
    reply = bot.in_thread(bot.thread_message("and what about exponential backoff?", "401"))
    assert "backoff" in reply.lower()
    result = shown(bot.followup(bot.click(choice, "401")))  # the question from before
    assert "Source:" in result and "already answered" not in result


# -- the language model ----------------------------------------------------------------------


def llm_env(base_url: str) -> dict[str, str]:
    return {
        "STUDYBOT_LLM": "openai:gpt-test",
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": API_KEY,
        "STUDYBOT_LLM_OPTIONS__RETRIES": "0",
        "STUDYBOT_LLM_OPTIONS__TIMEOUT_SECONDS": "2",
        "REDIS_KEY_PREFIX": f"faults-llm-{next(IDS)}",  # its breaker state, apart
    }


def llm_bot(deps: Deps, folder: Path, base_url: str) -> tuple[Bot, DiscordAPIStub]:
    api = DiscordAPIStub().start()
    try:
        return Bot(deps, api, folder / "bot.log", **llm_env(base_url)), api
    except BaseException:
        api.stop()
        raise


def test_the_model_unreachable_at_start_answers_from_the_notes(shared_deps, tmp_path):
    heal(shared_deps)
    bot, api = llm_bot(shared_deps, tmp_path, f"http://127.0.0.1:{free_port()}/v1")
    try:
        answer = bot.ask("501")
        assert ANSWERED in answer.lower() and FROM_NOTES in answer
        assert "could not be reached" in answer
    finally:
        bot.kill()
        api.stop()


@pytest.fixture(scope="module")
def model(shared_deps: Deps, tmp_path_factory: pytest.TempPathFactory):
    """(bot, stand-in): a bot answering with the OpenAI stand-in."""
    heal(shared_deps)
    with OpenAIStub() as stub:
        bot, api = llm_bot(shared_deps, tmp_path_factory.mktemp("discord-llm"), stub.base_url)
        try:
            yield bot, stub
        finally:
            bot.kill()
            api.stop()


@pytest.fixture
def llm(model):
    bot, stub = model
    heal(bot.deps)
    wait_until(bot.ready, "the model bot to be ready", timeout=15, log=bot.log)
    stub.script.clear()
    stub.default = {"text": f"{MODEL_TEXT} [1]."}
    yield bot, stub
    stub.default = {"text": f"{MODEL_TEXT} [1]."}


def test_the_model_failing_between_requests_answers_from_the_notes(llm):
    bot, stub = llm
    first = bot.ask("502")
    assert first.startswith(MODEL_TEXT) and FROM_NOTES not in first
    stub.default = {"status": 503}
    second = bot.ask("502")
    assert ANSWERED in second.lower() and FROM_NOTES in second and "error (503)" in second


def test_the_model_dying_mid_request_answers_from_the_notes(llm):
    bot, stub = llm
    stub.default = {"sleep": 0.3, "drop": True}  # the connection closes with no response
    calls = len(stub.chat_requests)
    answer = bot.ask("503")
    assert len(stub.chat_requests) == calls + 1  # it was called, and died mid-request
    assert ANSWERED in answer.lower() and FROM_NOTES in answer
    assert "could not be reached" in answer


def test_a_bot_killed_mid_answer_has_its_interaction_resolved_by_the_next(shared_deps, tmp_path):
    heal(shared_deps)
    with OpenAIStub() as stub:
        stub.default = {"sleep": 60, "text": "never shown"}  # the answer is still in flight
        api = DiscordAPIStub().start()
        env = {**llm_env(stub.base_url), "STUDYBOT_LLM_OPTIONS__TIMEOUT_SECONDS": "90",
               "STUDYBOT_HEARTBEAT_SECONDS": "3"}  # fmt: skip
        bot = Bot(shared_deps, api, tmp_path / "bot.log", **env)
        try:
            ask = bot.command("ask", "601", question=QUESTION)
            bot.deferred(ask)
            wait_until(lambda: stub.chat_requests, "the model call in flight", timeout=20)
            bot.kill()  # SIGKILL mid-answer: "thinking…" would stay forever
            bot.start()
            # The next process finds the dead one's interaction in the ledger and resolves it.
            [body] = api.wait_for(f"/webhooks/888/{ask['token']}", timeout=40)
            assert shown(body) == RESTARTING
            time.sleep(2.5)  # two more sweeps: the orphan was claimed once
            assert len(bot.followups(ask)) == 1
        finally:
            bot.kill()
            api.stop()
