"""Operability: /healthz, /readyz, /metrics, JSON logs with redaction, graceful shutdown."""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import REPO_ROOT, PushSettings, RedisSettings, Settings, SlackSettings
from bot.core.models import Address
from bot.core.safety import RedactingFilter, SecretRedactor, install_log_redaction
from bot.logs import bind_request, configure_logging
from bot.standins.slack_api import SlackAPIStub
from bot.wiring import Container
from tests.conftest import API_KEY, COURSE, free_port, student
from tests.fakes.discord_api import DiscordAPIStub
from tests.test_discord import TOKEN as DISCORD_TOKEN
from tests.test_discord import fixture as discord_fixture
from tests.test_slack import SECRET, TOKEN, SlackHarness, mention

# --- helpers -----------------------------------------------------------------------------------


def get(port: int, path: str, timeout: float = 10) -> tuple[int, str]:
    """GET http://127.0.0.1:PORT/PATH: (status, body), also for 4xx/5xx."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_until(condition, what: str, timeout: float = 60, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = condition()
        except OSError:
            found = None
        if found:
            return found
        tail = log.read_text()[-2000:] if log and log.exists() else ""
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{tail}"
        time.sleep(0.1)


def ready(port: int) -> dict[str, Any] | None:
    status, body = get(port, "/readyz", timeout=5)
    return json.loads(body) if status == 200 else None


def samples(port: int) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics, keyed by (name, labels)."""
    status, text = get(port, "/metrics")
    assert status == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


class OpsHarness(SlackHarness):
    """The Slack harness, serving SlackBot.web_app(): bolt's routes plus the health endpoints."""

    def __init__(self, container: Container, api: SlackAPIStub) -> None:
        from bot.adapters.slack.app import SlackBot
        from bot.standins.loopback import LoopbackServer

        self.api = api
        self.bot = SlackBot(container, container.settings.slack)
        self._server = LoopbackServer()
        self.port = self._server.serve(self.bot.web_app())


def slack_settings(indexed_data_dir, models_dir, redis_url, prefix, api) -> Settings:
    return Settings(
        data_dir=indexed_data_dir,
        models_path=models_dir,
        redis=RedisSettings(url=redis_url, key_prefix=prefix),
        slack=SlackSettings(bot_token=TOKEN, signing_secret=SECRET, api_url=api.base_url),
    )


@pytest.fixture
def ops(indexed_data_dir, models_dir, redis_url, redis_prefix):
    api = SlackAPIStub().start()
    container = Container(
        slack_settings(indexed_data_dir, models_dir, redis_url, redis_prefix, api)
    )
    harness = OpsHarness(container, api)
    yield harness
    harness.stop()
    api.stop()


