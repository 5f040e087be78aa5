"""The Slack adapter through real bolt in HTTP mode, signed requests, and a local Web API."""

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from bot.adapters.slack.app import SlackBot
from bot.adapters.slack.translate import escape, render_reply, split_text
from bot.config import RedisSettings, Settings, SlackSettings
from bot.standins.loopback import LoopbackServer
from bot.standins.slack_api import SlackAPIStub
from bot.wiring import Container

SECRET = "test-signing-secret-0123456789"
FIXTURES = Path(__file__).parent / "fixtures" / "slack"


def fixture(name):
    """A recorded Slack payload (events, commands, actions, views) to start from."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


TOKEN = "xoxb-test-token-0123456789"


class SlackHarness:
    """A real bolt app serving HTTP on loopback, talking to the Web API stub."""

    def __init__(self, container: Container, api: SlackAPIStub) -> None:
        self.api = api
        self.bot = SlackBot(container, container.settings.slack)
        self._server = LoopbackServer()
        # The app as `run slack --http` serves it: bolt behind our middleware, health beside.
        self.port = self._server.serve(self.bot.web_app(path="/slack/events"))

    def stop(self) -> None:
        self._server.stop()

    def post(self, body: str, content_type: str, headers=None, timestamp=None, secret=SECRET):
        timestamp = str(int(timestamp or time.time()))
        signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/slack/events",
            data=body.encode(),
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": signature,
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def event(self, event, event_id="Ev1", **kw):
        body = {**fixture("app_mention"), "event_id": event_id, "event_time": int(time.time())}
        body["event"] = event
        return self.post(json.dumps(body), "application/json", **kw)

    def command(self, text, user="U1", channel="C1"):
        form = {**fixture("slash_command"), "text": text, "channel_id": channel, "user_id": user,
                "user_name": f"name-{user}"}  # fmt: skip
        return self.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded")

    def action(self, action_id, value, user="U1", channel="C1", message=None):
        payload = fixture("block_actions")
        payload["user"] = {**payload["user"], "id": user, "name": user}
        payload["channel"]["id"] = channel
        payload["message"] = message or payload["message"]
        payload["actions"][0].update(action_id=action_id, value=value)
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return self.post(body, "application/x-www-form-urlencoded")


@pytest.fixture
def slack(indexed_data_dir, models_dir, redis_url, redis_prefix):
    api = SlackAPIStub().start()
    container = Container(
        Settings(
            data_dir=indexed_data_dir,
            models_path=models_dir,
            redis=RedisSettings(url=redis_url, key_prefix=redis_prefix),
            slack=SlackSettings(bot_token=TOKEN, signing_secret=SECRET, api_url=api.base_url),
            rate_limit="10/minute",
        )
    )
    harness = SlackHarness(container, api)
    yield harness
    harness.stop()
    api.stop()


def blocks_of(params):
    """Blocks of a recorded call (a JSON string in form posts, a list in JSON posts)."""
    blocks = params["blocks"]
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def mention(text, ts="100.1", user="U1", **extra):
    event = fixture("app_mention")["event"]
    return {**event, "user": user, "text": f"<@UBOT> {text}", "ts": ts, "event_ts": ts, **extra}


def test_a_mention_is_answered_in_its_thread_with_blocks(slack):
    status, _ = slack.event(mention("why add randomness to retry delays"))
    assert status == 200
    [placeholder] = slack.api.wait_for("chat.postMessage")
    assert placeholder["thread_ts"] == "100.1" and "Thinking" in placeholder["text"]
    assert str(placeholder["unfurl_media"]).lower() in {"false", "0"}  # no outside media
    [update] = slack.api.wait_for("chat.update")
    blocks = blocks_of(update)
    text = json.dumps(blocks)
    assert "Jitter" in text and "Sources:" in text
    actions = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert {"quiz_on_this", "feedback_helpful", "feedback_not_helpful"} <= set(actions)


def test_retries_of_one_event_give_exactly_one_reply(slack):
    event = mention("what is a quorum", ts="200.1")
    assert slack.event(event, event_id="EvDup")[0] == 200
    assert slack.event(event, event_id="EvDup", headers={"X-Slack-Retry-Num": "1"})[0] == 200
    assert slack.event(event, event_id="EvDup", headers={"X-Slack-Retry-Num": "2"})[0] == 200
    slack.api.wait_for("chat.update")
    time.sleep(0.5)
    assert len(slack.api.of("chat.postMessage")) == 1


def test_bots_and_itself_are_ignored(slack):
    slack.event(mention("what is raft", bot_id="BOTHER"), event_id="Ev2")
    bot_dm = {"type": "message", "subtype": "bot_message", "text": "hi", "ts": "3.1",
              "channel": "D1", "channel_type": "im", "bot_id": "BBOT"}  # fmt: skip
    slack.event(bot_dm, event_id="Ev3")
    time.sleep(1)
    assert slack.api.of("chat.postMessage") == []


@pytest.mark.parametrize("problem", ["bad-signature", "old-timestamp"])
def test_unsigned_or_stale_requests_get_401_and_run_nothing(slack, problem):
    kwargs = {"secret": "wrong"} if problem == "bad-signature" else {"timestamp": time.time() - 600}
    status, _ = slack.event(mention("what is raft"), event_id="Ev4", **kwargs)
    assert status == 401
    time.sleep(0.5)
    assert slack.api.of("chat.postMessage") == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ("payload=%7Bnot+json", "application/x-www-form-urlencoded"),
        ("\u00ff\u00fe", "application/x-www-form-urlencoded"),
        ("hello", "text/plain"),
        ("", "application/json"),
    ],
    ids=["broken-json", "json-array", "form-bad-payload", "not-a-form", "text", "empty"],
)
def test_a_malformed_body_gets_400_not_500_and_runs_nothing(slack, body, content_type):
    status, text = slack.post(body, content_type)  # signed: only its shape is wrong
    assert status == 400 and "not JSON or a form" in text
    assert slack.post(json.dumps({"type": "url_verification", "challenge": "c"}),
                      "application/json")[0] == 200  # fmt: skip
    time.sleep(0.3)
    assert slack.api.calls == []


def test_direct_messages_and_thread_follow_ups(slack):
    dm = {"type": "message", "channel_type": "im", "user": "U1", "text": "what is a fencing token",
          "ts": "7.1", "channel": "D1"}  # fmt: skip
    slack.event(dm, event_id="EvDm")
    slack.api.wait_for("chat.update")
    slack.event(mention("what is CAP", ts="8.1"), event_id="EvM")
    slack.api.wait_for("chat.update", 2)
    follow = {"type": "message", "channel_type": "channel", "user": "U1", "text": "and for likes?",
              "ts": "8.5", "thread_ts": "8.1", "channel": "C1"}  # fmt: skip
    slack.event(follow, event_id="EvF")
    slack.api.wait_for("chat.update", 3)
    stranger = {**follow, "user": "U2", "ts": "8.6"}
    slack.event(stranger, event_id="EvS")
    time.sleep(1)
    assert len(slack.api.of("chat.update")) == 3


def test_mentions_in_answers_ping_nobody(slack):
    slack.event(
        mention("<!channel> @everyone what is a circuit breaker <!subteam^S1|@oncall>"),
        event_id="EvX",
    )
    [update] = slack.api.wait_for("chat.update")
    assert "<!channel>" not in json.dumps(update) and "<!subteam" not in json.dumps(update)


def test_study_level_chooses_and_refuses_an_unknown_one(slack):
    slack.command("level beginner")
    assert "beginner level" in slack.api.wait_for("chat.postEphemeral")[0]["text"]
    slack.command("level upside-down")
    refusal = slack.api.wait_for("chat.postEphemeral", 2)[1]["text"]
    assert "choose beginner, intermediate, advanced or auto" in refusal


def test_slash_help_unknown_and_quiz_buttons(slack):
    slack.command("help")
    assert "/study quiz" in slack.api.wait_for("chat.postEphemeral")[0]["text"]
    slack.command("frobnicate")
    assert "don't know" in slack.api.wait_for("chat.postEphemeral", 2)[1]["text"]
    slack.command("quiz consensus")
    prompt = slack.api.wait_for("chat.postEphemeral", 3)[2]
    blocks = blocks_of(prompt)
    button = blocks[1]["elements"][0]
    slack.action(button["action_id"], button["value"])
    result = slack.api.wait_for("chat.postEphemeral", 4)[3]
    assert "Source: 04-consensus.md" in json.dumps(result)


def test_rate_limit_refuses_the_eleventh_question_in_a_minute(slack):
    for n in range(11):
        slack.event(mention(f"what is raft {n}", ts=f"30{n}.1"), event_id=f"EvR{n}")
    refusals = slack.api.wait_for("chat.postEphemeral")
    assert "faster than I can keep up" in refusals[0]["text"]
    slack.api.wait_for("chat.update", 10)
    assert len(slack.api.of("chat.postMessage")) == 10


@pytest.mark.slow  # waits out real timeouts or retry delays
def test_429_retry_after_is_honoured_once(slack):
    slack.api.failures["chat.postMessage"].append(
        web.json_response(
            {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "2"}
        )
    )
    slack.event(mention("what is a saga"), event_id="Ev429")
    slack.api.wait_for("chat.update")
    times = [t for name, _, t in slack.api.calls if name == "chat.postMessage"]
    assert len(times) == 2 and times[1] - times[0] >= 2.0


def test_feedback_buttons_and_reason(slack):
    slack.event(mention("what is a bulkhead"), event_id="EvFb")
    [update] = slack.api.wait_for("chat.update")
    blocks = blocks_of(update)
    answer_id = next(e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]
                     if e["action_id"] == "feedback_helpful")  # fmt: skip
    slack.action("feedback_not_helpful", answer_id)
    [modal] = slack.api.wait_for("views.open")
    assert "feedback_reason" in json.dumps(modal)
    rated = slack.bot.container.feedback.rated(not_helpful_only=True)
    assert [r.record.question for r in rated] == ["what is a bulkhead"]


def test_streak_and_a_leaderboard_with_its_streak_read_as_on_discord(slack):
    slack.command("streak")
    assert slack.api.wait_for("chat.postEphemeral")[0]["text"].startswith("Your streak: *0* day(s)")
    slack.command("group create Paxos Pals")
    slack.command("group leaderboard Paxos Pals")
    board = slack.api.wait_for("chat.postEphemeral", 3)[2]["text"]
    assert board.startswith("*Paxos Pals* this week (group streak: 0 day(s)):")


def test_a_student_cannot_change_the_channels_course(slack):
    slack.command("course distributed-systems", user="U5")
    assert "Only channel managers" in slack.api.wait_for("chat.postEphemeral")[0]["text"]
    slack.api.admins.add("U6")
    slack.command("course distributed-systems", user="U6")
    assert "now uses" in slack.api.wait_for("chat.postEphemeral", 2)[1]["text"]


def test_only_managers_subscribe_a_channel(slack):
    slack.command("subscribe 07:30 Europe/Berlin weekdays", user="U5")
    assert "Only channel managers" in slack.api.wait_for("chat.postEphemeral")[0]["text"]
    slack.api.admins.add("U6")
    slack.command("subscribe 07:30 Europe/Berlin weekdays", user="U6")
    assert "07:30 Europe/Berlin" in slack.api.wait_for("chat.postEphemeral", 2)[1]["text"]


def test_stats_uploads_a_chart(slack):
    slack.command("stats")
    slack.api.wait_for("files.completeUploadExternal")
    [upload] = slack.api.wait_for("upload")
    assert upload["_head"] == b"\x89PNG\r\n\x1a\n" and upload["_bytes"] > 1000  # a PNG image


def test_long_answers_split_under_block_limits():
    text = ("word " * 700 + "\n\n") * 4  # about 14,000 characters
    pieces = split_text(text)
    assert all(len(p) <= 3000 for p in pieces) and " ".join(pieces).split() == text.split()


def test_escaping_keeps_text_from_becoming_links_or_mentions():
    assert (
        escape("<!channel> & <@U1> <http://x|y>")
        == "&lt;!channel&gt; &amp; &lt;@U1&gt; &lt;http://x|y&gt;"
    )


def test_a_reply_renders_escaped_markdown_with_feedback_buttons():
    from bot.core.models import Reply

    reply = Reply("**Quorums** overlap: <!here> W + R > N.", "extractive", True, "consistency")
    text, blocks = render_reply(reply)
    body = json.dumps(blocks)
    assert "*Quorums* overlap: &lt;!here&gt; W + R &gt; N." in body and "<!here>" not in body
    assert "<!here>" not in text  # the notification text too
    buttons = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert {"feedback_helpful", "feedback_not_helpful"} <= set(buttons), buttons


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "SLACK_BOT_TOKEN is not set"),
        ({"SLACK_BOT_TOKEN": "nope"}, "SLACK_BOT_TOKEN looks malformed"),
        ({"SLACK_BOT_TOKEN": TOKEN}, "SLACK_APP_TOKEN is not set"),
        (
            {"SLACK_BOT_TOKEN": TOKEN, "SLACK_APP_TOKEN": "xoxb-wrong-kind-of-token"},
            "SLACK_APP_TOKEN looks",
        ),
    ],
)
def test_missing_or_malformed_tokens_name_the_variable(cli_env, monkeypatch, capsys, env, message):
    from tests.conftest import call

    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, _, err = call(capsys, "run", "slack")
    assert code == 2 and message in err
    assert TOKEN not in err


def test_the_slack_outbox_posts_daily_quizzes_paced_per_channel():
    from bot.adapters.slack.outbox import SlackOutbox
    from bot.core.models import Address
    from bot.schedule.outbox import DeliveryError, PushMessage

    api = SlackAPIStub().start()
    try:
        outbox = SlackOutbox(SlackSettings(bot_token=TOKEN, api_url=api.base_url))
        message = PushMessage("2026-03-02", "cap-x", "cap", "multiple-choice", "Q?", ["A", "B"])
        for _ in range(3):
            outbox.deliver(Address("slack", "T1", "C1"), message)
        outbox.deliver(Address("slack", "T1", "C2"), message)
        times = [t for name, params, t in api.calls if name == "chat.postMessage"]
        assert len(times) == 4 and times[2] - times[0] >= 1.9  # C1 paced at 1/s
        assert "i|cap-x|0" in json.dumps(api.of("chat.postMessage")[0])
        api.failures["chat.postMessage"].append(
            web.json_response({"ok": False, "error": "channel_not_found"})
        )
        with pytest.raises(DeliveryError, match="channel_not_found"):
            outbox.deliver(Address("slack", "T1", "C3"), message)
    finally:
        api.stop()


@pytest.mark.slow
def test_run_slack_http_serves_signed_events_as_a_process(subprocess_env, tmp_path):
    import os
    import subprocess
    import sys

    from bot.config import REPO_ROOT
    from tests.conftest import free_port

    api = SlackAPIStub().start()
    port = free_port()
    env = {**subprocess_env, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": api.base_url}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "slack", "--http", "--port", str(port)],
        env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        harness = SlackHarness.__new__(SlackHarness)
        harness.port, harness.api = port, api
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = harness.event(mention("what is a quorum"), event_id="EvProc")
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.3)
        assert status == 200
        assert "quorum" in json.dumps(api.wait_for("chat.update", timeout=60)[0]).lower()
        assert os.environ.get("SLACK_BOT_TOKEN") != TOKEN
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
        api.stop()
        assert TOKEN not in stderr.decode() and SECRET not in stderr.decode()


def test_the_manifest_declares_everything_the_bot_uses():
    import yaml

    from bot.config import REPO_ROOT

    manifest = yaml.safe_load((REPO_ROOT / "deploy" / "slack" / "manifest.yaml").read_text())
    features, settings = manifest["features"], manifest["settings"]
    assert [c["command"] for c in features["slash_commands"]] == ["/study"]
    assert features["app_home"]["home_tab_enabled"] and features["bot_user"]["display_name"]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "commands", "im:history", "files:write",
            "users:read", "assistant:write"} <= scopes  # fmt: skip
    events = set(settings["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.im", "message.channels", "app_home_opened",
            "assistant_thread_started"} <= events  # fmt: skip
    assert settings["interactivity"]["is_enabled"] and settings["socket_mode_enabled"]


def test_app_home_and_channel_quiz_counts(slack):
    slack.command("group create Paxos Pals")
    slack.api.wait_for("chat.postEphemeral")
    slack.event({"type": "app_home_opened", "user": "U1", "tab": "home"}, event_id="EvHome")
    [home] = slack.api.wait_for("views.publish")
    assert "Your study progress" in json.dumps(home) and "Paxos Pals" in json.dumps(home)
    from bot.adapters.slack.translate import render_push
    from bot.schedule.outbox import PushMessage

    item = next(
        i
        for i in slack.bot.container.catalog.quiz_bank("distributed-systems").items.values()
        if i.kind == "multiple-choice"
    )
    _, blocks = render_push(
        PushMessage("2026-03-02", item.id, item.concept, item.kind, item.text, item.options)
    )
    message = {"ts": "77.0", "text": item.text, "blocks": blocks}
    for user in ("U1", "U2"):
        slack.action("quiz_answer_0", blocks[1]["elements"][0]["value"], user=user, message=message)
    updates = slack.api.wait_for("chat.update", 2)
    assert "2 answered so far" in json.dumps(updates[-1])
    assert "U1" not in json.dumps(updates[-1]) and "U2" not in json.dumps(updates[-1])
    assert len(slack.api.wait_for("chat.postEphemeral", 3)) == 3  # each clicker, privately


def test_feedback_cli_lists_and_exports_rated_answers(
    slack, cli_redis_env, capsys, tmp_path, monkeypatch
):
    from tests.conftest import call

    monkeypatch.setenv("REDIS_KEY_PREFIX", slack.bot.container.settings.redis.key_prefix)
    slack.event(mention("what is a fencing token"), event_id="EvFc")
    [update] = slack.api.wait_for("chat.update")
    answer_id = next(
        e["value"] for b in blocks_of(update) if b["type"] == "actions"
        for e in b["elements"] if e["action_id"] == "feedback_not_helpful"
    )  # fmt: skip
    slack.action("feedback_not_helpful", answer_id)
    slack.api.wait_for("views.open")
    code, out, _ = call(capsys, "feedback", "--not-helpful")
    assert code == 0 and "NOT helpful" in out and "what is a fencing token" in out
    target = tmp_path / "eval.jsonl"
    assert call(capsys, "feedback", "--export-eval", str(target))[0] == 0
    [line] = [json.loads(x) for x in target.read_text().splitlines()]
    assert line["question"] == "what is a fencing token" and line["expect"]


def view_submission(slack, view, user="U1"):
    payload = {**fixture("view_submission"), "view": view}
    payload["user"] = {**payload["user"], "id": user}
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    return slack.post(body, "application/x-www-form-urlencoded")


def test_template_modal_prefilled_from_the_question_then_submitted(slack):
    slack.command("template cap-analysis for a ride-sharing app. Data types: payments, ratings")
    [opened] = slack.api.wait_for("views.open")
    view = json.loads(opened["view"]) if isinstance(opened["view"], str) else opened["view"]
    inputs = {b["block_id"]: b["element"].get("initial_value") for b in view["blocks"]}
    assert inputs == {"system": "a ride-sharing app", "data_types": "payments\nratings"}

    submitted = {**view, "state": {"values": {
        "system": {"system": {"type": "plain_text_input", "value": "a ride-sharing app"}},
        "data_types": {"data_types": {"type": "plain_text_input", "value": "payments\nratings"}},
    }}}  # fmt: skip
    assert view_submission(slack, submitted)[0] == 200
    [posted] = slack.api.wait_for("chat.postMessage")
    text = json.dumps(blocks_of(posted))
    assert "Filled prompt" in text and "- ratings" in text

    empty = {**view, "state": {"values": {
        "system": {"system": {"type": "plain_text_input", "value": " "}},
        "data_types": {"data_types": {"type": "plain_text_input", "value": ""}},
    }}}  # fmt: skip
    status, body = view_submission(slack, empty)
    assert status == 200 and json.loads(body)["response_action"] == "errors"


@pytest.mark.slow
def test_ack_is_immediate_while_a_slow_llm_answers_later(
    indexed_data_dir, models_dir, redis_url, redis_prefix, monkeypatch
):
    from bot.config import LLMSettings
    from tests.fakes.openai_stub import OpenAIStub

    with OpenAIStub() as llm:
        monkeypatch.setenv("OPENAI_BASE_URL", llm.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abcdefghijklmnopqrstuvwxyz")
        llm.default = {"sleep": 10, "text": "Slow but grounded [1]."}
        api = SlackAPIStub().start()
        container = Container(
            Settings(
                data_dir=indexed_data_dir, models_path=models_dir,
                redis=RedisSettings(url=redis_url, key_prefix=redis_prefix),
                slack=SlackSettings(bot_token=TOKEN, signing_secret=SECRET, api_url=api.base_url),
                llm_model="openai:gpt-test", llm_options=LLMSettings(timeout_seconds=20),
            )
        )  # fmt: skip
        harness = SlackHarness(container, api)
        try:
            started = time.monotonic()
            status, _ = harness.event(mention("what is a quorum"), event_id="EvSlow")
            assert status == 200 and time.monotonic() - started < 3
            api.wait_for("chat.postMessage", timeout=5)  # the thinking placeholder
            [update] = api.wait_for("chat.update", timeout=40)
            assert time.monotonic() - started >= 10
            assert "Slow but grounded" in json.dumps(update)
        finally:
            harness.stop()
            api.stop()


def test_every_study_subcommand_answers_with_what_it_was_asked(slack):
    slack.api.admins.add("U1")
    slack.command("ask what is a quorum")
    assert "quorum" in json.dumps(slack.api.wait_for("chat.update")[0]).lower()
    replies = [
        ("course", "This channel uses *distributed-systems*."),
        ("course distributed-systems", "This channel now uses *distributed-systems*."),
        ("streak", "Your streak: *0* day(s)"),
        ("link", "Your link code is *"),
        ("link ZZZZZZ", "wrong or has expired"),  # the one refusal asked for
        ("group create Raft Fans", "Created *Raft Fans*; others can"),
        ("group join Raft Fans", "Joined *Raft Fans*."),
        ("group list", "Raft Fans (1 member)"),
        ("group leaderboard Raft Fans", "*Raft Fans* this week (group streak: 0 day(s)):"),
        ("group leave Raft Fans", "Left *Raft Fans*."),
        (
            "subscribe 08:00 UTC daily",
            "Daily quiz here at 08:00 UTC on mon,tue,wed,thu,fri,sat,sun",
        ),
        ("subscriptions", "<#C1> 08:00 UTC"),
        ("unsubscribe", "Daily quiz stopped for this channel."),
        ("template", "Templates (open one with `/study template ID`"),
        ("level advanced", "now written for the advanced level"),
        ("help", "`/study quiz [concept]`"),
    ]
    for number, (text, expected) in enumerate(replies, 1):
        slack.command(text)
        said = slack.api.wait_for("chat.postEphemeral", number)[-1]["text"]
        assert expected in said, (text, said)


def test_quick_check_reveal_and_rating_buttons(slack):
    container = slack.bot.container
    item = next(
        i
        for i in container.catalog.quiz_bank("distributed-systems").items.values()
        if i.kind == "quick-check"
    )
    from bot.core.models import Address, Incoming

    student = Incoming(Address("slack", "T1", "C1"), "U1", "quiz", "quiz")
    prompt = container.quiz.next_prompt(student, "distributed-systems", item_id=item.id)
    slack.action("quiz_reveal", prompt.prompt_id)
    [revealed] = slack.api.wait_for("chat.postEphemeral")
    rate = next(e for b in blocks_of(revealed) if b["type"] == "actions" for e in b["elements"]
                if e["action_id"] == "quiz_rate_good")  # fmt: skip
    assert item.model_answer[:40] in json.dumps(revealed)
    slack.action("quiz_rate_good", rate["value"])
    [_, rated] = slack.api.wait_for("chat.postEphemeral", 2)
    assert "Model answer" in json.dumps(rated)
    assert container.quiz.stats(student, "distributed-systems").cards == 1


def test_follow_up_and_quiz_me_on_this_buttons(slack):
    slack.action("followup_0", "Tell me more about Circuit breakers", message={"ts": "9.0"})
    [placeholder] = slack.api.wait_for("chat.postMessage")
    assert placeholder["thread_ts"] == "9.0"
    slack.api.wait_for("chat.update")
    slack.action("quiz_on_this", "fault-tolerance")
    [prompt] = slack.api.wait_for("chat.postEphemeral")
    assert "(fault-tolerance)" in json.dumps(prompt)


def test_the_assistant_surface_suggests_prompts_and_answers_with_a_status(slack):
    started = {"type": "assistant_thread_started", "event_ts": "40.2",
               "assistant_thread": {"user_id": "U1", "channel_id": "D1", "thread_ts": "40.1",
                                    "context": {"channel_id": "C1", "team_id": "T1"}}}  # fmt: skip
    slack.event(started, event_id="EvA1")
    [prompts] = slack.api.wait_for("assistant.threads.setSuggestedPrompts")
    assert "Quiz me" in json.dumps(prompts) and "Explain CAP" in json.dumps(prompts)
    question = {"type": "message", "user": "U1", "text": "what is a quorum", "ts": "40.3",
                "thread_ts": "40.1", "channel": "D1", "channel_type": "im"}  # fmt: skip
    slack.event(question, event_id="EvA2")
    [status] = slack.api.wait_for("assistant.threads.setStatus")
    assert "thinking" in status["status"]
    answer = slack.api.wait_for("chat.postMessage", 2)[1]
    assert answer["thread_ts"] == "40.1" and "quorum" in json.dumps(answer).lower()


def test_edit_opens_the_template_form_prefilled_with_what_was_understood(slack):
    text = "CAP trade-offs for a bike rental app. Data: bikes, rentals"
    slack.event(mention(text, ts="300.1"), event_id="EvEdit")
    [update] = slack.api.wait_for("chat.update")
    assert "Understood: *System:* a bike rental app" in json.dumps(update)
    [edit] = [e for b in blocks_of(update) if b["type"] == "actions" for e in b["elements"]
              if e["action_id"] == "edit_template"]  # fmt: skip
    slack.action("edit_template", edit["value"], message={"ts": "300.2", "thread_ts": "300.1"})
    [modal] = slack.api.wait_for("views.open")
    view = json.loads(modal["view"]) if isinstance(modal["view"], str) else modal["view"]
    initial = {b["block_id"]: b["element"].get("initial_value") for b in view["blocks"]}
    assert initial == {"system": "a bike rental app", "data_types": "bikes\nrentals"}
    assert json.loads(view["private_metadata"])["thread"] == "300.1"


def test_open_prompt_modal_and_not_helpful_reason(slack):
    slack.event(
        mention("Analyze the CAP trade-offs for a chat app. Data types: messages"), event_id="EvOp"
    )
    [update] = slack.api.wait_for("chat.update")
    blocks = blocks_of(update)
    answer_id = next(e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]
                     if e["action_id"] == "open_prompt")  # fmt: skip
    slack.action("open_prompt", answer_id, message={"ts": "5.0", "blocks": blocks})
    [modal] = slack.api.wait_for("views.open")
    assert "- messages" in json.dumps(modal)

    reason = {"type": "modal", "callback_id": "feedback_reason",
              "private_metadata": f"{answer_id}|C1",
              "state": {"values": {"reason": {"reason": {"type": "plain_text_input",
                                                         "value": "too abstract"}}}}}  # fmt: skip
    assert view_submission(slack, reason)[0] == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rated = slack.bot.container.feedback.rated(not_helpful_only=True)
        if rated:
            break
        time.sleep(0.1)
    assert [(r.record.answer_id, r.reason) for r in rated] == [(answer_id, "too abstract")]
