"""Property 21, no secret leakage: with known secrets set, every failure path is forced and
no secret shows up in any log line, reply, HTTP response body or CLI output."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import urllib.parse

import pytest
from aiohttp import web

from bot.config import REPO_ROOT, Settings
from bot.standins.loopback import LoopbackServer
from bot.standins.slack_api import SlackAPIStub
from bot.wiring import Container
from tests.conftest import API_KEY, call, free_port, student
from tests.fakes.discord_api import DiscordAPIStub
from tests.test_slack import SlackHarness, fixture, mention

BOT_TOKEN = "xoxb-4242424242-secret-bot-token-0123456789"
APP_TOKEN = "xapp-1-A1-4242-secret-app-token-0123456789"
SIGNING_SECRET = "signing-secret-8f7e6d5c4b3a2910"
DISCORD_TOKEN = "MTk4NjIyNDgzNDcxOTI1MjQ4.Gsecrt.discord-secret-token-value-0123456789"
REDIS_PASSWORD = "s3cretpass-redis-0451"
SECRETS = {
    "SLACK_BOT_TOKEN": BOT_TOKEN,
    "SLACK_APP_TOKEN": APP_TOKEN,
    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    "DISCORD_TOKEN": DISCORD_TOKEN,
    "OPENAI_API_KEY": API_KEY,
    "the Redis password": REDIS_PASSWORD,
}


def assert_no_secret(*outputs: str) -> None:
    """No secret in any output; the failure names the secret and shows where, redacted."""
    for output in outputs:
        for name, value in SECRETS.items():
            at = output.find(value)
            assert at < 0, f"{name} leaked: ...{output[max(0, at - 120) : at]}<{name}>..."


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record as formatted (tracebacks included) and as a bare message."""
    return caplog.text + "\n".join(record.getMessage() for record in caplog.records)


def closed_port_redis_url() -> str:
    """A Redis URL with a password, on a port nothing listens on."""
    return f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"