@pytest.fixture
def restore_logging():
    """Tests here reconfigure the root logger; hand it back as it was."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


# --- /healthz, /readyz, /metrics on the Slack HTTP app -----------------------------------------


def test_slack_app_serves_health_readiness_and_metrics_of_a_signed_event(ops):
    status, body = get(ops.port, "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    ops.bot.container.assistant  # noqa: B018 - built before serving, as `run slack` does
    assert ready(ops.port) == {
        "status": "ready",
        "checks": {"redis": True, "chroma": True, "model": True},
    }

    before = samples(ops.port)
    event = mention("why add randomness to retry delays", ts="500.1")
    assert ops.event(event, event_id="EvOps1")[0] == 200
    ops.api.wait_for("chat.update")
    assert ops.event(event, event_id="EvOps1", headers={"X-Slack-Retry-Num": "1"})[0] == 200

    def counted() -> dict | None:
        found = samples(ops.port)
        done = value(found, "studybot_duplicate_events_total", platform="slack") > value(
            before, "studybot_duplicate_events_total", platform="slack"
        )
        return (
            found
            if done
            and value(found, "studybot_request_seconds_count", platform="slack")
            > value(before, "studybot_request_seconds_count", platform="slack")
            else None
        )

    after = wait_until(counted, "the request and the duplicate in /metrics", timeout=10)
    key = ("studybot_questions_total", {"platform": "slack", "mode": "extractive",
                                        "concept": "fault-tolerance"})  # fmt: skip
    assert value(after, key[0], **key[1]) == value(before, key[0], **key[1]) + 1
    for stage in ("dedupe", "retrieval", "redis", "platform"):
        grew = value(after, "studybot_stage_seconds_count", stage=stage) - value(
            before, "studybot_stage_seconds_count", stage=stage
        )
        assert grew >= 1, stage
    assert value(after, "studybot_llm_breaker_state") in {-1, 0}  # extractive: no model
    assert any(name == "process_resident_memory_bytes" for name, _ in after)


def test_readyz_is_503_and_names_the_failing_check_when_redis_is_down(
    indexed_data_dir, models_dir, redis_prefix
):
    api = SlackAPIStub().start()
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    container = Container(slack_settings(indexed_data_dir, models_dir, dead, redis_prefix, api))
    container.embedder  # noqa: B018 - the model loads fine; only Redis is down
    harness = OpsHarness(container, api)
    try:
        status, body = get(harness.port, "/readyz")
        result = json.loads(body)
        assert status == 503 and result["status"] == "not ready"
        assert result["checks"]["chroma"] is True and result["checks"]["model"] is True
        assert "Connection" in result["checks"]["redis"], result
        assert get(harness.port, "/healthz")[0] == 200  # alive, just not ready
    finally:
        harness.stop()
        api.stop()


def test_quiz_push_and_breaker_metrics(app, stub, llm_app, tmp_path):
    from bot import metrics
    from bot.quiz.bank import MultipleChoice
    from bot.schedule.outbox import LogOutbox
    from tests.test_pushes import FlakyOutbox

    def count(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    # A multiple-choice answer, counted once even when the same prompt is answered twice.
    ada = student("quiz", user="UQ")
    bank = app.catalog.quiz_bank(COURSE)
    item = next(i for i in bank.by_concept("consensus") if isinstance(i, MultipleChoice))
    prompt = app.quiz.next_prompt(ada, COURSE, None, item.id)
    outcome = "correct"
    before = count("studybot_quiz_answers_total", kind="multiple-choice", outcome=outcome)
    app.quiz.answer(ada, prompt.prompt_id, "abcde"[prompt.options.index(item.answer)])
    app.quiz.answer(ada, prompt.prompt_id, "abcde"[prompt.options.index(item.answer)])
    assert (
        count("studybot_quiz_answers_total", kind="multiple-choice", outcome=outcome) == before + 1
    )

    # Pushes: two failed attempts then sent; then a push that fails every attempt.
    pushes = Container(
        app.settings.model_copy(update={"push": PushSettings(attempts=3, backoff_seconds=0.01)})
    )
    flaky = FlakyOutbox(failures=2, log=LogOutbox(tmp_path / "outbox.jsonl"))
    pushes.outbox = flaky
    outcomes = ("sent", "failed", "dead_lettered")
    start = {o: count("studybot_pushes_total", platform="slack", outcome=o) for o in outcomes}
    pushes.pushes.push_now(Address("slack", "T1", "C1"), COURSE, datetime.now(UTC))
    flaky.failures = 100
    with pytest.raises(Exception, match="dead-letter"):
        pushes.pushes.push_now(Address("slack", "T1", "C2"), COURSE, datetime.now(UTC))
    grew = {
        o: count("studybot_pushes_total", platform="slack", outcome=o) - start[o] for o in outcomes
    }
    assert grew == {"sent": 1, "failed": 5, "dead_lettered": 1}

    # The breaker gauge reads the shared state at each scrape: closed, then open.
    stub.default = {"status": 500}
    model = llm_app(breaker_failures=1, retries=0)
    assert model.llm is not None
    assert count("studybot_llm_breaker_state") == 0
    model.assistant.ask(student("why add randomness to retry delays", user="UB"))
    assert count("studybot_llm_breaker_state") == 2


# --- JSON logs ---------------------------------------------------------------------------------


def test_json_log_lines_carry_the_request_id_and_stay_redacted(restore_logging):
    stream = io.StringIO()
    handler = configure_logging("json", logging.INFO, stream)
    install_log_redaction(SecretRedactor([TOKEN, API_KEY]))
    assert any(isinstance(f, RedactingFilter) for f in handler.filters)
    log = logging.getLogger("bot.test")

    log.info("outside any request")
    bind_request("Ev123")
    log.warning("calling Slack with %s", TOKEN)
    try:
        raise RuntimeError(f"provider said: bad key {API_KEY}")
    except RuntimeError:
        log.exception("model failed", extra={"header": f"Bearer {API_KEY}"})
    bind_request(None)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3
    plain, warned, failed = lines
    assert list(plain) == ["time", "level", "logger", "message"]
    assert plain["level"] == "INFO" and plain["logger"] == "bot.test"
    assert datetime.fromisoformat(plain["time"]).tzinfo is not None
    assert warned["request_id"] == "Ev123" and warned["level"] == "WARNING"
    assert warned["message"] == "calling Slack with [redacted]"
    assert failed["request_id"] == "Ev123" and "RuntimeError" in failed["exc_info"]
    assert failed["header"] == "Bearer [redacted]"
    text = stream.getvalue()
    assert TOKEN not in text and API_KEY not in text


def test_the_slack_adapter_tags_log_lines_of_a_request_with_its_event_id(ops, restore_logging):
    stream = io.StringIO()
    configure_logging("json", logging.INFO, stream)
    install_log_redaction(ops.bot.container.redactor)
    ops.event(mention("what is a quorum", ts="600.1"), event_id="EvLog1")
    ops.api.wait_for("chat.update")

    def kept() -> list[dict]:
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        return [line for line in lines if line["logger"] == "bot.core.assistant"]

    # keep_trace runs in the adapter's thread pool: the id followed the work there.
    [line] = wait_until(kept, "the trace's log line", timeout=10)
    assert line["request_id"] == "EvLog1" and "Slack mention" in line["message"]


# --- processes ---------------------------------------------------------------------------------


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


@pytest.mark.slow
def test_worker_serves_health_on_its_port_and_stops_on_sigterm(subprocess_env, tmp_path):
    port = free_port()
    log = tmp_path / "worker.log"
    env = {**subprocess_env, "STUDYBOT_HTTP_PORT": str(port), "STUDYBOT_LOG_FORMAT": "json",
           "STUDYBOT_PUSH__OUTBOX_FILE": str(tmp_path / "outbox.jsonl")}  # fmt: skip
    worker = start(["-v", "worker"], env, log)
    try:
        checks = wait_until(lambda: ready(port), "the worker's /readyz", log=log)
        # Pushes embed nothing, so the worker does not load the model.
        assert checks == {"status": "ready", "checks": {"redis": True, "chroma": True}}
        assert get(port, "/healthz")[0] == 200
        status, text = get(port, "/metrics")
        assert status == 200 and "studybot_llm_breaker_state" in text
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    finally:
        stop(worker)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(line["logger"] == "arq.worker" and "SIGTERM" in line["message"] for line in lines)


@pytest.mark.slow
def test_sigterm_lets_an_in_flight_slack_answer_finish_then_exits_0(subprocess_env, stub, tmp_path):
    stub.default = {"sleep": 3, "text": "Jitter spreads retries out [1]."}
    api = SlackAPIStub().start()
    port = free_port()
    log = tmp_path / "slack.log"
    env = {**subprocess_env, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": api.base_url, "STUDYBOT_LLM": "openai:gpt-test",
           "OPENAI_BASE_URL": stub.base_url, "OPENAI_API_KEY": API_KEY,
           "STUDYBOT_LLM_OPTIONS__TIMEOUT_SECONDS": "10",
           "STUDYBOT_LOG_FORMAT": "json"}  # fmt: skip
    server = start(["-v", "run", "slack", "--http", "--port", str(port)], env, log)
    harness = SlackHarness.__new__(SlackHarness)
    harness.port, harness.api = port, api
    try:
        wait_until(lambda: ready(port), "the replica's /readyz", log=log)
        harness.event(mention("why add randomness to retry delays", ts="700.1"), event_id="EvTerm")
        wait_until(lambda: stub.chat_requests, "the model call to start", timeout=20, log=log)
        assert api.of("chat.update") == []
        stopped_at = time.monotonic()
        server.send_signal(signal.SIGTERM)
        # The port stops accepting at once; the answer in flight still arrives.
        wait_until(lambda: get_refused(port), "the port to close", timeout=5, log=log)
        assert server.wait(timeout=25) == 0
        took = time.monotonic() - stopped_at
        [update] = api.of("chat.update")
        assert "Jitter spreads retries out" in json.dumps(update)
        assert took < 10, took
    finally:
        stop(server)
        api.stop()
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    assert any(line.get("request_id") == "EvTerm" for line in lines)
    assert any("shutdown: done" in line["message"] for line in lines)
    assert TOKEN not in text and SECRET not in text and API_KEY not in text


def get_refused(port: int) -> bool:
    try:
        get(port, "/healthz", timeout=1)
    except urllib.error.URLError:
        return True
    return False


@pytest.mark.slow
def test_discord_process_serves_health_and_finishes_an_answer_after_sigterm(
    subprocess_env, stub, tmp_path
):
    stub.default = {"sleep": 3, "text": "A quorum is a majority [1]."}
    api = DiscordAPIStub().start()
    port = free_port()
    log = tmp_path / "discord.log"
    env = {**subprocess_env, "DISCORD_TOKEN": DISCORD_TOKEN, "DISCORD_API_URL": api.base_url,
           "STUDYBOT_HTTP_PORT": str(port), "STUDYBOT_LLM": "openai:gpt-test",
           "OPENAI_BASE_URL": stub.base_url, "OPENAI_API_KEY": API_KEY,
           "STUDYBOT_LLM_OPTIONS__TIMEOUT_SECONDS": "10"}  # fmt: skip
    client = start(["-v", "run", "discord"], env, log)
    try:
        checks = wait_until(lambda: ready(port), "the Discord process's /readyz", log=log)
        assert checks["checks"] == {"redis": True, "chroma": True, "model": True, "gateway": True}
        interaction = {**discord_fixture("interaction_command"), "id": "30003", "token": "t3"}
        api.dispatch(0, "INTERACTION_CREATE", interaction)
        api.wait_for("/interactions/30003/t3/callback", timeout=20)
        wait_until(lambda: stub.chat_requests, "the model call to start", timeout=20, log=log)
        assert api.of("/webhooks/888/t3") == []
        client.send_signal(signal.SIGTERM)
        assert client.wait(timeout=25) == 0
        [follow] = api.of("/webhooks/888/t3")
        assert "A quorum is a majority" in json.dumps(follow)
        assert not any(c.open for c in api.gateways)  # closed after the answer, not before
    finally:
        stop(client)
        api.stop()


def test_settings_name_the_operability_variables(monkeypatch):
    monkeypatch.setenv("STUDYBOT_HTTP_PORT", "9191")
    monkeypatch.setenv("STUDYBOT_LOG_FORMAT", "json")
    monkeypatch.setenv("STUDYBOT_SHUTDOWN_GRACE_SECONDS", "12")
    settings = Settings()
    assert (settings.http_port, settings.log_format, settings.shutdown_grace_seconds) == (
        9191,
        "json",
        12.0,
    )
    monkeypatch.setenv("STUDYBOT_LOG_FORMAT", "xml")
    with pytest.raises(ValueError):
        Settings()
