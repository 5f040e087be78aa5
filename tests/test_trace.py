"""`/study trace` and `studybot trace`: the reliability steps of a student's last request."""

import json
import time

import pytest
import redis

from bot.core.trace import Trace
from tests.conftest import call, student
from tests.test_discord import discord_bot  # noqa: F401  (fixture)
from tests.test_slack import mention, slack  # noqa: F401  (fixture)

QUESTION = "why add randomness to retry delays"


def test_a_model_failure_is_explained_retries_fallback_and_breaker(llm_app, stub):
    stub.default = {"status": 500}
    container = llm_app(retries=1, breaker_failures=2, breaker_reset_seconds=60)
    address = student("").address
    texts = []
    for _ in range(2):
        trace = Trace("CLI ask", "r1")
        container.assistant.ask(student(QUESTION), trace=trace)
        container.assistant.keep_trace(address, "U1", trace)
        texts.append(container.assistant.explain_last(address, "U1"))
    first, second = texts
    assert "Model: 2 tries, retried after" in first and "jitter" in first
    assert "error (500)" in first and "Fallback: answered straight from the course notes" in first
    assert "closed → *open*" in second and "skip the model until it has rested" in second
    assert "retrieval (embed + search)" in second and "language model" in second

    calls = len(stub.chat_requests)
    trace = Trace("CLI ask", "r2")
    container.assistant.ask(student(QUESTION), trace=trace)
    container.assistant.keep_trace(address, "U1", trace)
    assert len(stub.chat_requests) == calls  # the open breaker spared the provider
    assert "*open*, so the model was not called" in container.assistant.explain_last(address, "U1")


@pytest.mark.slow  # waits on a breaker's rest, a process or the whole bot
def test_cli_trace_times_each_stage_and_traces_are_capped_with_a_ttl(
    cli_redis_env, capsys, redis_url, redis_prefix
):
    code, _, _ = call(capsys, "trace", "--user", "ana")
    assert code == 0
    for n in range(12):
        assert call(capsys, "ask", f"{QUESTION} {n}", "--user", "ana")[0] == 0
    code, out, _ = call(capsys, "trace", "--user", "ana")
    assert code == 0
    assert "(CLI ask, " in out and f"{QUESTION} 11" in out
    assert "Redis (history, saving)" in out and "retrieval (embed + search)" in out
    assert "no model configured" in out and "in all." in out
    assert "*" not in out  # terminal output carries no markdown

    client = redis.Redis.from_url(redis_url)
    [key] = client.keys(f"{redis_prefix}:*trace*")
    assert client.llen(key) == 10
    assert 0 < client.ttl(key) <= 24 * 3600
    stored = json.loads(client.lindex(key, 0))
    assert stored["stages_ms"]["retrieval"] > 0


def test_cli_trace_with_redis_down_says_so(cli_env, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")
    code, _, err = call(capsys, "trace")
    assert code == 1 and "unreachable" in err


def test_slack_trace_shows_ignored_retries_and_platform_time(slack):  # noqa: F811
    event = mention(QUESTION, ts="900.1")
    slack.event(event, event_id="EvTrace")
    slack.api.wait_for("chat.update")
    for retry in ("1", "2"):
        slack.event(event, event_id="EvTrace", headers={"X-Slack-Retry-Num": retry})
    time.sleep(0.3)
    slack.command("trace")
    [shown] = slack.api.wait_for("chat.postEphemeral")
    text = shown["text"]
    assert (
        "Slack mention" in text
        and "first delivery answered; 2 redeliveries of the same event (retry 1, 2)" in text
    )
    assert "platform API" in text and "duplicate check" in text


def test_slack_trace_of_a_refused_question(slack):  # noqa: F811
    for n in range(10):
        slack.event(mention(f"what is raft {n}", ts=f"91{n}.1"), event_id=f"EvT{n}")
    slack.api.wait_for("chat.update", 10)
    slack.event(mention("one more about raft", ts="920.1"), event_id="EvT10")
    slack.api.wait_for("chat.postEphemeral")
    time.sleep(0.3)
    slack.command("trace")
    shown = slack.api.wait_for("chat.postEphemeral", 2)[1]["text"]
    assert "Rate limit: over your per-minute allowance" in shown


def test_discord_trace_after_a_slash_ask(discord_bot):  # noqa: F811
    asked = discord_bot.command("ask", question=QUESTION)
    discord_bot.api.wait_for(f"/webhooks/888/{asked['token']}")
    time.sleep(0.3)
    traced = discord_bot.command("trace")
    [follow] = discord_bot.api.wait_for(f"/webhooks/888/{traced['token']}")
    assert (
        "Discord /study ask" in follow["content"]
        and "**Trace of your last request**" in (follow["content"])
    )
    assert "platform API" in follow["content"]