@pytest.fixture
def secret_env(monkeypatch, indexed_data_dir, models_dir, redis_url, redis_prefix):
    """The process environment a deployment has: every credential set, as the bot reads it."""
    for name, value in {
        "STUDYBOT_DATA_DIR": str(indexed_data_dir),
        "STUDYBOT_MODELS_PATH": str(models_dir),
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": redis_prefix,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "DISCORD_TOKEN": DISCORD_TOKEN,
        "OPENAI_API_KEY": API_KEY,
        "STUDYBOT_PUSH__ATTEMPTS": "1",
        "COLUMNS": "200",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("STUDYBOT_LLM", "CHROMA_HOST"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def debug_logs(caplog):
    """Capture every log record, at DEBUG, from every library."""
    caplog.set_level(logging.DEBUG)
    return caplog


class RefusingSlackAPI(SlackAPIStub):
    """Slack refusing the bot's token, and (unlike Slack) echoing it in the error."""

    def __init__(self, refuse_auth_test: bool) -> None:
        super().__init__()
        self.refuse_auth_test = refuse_auth_test

    def _answer(self, method, params):
        if method == "auth.test" and not self.refuse_auth_test:
            return super()._answer(method, params)  # the token worked once, then was revoked
        return {"ok": False, "error": "invalid_auth", "detail": f"rejected {BOT_TOKEN} {APP_TOKEN}"}


class RefusingDiscordAPI(DiscordAPIStub):
    """Discord answering 401 to everything, echoing the token it was sent."""

    async def _handle(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path, None, time.monotonic()))
        body = {"message": f"401: Unauthorized {request.headers.get('Authorization')}", "code": 0}
        return web.Response(
            body=json.dumps(body).encode(), status=401, headers={"Content-Type": "application/json"}
        )


def signed_requests(harness: SlackHarness) -> list[tuple[int, str]]:
    """A mention, a slash command and a click, signed right, signed wrong and stale."""
    event = {**fixture("app_mention"), "event": mention("what is a quorum"), "event_id": "EvS1"}
    command = urllib.parse.urlencode({**fixture("slash_command"), "text": "quiz"})
    click = urllib.parse.urlencode({"payload": json.dumps(fixture("block_actions"))})
    bodies = [(json.dumps(event), "application/json")]
    bodies += [(body, "application/x-www-form-urlencoded") for body in (command, click)]
    responses = []
    for body, content_type in bodies:
        responses.append(harness.post(body, content_type, secret=SIGNING_SECRET))
        responses.append(harness.post(body, content_type, secret="a-wrong-signing-secret"))
        responses.append(harness.post(body, content_type, secret=SIGNING_SECRET, timestamp=1))
    return responses


def slack_from_env(api, monkeypatch):
    """The Slack app as `studybot run slack` builds it from the environment, on `api`."""
    monkeypatch.setenv("SLACK_API_URL", api.base_url)
    container = Container(Settings())
    container.assistant  # noqa: B018 - built first, as `studybot run slack` does
    return SlackHarness(container, api)


@pytest.mark.parametrize("refuse_auth_test", [True, False], ids=["bad-token", "revoked-token"])
def test_slack_token_and_signature_failures_leak_nothing(
    secret_env, debug_logs, monkeypatch, refuse_auth_test
):
    api = RefusingSlackAPI(refuse_auth_test).start()
    harness = slack_from_env(api, monkeypatch)
    try:
        responses = signed_requests(harness)
        assert {status for status, _ in responses} >= {401}
        if not refuse_auth_test:  # the listeners ran and their Web API calls were refused
            api.wait_for("chat.postMessage")
        time.sleep(1)  # let bolt log what failed in the background
    finally:
        harness.stop()
        api.stop()
    assert "invalid_auth" in everything_logged(debug_logs)  # the failures were logged
    sent = json.dumps([params for _, params, _ in api.calls])
    assert_no_secret(everything_logged(debug_logs), sent, *(body for _, body in responses))


def test_discord_rejected_token_leaks_nothing(secret_env, debug_logs, monkeypatch, capsys):
    import discord

    from bot.adapters.discord.app import StudyClient

    api = RefusingDiscordAPI().start()
    monkeypatch.setenv("DISCORD_API_URL", api.base_url)
    container = Container(Settings())
    container.assistant  # noqa: B018 - built first, as `studybot run discord` does
    loop = LoopbackServer()
    client = StudyClient(container, container.settings.discord)
    try:
        with pytest.raises(discord.LoginFailure) as refused:
            loop.run(client.login(DISCORD_TOKEN))
        loop.run(client.close())
    finally:
        loop.stop()
    # The daily-quiz outbox posts with the same token: its failure lands in the dead letters.
    code, out, err = call(capsys, "push", "--now", "555", "--tenant", "discord:777")
    assert code == 1 and "dead-letter" in err
    dead = call(capsys, "dlq", "list", "--json")
    api.stop()
    assert "401" in dead[1] and api.calls
    assert_no_secret(str(refused.value), everything_logged(debug_logs), out, err, *dead[1:])


def test_slack_outbox_refusal_in_the_dead_letters_leaks_nothing(
    secret_env, debug_logs, monkeypatch, capsys
):
    api = RefusingSlackAPI(refuse_auth_test=True).start()
    monkeypatch.setenv("SLACK_API_URL", api.base_url)
    code, out, err = call(capsys, "push", "--now", "C1", "--tenant", "slack:T1")
    assert code == 1 and "dead-letter" in err
    dead = call(capsys, "dlq", "list")
    api.stop()
    assert "invalid_auth" in dead[1]
    assert_no_secret(everything_logged(debug_logs), out, err, *dead[1:])


ECHO = f"Incorrect API key provided: {API_KEY}"
# Each way a provider fails, every error body echoing the key it was sent.
LLM_FAILURES = [
    {"sleep": 1.5, "text": f"too late, {API_KEY}"},  # past the 1 s timeout
    {"status": 401, "message": ECHO},
    {"status": 429, "message": ECHO},
    {"status": 500, "message": ECHO},
]


@pytest.mark.slow  # waits out real timeouts or retry delays
def test_llm_provider_failures_leak_no_api_key(stub, llm_app, debug_logs):
    from bot.core.trace import Trace, describe
    from bot.quiz.bank import QuickCheck

    container = llm_app(retries=0, timeout_seconds=1, breaker_failures=100)
    outputs: list[str] = []
    for failure in LLM_FAILURES:
        stub.default = failure
        for on_token in (None, outputs.append):  # a plain answer and a streamed one
            trace = Trace("test", "t")
            question = student("Analyze the CAP trade-offs for our chat app")
            reply = container.assistant.ask(question, on_token=on_token, trace=trace)
            assert reply.mode == "extractive"
            outputs += [reply.markdown(), json.dumps(reply.to_json()), describe(trace)]
    # Quiz grading calls the model too.
    stub.default = LLM_FAILURES[1]
    me = student("quiz", user="grader")
    bank = container.catalog.quiz_bank("distributed-systems")
    item = next(i for i in bank.items.values() if isinstance(i, QuickCheck))
    prompt = container.quiz.next_prompt(me, "distributed-systems", item_id=item.id)
    outputs.append(repr(container.quiz.answer(me, prompt.prompt_id, "a guess")))
    assert len(stub.chat_requests) >= 8
    time.sleep(1.5)  # the stand-in finishes the answers the bot stopped waiting for
    assert_no_secret(everything_logged(debug_logs), *outputs)


@pytest.mark.slow  # waits on a breaker's rest, a process or the whole bot
def test_redis_down_with_a_password_in_its_url_leaks_nothing(
    secret_env, debug_logs, monkeypatch, capsys
):
    monkeypatch.setenv("REDIS_URL", closed_port_redis_url())
    outputs = []
    for argv in (
        ["ask", "what is a quorum"],
        ["quiz"],
        ["group", "create", "Raft Fans"],
        ["link"],
        ["subscribe", "07:30", "UTC", "--channel", "C1"],
        ["feedback"],
        ["dlq", "list"],
        ["push", "--tick"],
    ):
        code, out, err = call(capsys, *argv)
        assert code in (0, 1), (argv, err)
        outputs += [out, err]
    assert any("unavailable" in output for output in outputs)  # the CP refusals said so
    # In process too, through the Slack adapter (dedupe and rate limits live in Redis).
    api = SlackAPIStub().start()
    harness = slack_from_env(api, monkeypatch)
    try:
        responses = signed_requests(harness)
        time.sleep(1)
    finally:
        harness.stop()
        api.stop()
    sent = json.dumps([params for _, params, _ in api.calls])
    body_texts = [body for _, body in responses]
    assert_no_secret(everything_logged(debug_logs), sent, *outputs, *body_texts)


# -- the real processes ----------------------------------------------------------


def bot_process(env: dict[str, str], *args: str, timeout: float = 90) -> str:
    """Run `python -m bot ARGS` to the end; its stdout and stderr together."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.stdout + done.stderr


@pytest.fixture
def process_env(subprocess_env) -> dict[str, str]:
    """`python -m bot` subprocess environment with every credential set."""
    return {
        **subprocess_env,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "DISCORD_TOKEN": DISCORD_TOKEN,
        "OPENAI_API_KEY": API_KEY,
    }


@pytest.mark.slow
def test_run_slack_and_run_discord_with_refused_credentials_leak_nothing(process_env):
    slack_api = RefusingSlackAPI(refuse_auth_test=False).start()
    discord_api = RefusingDiscordAPI().start()
    env = {**process_env, "SLACK_API_URL": slack_api.base_url,
           "DISCORD_API_URL": discord_api.base_url}  # fmt: skip
    try:
        # Socket Mode keeps retrying a refused app token: stop it once it has tried twice.
        socket_mode = subprocess.Popen(
            [sys.executable, "-m", "bot", "-v", "run", "slack"],
            env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        slack_api.wait_for("apps.connections.open", 2, timeout=60)
        socket_mode.terminate()
        socket_log = socket_mode.communicate(timeout=30)[0]
        discord_run = bot_process(env, "-v", "run", "discord")
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "bot", "-v", "run", "slack", "--http", "--port", str(port)],
            env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            harness = SlackHarness.__new__(SlackHarness)
            harness.port, harness.api = port, slack_api
            deadline = time.monotonic() + 60
            while True:
                try:
                    responses = signed_requests(harness)
                    break
                except OSError:  # not listening yet
                    assert time.monotonic() < deadline and server.poll() is None
                    time.sleep(0.3)
            slack_api.wait_for("chat.postMessage")
            time.sleep(1)
        finally:
            server.terminate()
            http_mode = server.communicate(timeout=30)[0]
    finally:
        slack_api.stop()
        discord_api.stop()
    assert "invalid_auth" in socket_log and "invalid_auth" in http_mode  # failures were logged
    assert "studybot: failed: LoginFailure" in discord_run
    bodies = [body for _, body in responses]
    assert_no_secret(socket_log, discord_run, http_mode, *bodies)


@pytest.mark.slow
def test_ask_in_llm_mode_with_a_failing_provider_leaks_nothing(process_env):
    from tests.fakes.openai_stub import OpenAIStub

    with OpenAIStub() as llm:
        llm.default = {"status": 401, "message": f"Incorrect API key provided: {API_KEY}"}
        env = {**process_env, "STUDYBOT_LLM": "openai:gpt-test", "OPENAI_BASE_URL": llm.base_url}
        answered = bot_process(env, "-v", "ask", "why add randomness to retry delays", "--json")
        assert llm.chat_requests and '"mode": "extractive"' in answered
        env["REDIS_URL"] = closed_port_redis_url()
        redis_down = bot_process(env, "-v", "ask", "what is a quorum")
        worker = bot_process(env, "-v", "worker", timeout=120)
    assert "studybot: failed: ConnectionError" in worker
    assert_no_secret(answered, redis_down, worker)
