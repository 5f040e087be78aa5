"""Property 22, bad input everywhere: fuzzed CLI arguments, core calls and platform payloads are
refused with a short message and no traceback, never crash the bot, and change no state."""

from __future__ import annotations

import itertools
import json
import time
import urllib.parse
from datetime import UTC, datetime

import pytest
import redis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.adapters.discord import translate as discord_translate
from bot.adapters.slack import translate as slack_translate
from bot.adapters.slack.middleware import well_formed
from bot.core.errors import InputError, NotAllowedError, NotFoundError, StateUnavailableError
from bot.core.models import Reply, TemplateFill
from tests import test_discord, test_slack
from tests.conftest import call, student

# The only errors the core may raise at a caller; anything else is a bug that would reach a
# student as a crash (adapters) or exit code 1 with a type name (CLI).
USER_ERRORS = (InputError, NotFoundError, NotAllowedError, StateUnavailableError)

# Text that has broken parsers, terminals, templates, key builders and chat renderers before.
NASTY = [
    "\x00",
    "\x00what is raft\x00",
    "\u202eevil right-to-left \u202c what is CAP",
    "\u200b\u200c\u200d\ufeff",
    "\u200bwhat\u200b is\u200b a\u200b quorum",
    "مرحبا ما هو الإجماع",
    "'; DROP TABLE cards; --",
    "{{7*7}} {% raw %} ${jndi:ldap://127.0.0.1/a}",
    "../../../../etc/passwd",
    "<script>alert(1)</script>",
    "[bold red]markup[/] [link=file:///etc]x[/link]",
    "%s%s%n %(name)s {0}",
    "\r\n\t\x0b\x0c\x1b[31m",
    "<!channel> @everyone <@U1> <@&123> <#C1>",
    "sb:{slack:T1}:* KEYS *",
    "-- --help",
    "-v",
    "null",
    "",
    " ",
]
HUGE = ["A" * 100_000, "why " * 25_000, "\u200b" * 100_000]
any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
nasty_text = st.one_of(
    any_text,
    st.sampled_from(NASTY),
    st.builds(str.__add__, st.sampled_from(NASTY), any_text),
)
huge_or_nasty = st.one_of(nasty_text, st.sampled_from(HUGE))


def fuzz(examples: int) -> settings:
    """Hypothesis settings for tests over the real model and Redis (slow per example)."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
        database=None,
    )


# -- the CLI -------------------------------------------------------------------

# Subcommands that take user text; none of them writes files or spends minutes (no ingest,
# bench, run, worker or --chart/--export-eval paths: those are not input to fuzz blindly).
cli_argv = st.one_of(
    st.tuples(st.just("ask"), huge_or_nasty),
    st.tuples(st.just("ask"), nasty_text, st.just("--thread"), nasty_text),
    st.tuples(st.just("ask"), nasty_text, st.just("--course"), nasty_text),
    st.tuples(st.just("ask"), nasty_text, st.just("--template"), nasty_text),
    st.tuples(st.just("search"), huge_or_nasty),
    st.tuples(st.just("search"), nasty_text, st.just("--k"), nasty_text),
    st.tuples(st.just("quiz"), st.just("--concept"), nasty_text),
    st.tuples(st.just("quiz"), st.just("answer"), nasty_text, nasty_text),
    st.tuples(st.just("quiz"), st.just("rate"), nasty_text, nasty_text),
    st.tuples(
        st.just("group"),
        st.sampled_from(["create", "join", "leave", "members", "leaderboard"]),
        huge_or_nasty,
    ),
    st.tuples(st.just("group"), st.just("list"), st.just("--tenant"), nasty_text),
    st.tuples(
        st.just("group"), st.just("leaderboard"), nasty_text, st.just("--period"), nasty_text
    ),
    st.tuples(st.just("subscribe"), nasty_text, nasty_text, nasty_text),
    st.tuples(st.just("subscribe"), st.just("07:30"), nasty_text, st.just("--channel"), nasty_text),
    st.tuples(st.just("link"), huge_or_nasty),
    st.tuples(st.just("link"), st.just("--tenant"), nasty_text),
    st.tuples(st.just("feedback"), st.sampled_from(["--json", "--not-helpful", "--bogus"])),
    st.tuples(st.just("reminders"), st.just("--on"), st.just("--quiet"), nasty_text),
    st.tuples(st.just("reminders"), st.just("--off"), st.just("--timezone"), nasty_text),
    st.tuples(st.just("push"), st.just("--tick"), st.just("--at"), nasty_text),
    st.tuples(st.just("dlq"), st.sampled_from(["retry", "drop"]), nasty_text),
    st.tuples(st.just("templates"), nasty_text),
    st.tuples(st.just("trace"), st.just("--tenant"), nasty_text),
).map(list)


@pytest.mark.slow  # 45 CLI runs in one test
@fuzz(45)
@given(argv=cli_argv)
@example(argv=["ask", "\x00"])
@example(argv=["search", "x", "--k", "A" * 100_000])
@example(argv=["group", "create", "A" * 100_000])
def test_the_cli_refuses_bad_input_in_one_short_line(cli_redis_env, capsys, argv):
    code, _out, err = call(capsys, *argv)  # call() itself asserts there is no traceback
    # 1 means an unexpected failure (or Redis down, and it is up here): never a user's mistake.
    assert code in (0, 2), (code, err[:300])
    if code:
        assert err.startswith("studybot: ") and len(err) < 300, err[:400]
        assert len(err.strip().splitlines()) == 1, err[:400]


# -- the core API --------------------------------------------------------------


def snapshot(client: redis.Redis, prefix: str) -> dict[bytes, tuple[bytes, bytes | None]]:
    """Every key under the test's prefix with its type and serialized value."""
    return {
        key: (client.type(key), client.dump(key))
        for key in client.scan_iter(match=f"{prefix}:*", count=1000)
    }


def refused_without_change(raw: redis.Redis, prefix: str, action) -> None:
    """Run `action`: it may succeed, or raise a user error; a refusal changes no key."""
    before = snapshot(raw, prefix)
    try:
        action()
    except USER_ERRORS:
        assert snapshot(raw, prefix) == before


@fuzz(30)
@given(text=huge_or_nasty, thread=nasty_text, course=st.one_of(st.none(), nasty_text))
@example(text="\x00", thread="t", course=None)
@example(text="what is a quorum", thread="t", course="../etc")
def test_ask_answers_or_refuses_without_touching_state(
    app, redis_url, redis_prefix, text, thread, course
):
    raw = redis.Redis.from_url(redis_url)
    incoming = student(text, thread=thread, course=course)
    refused_without_change(raw, redis_prefix, lambda: app.assistant.ask(incoming))


TEMPLATE_IDS = ["cap-analysis", "resilience-design", "consistency-design", "event-driven-design"]
SLOT_NAMES = [
    "system", "data_types", "operations", "entities", "events", "services", "dependencies"
]  # fmt: skip
form_values = st.dictionaries(
    st.one_of(st.sampled_from(SLOT_NAMES), nasty_text),
    st.one_of(huge_or_nasty, st.lists(nasty_text, max_size=20)),
    max_size=6,
)


@fuzz(25)
@given(template_id=st.one_of(st.sampled_from(TEMPLATE_IDS), nasty_text), values=form_values)
def test_template_forms_fill_or_refuse_without_touching_state(
    app, redis_url, redis_prefix, template_id, values
):
    raw = redis.Redis.from_url(redis_url)
    incoming = student("template", thread="form")
    refused_without_change(
        raw, redis_prefix, lambda: app.assistant.fill_template(incoming, template_id, values)
    )


def core_calls(app, who, person, prompt_id):
    """Every core entry point that takes an id, a name or a code from a student."""
    quiz, groups, assistant = app.quiz, app.quiz.groups, app.assistant
    tenant, course = who.address.tenant_key, "distributed-systems"
    now = datetime.now(UTC)
    real_or = st.one_of(st.just(prompt_id), nasty_text)
    return st.one_of(
        st.builds(lambda p, r: lambda: quiz.answer(who, p, r), real_or, huge_or_nasty),
        st.builds(lambda p, r: lambda: quiz.rate(who, p, r), real_or, nasty_text),
        st.builds(lambda p: lambda: quiz.reveal(who, p), real_or),
        st.builds(
            lambda c, i: lambda: quiz.next_prompt(who, course, c, i),
            st.one_of(st.none(), nasty_text),
            st.one_of(st.none(), nasty_text),
        ),
        st.builds(lambda c: lambda: quiz.redeem_link(who, c), huge_or_nasty),
        st.builds(lambda q: lambda: quiz.set_reminders(who, True, q), nasty_text),
        st.builds(lambda z: lambda: quiz.set_timezone(who, z), nasty_text),
        st.builds(lambda n: lambda: groups.create(tenant, person, n, now), huge_or_nasty),
        st.builds(lambda n: lambda: groups.join(tenant, person, n), huge_or_nasty),
        st.builds(lambda n: lambda: groups.leave(tenant, person, n), huge_or_nasty),
        st.builds(lambda n: lambda: groups.members(tenant, n), nasty_text),
        st.builds(
            lambda n, p: lambda: groups.leaderboard(tenant, n, p, now.date()),
            nasty_text,
            st.one_of(st.sampled_from(["week", "all"]), nasty_text),
        ),
        st.builds(
            lambda c, admin: lambda: assistant.set_course(who.address, c, admin, True),
            nasty_text,
            st.booleans(),
        ),
        st.builds(
            lambda a, r: lambda: assistant.rate_answer(who.address, who.user, a, False, r),
            nasty_text,
            huge_or_nasty,
        ),
        st.builds(
            lambda a, i: lambda: assistant.followup(who.address, a, i),
            nasty_text,
            st.integers(-5, 10),
        ),
    )


@fuzz(60)
@given(data=st.data())
def test_quiz_group_link_and_feedback_calls_refuse_without_touching_state(
    app, redis_url, redis_prefix, data
):
    raw = redis.Redis.from_url(redis_url)
    who = student("quiz", thread="quiz", user="fuzzer")
    # The student exists before the fuzzing: a first contact creates their person id,
    # which is not a change a refusal has to undo.
    person = app.quiz.person(who)
    bank = app.catalog.quiz_bank("distributed-systems")
    item = next(i for i in bank.items.values() if i.kind == "multiple-choice")
    prompt = app.quiz.next_prompt(who, "distributed-systems", item_id=item.id)
    action = data.draw(core_calls(app, who, person, prompt.prompt_id))
    refused_without_change(raw, redis_prefix, action)


# -- the Slack app over signed HTTP ---------------------------------------------

slack = test_slack.slack  # the real bolt app on loopback, with the Web API stand-in
EVENT_IDS = itertools.count(1)
# Slack gets 200 for anything a listener acked; bolt itself answers 404 to a request no listener
# matches (an unknown event, action or view) and to one whose listener never acked, and aiohttp
# 413 to a body over 1 MiB (Slack's own payloads are far smaller).
ACCEPTED = {200, 404, 413}
SLACK_ACTIONS = [
    "followup_0", "followup_2", "feedback_helpful", "feedback_not_helpful", "quiz_on_this",
    "quiz_answer_0", "quiz_answer_4", "quiz_reveal", "quiz_try", "quiz_rate_good",
    "quiz_rate_again", "open_prompt",
]  # fmt: skip
SLACK_MODALS = ["template_submit", "feedback_reason"]
SUBCOMMANDS = [
    "", "help", "ask", "quiz", "streak", "link", "group", "group create", "group join",
    "group leave", "group members", "group leaderboard", "group list", "subscribe",
    "unsubscribe", "subscriptions", "course", "template", "template cap-analysis", "frobnicate",
]  # fmt: skip
button_values = st.one_of(
    nasty_text,
    st.builds(
        "{}|{}|{}".format,
        st.sampled_from(["p", "i", "x", ""]),
        st.one_of(st.sampled_from(["cap-1", "0123456789ab"]), nasty_text),
        st.one_of(st.sampled_from(["0", "3", "9", "good"]), nasty_text),
    ),
)


def keep_drop_or_replace(draw, payload: dict, keys, values=nasty_text, may_drop=True) -> dict:
    """The payload with each of `keys` kept, dropped (if it may be), or given a nasty value."""
    mutated = dict(payload)
    choices = ["keep", "drop", "replace"] if may_drop else ["keep", "replace"]
    for key in keys:
        how = draw(st.sampled_from(choices))
        if how == "drop":
            mutated.pop(key, None)
        elif how == "replace":
            mutated[key] = draw(values)
    return mutated


@st.composite
def slack_events(draw) -> dict:
    """Mentions and messages as Slack shapes them, with contents and optional keys fuzzed."""
    event = test_slack.mention("what is raft", ts="300.1")
    event["type"] = draw(st.one_of(st.sampled_from(["app_mention", "message"]), nasty_text))
    event["channel_type"] = draw(st.sampled_from(["im", "channel", "group"]))
    keys = ["user", "text", "ts", "thread_ts", "channel", "subtype", "team"]
    return keep_drop_or_replace(draw, event, keys, huge_or_nasty)


@st.composite
def slash_commands(draw) -> dict:
    """A /study form: a real subcommand and nasty text; every value Slack sends, fuzzed."""
    form = test_slack.fixture("slash_command")
    form["text"] = f"{draw(st.sampled_from(SUBCOMMANDS))} {draw(huge_or_nasty)}"
    # Slack always sends the team, channel and user ids: their values are fuzzed, not their
    # presence (without them bolt waits 3 s for an ack that never comes, then answers 404).
    ids = ["team_id", "channel_id", "user_id"]
    form = keep_drop_or_replace(draw, form, ids, any_text, may_drop=False)
    form = keep_drop_or_replace(draw, form, ["user_name", "channel_name", "trigger_id"])
    extra = st.dictionaries(any_text.filter(lambda key: key not in form), any_text, max_size=3)
    return {**form, **draw(extra)}  # fields Slack may add one day


@st.composite
def block_actions(draw) -> tuple[dict, bool]:
    """A button click: (payload, whether the action id is one of the bot's own)."""
    payload = test_slack.fixture("block_actions")
    action_id = draw(st.sampled_from([*SLACK_ACTIONS, "any"]))  # mostly the bot's own buttons
    action_id = draw(nasty_text) if action_id == "any" else action_id
    value = draw(button_values)[:2000]  # Slack caps a button's value at 2000 characters
    payload["actions"] = [{**payload["actions"][0], "action_id": action_id, "value": value}]
    # The message the button sat on (none for an ephemeral one): Slack's shape, any contents.
    section = st.builds(
        lambda text: {"type": "section", "text": {"type": "mrkdwn", "text": text}}, nasty_text
    )
    blocks = st.lists(st.one_of(section, st.just({"type": "divider"})), max_size=4)
    message = st.fixed_dictionaries({"type": st.just("message"), "ts": nasty_text,
                                     "text": nasty_text, "blocks": blocks})  # fmt: skip
    if draw(st.booleans()):
        payload["message"] = draw(message)
    else:
        payload.pop("message")
    return payload, action_id in SLACK_ACTIONS


@st.composite
def view_submissions(draw) -> tuple[dict, bool]:
    """A modal's submit with fuzzed callback, metadata and form values: (payload, whether the
    callback id is one of the bot's own modals)."""
    payload = test_slack.fixture("view_submission")
    metadata = st.one_of(
        nasty_text,
        st.builds(
            lambda template, text: json.dumps({"id": template, "channel": text, "thread": text}),
            st.one_of(st.sampled_from(TEMPLATE_IDS), nasty_text),
            nasty_text,
        ),
        st.builds("{}|C1".format, nasty_text),
    )
    # Slack returns a state entry for every input the bot's modal had (the reason box always),
    # with whatever was typed (3000 characters at most), and none for inputs it did not have.
    typed = st.one_of(st.none(), huge_or_nasty.map(lambda text: text[:3000]))
    block_ids = st.one_of(st.sampled_from(SLOT_NAMES), nasty_text)
    values = {"reason": draw(typed), **draw(st.dictionaries(block_ids, typed, max_size=4))}
    callback_id = draw(st.one_of(st.sampled_from(SLACK_MODALS), nasty_text))
    payload["view"] = {
        **payload["view"],
        "callback_id": callback_id,
        "private_metadata": draw(metadata),
        "state": {"values": {block: {block: {"type": "plain_text_input", "value": value}}
                             for block, value in values.items()}},
    }  # fmt: skip
    return payload, callback_id in SLACK_MODALS


def post_form(slack, form: dict) -> tuple[int, str]:
    """Post a form (a slash command, or an interaction's {"payload": ...}) signed."""
    return slack.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded")


def interaction(payload: dict) -> dict:
    """How Slack posts an interaction: its JSON in the form's payload field."""
    return {"payload": json.dumps(payload)}


def calls_since(api, started: float) -> list[tuple[str, dict]]:
    """Web API calls the bot made after `started`."""
    return [(name, params) for name, params, at in list(api.calls) if at >= started]


def wait_for_reply(api, started: float, timeout: float = 10) -> list[tuple[str, dict]]:
    """Poll until the bot has called the Web API since `started`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if calls := calls_since(api, started):
            return calls
        time.sleep(0.02)
    raise AssertionError("the bot never replied")


def assert_slack_still_answers(slack) -> None:
    """A normal mention after the fuzzing is answered, and no reply ever showed a traceback."""
    started = time.monotonic()
    question = test_slack.mention("what is a fencing token", ts="999.1", user="UFINAL")
    assert slack.event(question, event_id="EvFinal")[0] == 200
    deadline = started + 30
    while not any(
        name == "chat.update" and "fencing" in json.dumps(params).lower()
        for name, params in calls_since(slack.api, started)
    ):
        assert time.monotonic() < deadline, "the mention after the fuzzing was never answered"
        time.sleep(0.05)
    sent = json.dumps([params for _, params, _ in slack.api.calls])
    assert "Traceback" not in sent and 'File "' not in sent


def test_mutated_slack_events_are_acked_and_the_app_keeps_answering(slack):
    @fuzz(40)
    @given(event=slack_events())
    def post(event):
        status, body = slack.event(event, event_id=f"EvFuzz{next(EVENT_IDS)}")
        assert status in ACCEPTED and "Traceback" not in body, (status, body[:300])

    post()
    assert_slack_still_answers(slack)


def test_fuzzed_slack_slash_commands_always_get_an_answer(slack):
    slack.api.admins.add("U1")  # so the manager-only subcommands run too

    @fuzz(40)
    @given(form=slash_commands())
    def post(form):
        started = time.monotonic()
        status, body = post_form(slack, form)
        assert status == 200, (status, body[:300])
        wait_for_reply(slack.api, started)

    post()
    assert_slack_still_answers(slack)


def test_slack_clicks_with_any_action_id_and_value_are_acked_and_ours_answered(slack):
    @fuzz(50)
    @given(click=block_actions())
    def post(click):
        payload, ours = click
        started = time.monotonic()
        status, response = post_form(slack, interaction(payload))
        assert status in ACCEPTED, (status, response[:300])
        if ours:  # every button the bot renders gets a reply, whatever value it carries
            assert status == 200, (status, response[:300])
            wait_for_reply(slack.api, started)

    post()
    assert_slack_still_answers(slack)


def test_slack_modal_submissions_with_any_values_are_acked_in_time(slack):
    @fuzz(40)
    @given(submission=view_submissions())
    def post(submission):
        payload, ours = submission
        status, response = post_form(slack, interaction(payload))
        assert status in ACCEPTED and "Traceback" not in response, (status, response[:300])
        if ours:  # acked in time, whatever the form held (a 404 here shows the user an error)
            assert status == 200, (status, response[:300])

    post()
    assert_slack_still_answers(slack)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def malformed_slack_bodies(draw) -> str:
    """JSON bodies Slack never sends: not JSON, not an object, or a field of the wrong type."""
    envelope = test_slack.fixture("app_mention")
    event_key = st.sampled_from(["type", "user", "text", "ts", "channel", "thread_ts", "team"])
    return draw(
        st.one_of(
            nasty_text,
            json_values.map(json.dumps),
            json_values.map(lambda event: json.dumps({**envelope, "event": event})),
            st.builds(
                lambda key, value: json.dumps(
                    {**envelope, "event": {**envelope["event"], key: value}}
                ),
                event_key,
                json_values,
            ),
        )
    )


def test_bodies_slack_never_sends_get_no_traceback_and_the_app_keeps_answering(slack):
    # A body that is not a JSON object gets 400 from the middleware in front of bolt. One with
    # a field of the wrong type fails in bolt's parsing, before any listener runs: aiohttp's
    # generic 500 page. Either way the next request is served as usual.
    @fuzz(40)
    @given(body=malformed_slack_bodies())
    def post(body):
        status, response = slack.post(body, "application/json")
        assert status in {*ACCEPTED, 400, 500} and "Traceback" not in response, (status, response)
        if status == 400:  # only for a body that is not a JSON object
            assert not well_formed(body.encode(), "application/json")

    post()
    assert_slack_still_answers(slack)


# -- the Discord client, fed gateway payloads ------------------------------------

discord_bot = test_discord.discord_bot  # real discord.py logged in to the REST stand-in
MANAGE_CHANNELS = str(1 << 4)
discord_key = st.from_regex(r"[\w-]{1,24}", fullmatch=True)
discord_options = {
    "ask": {"question": huge_or_nasty},
    "quiz": {"concept": nasty_text},
    "stats": {},
    "streak": {},
    "trace": {},
    "link": {"code": huge_or_nasty},
    "template": {"template": st.one_of(st.sampled_from(TEMPLATE_IDS), nasty_text),
                 "question": nasty_text},
    # Discord itself only lets a member pick one of the declared choices.
    "group": {"action": st.sampled_from(["create", "join", "leave", "list", "members",
                                         "leaderboard"]),
              "name": huge_or_nasty},
    "subscribe": {"time": nasty_text, "timezone": nasty_text, "days": nasty_text,
                  "concept": nasty_text},
    "unsubscribe": {},
    "subscriptions": {},
    "course": {"name": nasty_text},
}  # fmt: skip
REQUIRED_OPTIONS = {"question", "template", "action", "time", "timezone"}  # Discord always sends
# Custom ids that match the bot's persistent buttons, with keys no answer ever had.
button_ids = st.one_of(
    st.builds("sb:q:{}:{}:{}".format, st.sampled_from("pi"), discord_key, st.integers(0, 9)),
    st.builds("sb:reveal:{}".format, discord_key),
    st.builds("sb:rate:{}:{}".format, discord_key, st.sampled_from(["again", "good"])),
    st.builds("sb:fb:{}:{}".format, st.sampled_from("01"), discord_key.filter(str.isidentifier)),
    st.builds("sb:follow:{}:{}".format, discord_key.filter(str.isidentifier), st.integers(0, 9)),
    st.builds("sb:quizon:{}".format, discord_key),
)


@st.composite
def discord_commands(draw) -> tuple[str, dict]:
    """A /study subcommand with every option given a fuzzed value (or left out)."""
    sub = draw(st.sampled_from(sorted(discord_options)))
    options = {}
    for name, values in discord_options[sub].items():
        if name in REQUIRED_OPTIONS or draw(st.booleans()):
            options[name] = draw(values)
    return sub, options


def responses_to(api, payload: dict) -> tuple[list, list]:
    """(initial callbacks, follow-ups) the bot sent for one interaction."""
    return api.of(f"/interactions/{payload['id']}/"), api.of(f"/webhooks/888/{payload['token']}")


def wait_until_answered(api, payload: dict, timeout: float = 15) -> None:
    """One initial response; after a deferral (type 5), a follow-up message too."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        callbacks, follow_ups = responses_to(api, payload)
        if callbacks and (callbacks[0]["type"] != 5 or follow_ups):
            assert len(callbacks) == 1
            return
        time.sleep(0.02)
    raise AssertionError(f"interaction never answered: {responses_to(api, payload)}")


def assert_discord_still_answers(discord_bot) -> None:
    """A normal /study ask gets exactly one follow-up, and no message showed a traceback."""
    payload = discord_bot.command("ask", question="what is a fencing token")
    wait_until_answered(discord_bot.api, payload)
    time.sleep(0.3)
    [follow_up] = responses_to(discord_bot.api, payload)[1]
    assert "fencing" in json.dumps(follow_up).lower()
    sent = json.dumps([body for _, _, body, _ in discord_bot.api.calls])
    assert "Traceback" not in sent and 'File "' not in sent


def test_discord_commands_and_buttons_with_fuzzed_values_are_each_answered_once(discord_bot):
    @fuzz(30)
    @given(command=discord_commands(), permissions=st.sampled_from(["0", MANAGE_CHANNELS]))
    def run_command(command, permissions):
        sub, options = command
        payload = discord_bot.command(sub, permissions=permissions, **options)
        wait_until_answered(discord_bot.api, payload)

    @fuzz(20)
    @given(custom_id=button_ids)
    def click(custom_id):
        wait_until_answered(discord_bot.api, discord_bot.click(custom_id))

    run_command()
    click()
    assert_discord_still_answers(discord_bot)


def test_discord_template_modal_submissions_with_any_values_are_answered(discord_bot):
    @fuzz(20)
    @given(
        template=st.sampled_from(TEMPLATE_IDS),
        values=st.dictionaries(st.sampled_from(SLOT_NAMES), huge_or_nasty, max_size=4),
    )
    def submit(template, values):
        opened = discord_bot.command("template", template=template)
        [callback] = discord_bot.api.wait_for(f"/interactions/{opened['id']}/")
        # discord.py files the modal only once the stand-in has answered: submit after that.
        modals, deadline = discord_bot.client._connection._view_store._modals, time.monotonic() + 15
        while callback["data"]["custom_id"] not in modals:
            assert time.monotonic() < deadline, "the modal was never filed"
            time.sleep(0.01)
        rows = [{"type": 1, "components": [{"type": 4, "custom_id": name, "value": value}]}
                for name, value in values.items()]  # fmt: skip
        payload = discord_bot.base(5, {"custom_id": callback["data"]["custom_id"],
                                       "components": rows})  # fmt: skip
        discord_bot.feed(payload)
        wait_until_answered(discord_bot.api, payload)

    submit()
    assert_discord_still_answers(discord_bot)


@st.composite
def malformed_interactions(draw) -> dict:
    """INTERACTION_CREATE payloads with keys missing, of the wrong type, or unknown ids."""
    payload = test_discord.fixture("interaction_command")
    payload.update(id=str(next(EVENT_IDS) + 50_000), token=f"fuzz{next(EVENT_IDS)}")
    payload["type"] = draw(st.sampled_from([2, 3, 4, 5]) | json_values)
    payload["data"] = draw(
        st.one_of(
            st.just(payload["data"]),
            json_values,
            st.builds(lambda cid: {"custom_id": cid, "component_type": 2}, nasty_text),
            st.builds(
                lambda sub, opts: {"id": "1", "name": "study", "type": 1,
                                   "options": [{"name": sub, "type": 1, "options": opts}]},
                st.one_of(st.sampled_from(sorted(discord_options)), nasty_text),
                st.lists(st.fixed_dictionaries({"name": nasty_text, "type": st.integers(),
                                                "value": json_values}), max_size=3),
            ),
        )
    )  # fmt: skip
    keys = ["member", "channel_id", "guild_id", "channel", "token", "application_id", "locale"]
    return keep_drop_or_replace(draw, payload, keys, json_values)


@st.composite
def malformed_messages(draw) -> dict:
    """MESSAGE_CREATE payloads: DMs and mentions with nasty content, keys missing or wrong."""
    message = test_discord.fixture("message_create")
    message["id"] = str(next(EVENT_IDS) + 90_000)
    message["content"] = draw(huge_or_nasty)
    message["author"] = {**message["author"], "id": str(next(EVENT_IDS) + 100)}
    if draw(st.booleans()):  # a DM: no guild, a channel the client has never seen
        message.pop("guild_id")
        message.pop("member")
        message["channel_id"] = "4242"
    keys = ["author", "channel_id", "mentions", "content", "timestamp", "type", "embeds"]
    return keep_drop_or_replace(draw, message, keys, json_values)


def test_malformed_discord_gateway_payloads_leave_the_client_answering(discord_bot):
    state = discord_bot.client._connection
    discord_bot.loop.call_soon_threadsafe(
        state.parse_guild_create, test_discord.fixture("guild_create")
    )

    # discord.py parses each event in a callback on its loop: a payload it cannot read fails
    # that callback alone (logged), as one bad frame from the gateway would.
    @fuzz(60)
    @given(payload=st.one_of(malformed_interactions(), malformed_messages()))
    def feed(payload):
        if "data" in payload:  # an interaction; a message has none
            discord_bot.feed(payload)
        else:
            discord_bot.loop.call_soon_threadsafe(state.parse_message_create, payload)

    feed()
    time.sleep(1)  # let the answers to the readable ones go out
    assert_discord_still_answers(discord_bot)


# -- the pure translation functions ---------------------------------------------


def without_spaces(text: str) -> str:
    """The text's characters bar whitespace (splitting may cut a word longer than a message)."""
    return "".join(text.split())


@fuzz(150)
@given(text=huge_or_nasty, limit=st.integers(20, 3000))
def test_slack_text_translation_escapes_and_keeps_every_character_within_limits(text, limit):
    escaped = slack_translate.escape(text)
    assert "<" not in escaped and ">" not in escaped
    assert "<" not in slack_translate.to_mrkdwn(text)
    pieces = slack_translate.split_text(text, limit)
    assert all(len(piece) <= limit for piece in pieces)
    assert without_spaces("".join(pieces)) == without_spaces(text)  # nothing lost or reordered
    stripped = slack_translate.strip_mentions(f"<@U1> {text} <@W2|name>")
    assert "<@U1>" not in stripped and "<@W2|name>" not in stripped


@fuzz(100)
@given(event=st.dictionaries(st.sampled_from(["text", "user", "channel", "ts", "thread_ts"]),
                             nasty_text),
       form=st.dictionaries(st.sampled_from(["team_id", "channel_id", "user_id", "user_name"]),
                            nasty_text),
       team=nasty_text, text=nasty_text)  # fmt: skip
def test_slack_payload_translation_never_raises(event, form, team, text):
    incoming = slack_translate.event_to_incoming(event, team)
    assert incoming.address.platform == "slack" and isinstance(incoming.thread, str)
    assert slack_translate.command_to_incoming(form, text).text == text


replies = st.builds(
    Reply,
    answer=huge_or_nasty,
    body=huge_or_nasty,
    template=st.one_of(
        st.none(),
        st.builds(
            TemplateFill, st.sampled_from(TEMPLATE_IDS), st.just({}), st.just([]), huge_or_nasty
        ),
    ),
    mode=st.just("extractive"),
    in_scope=st.booleans(),
    concept=st.one_of(st.none(), nasty_text),
    notes=st.lists(nasty_text, max_size=3),
    citations=st.lists(nasty_text, max_size=5),  # a file and its heading path: short
    followups=st.lists(nasty_text, max_size=5),
)


@fuzz(60)
@given(reply=replies)
def test_replies_render_within_each_platforms_limits(reply):
    fallback, blocks = slack_translate.render_reply(reply)
    assert len(fallback) <= 3000 and len(blocks) <= slack_translate.BLOCK_LIMIT
    sections = [block["text"]["text"] for block in blocks if block["type"] == "section"]
    assert all(len(text) <= slack_translate.SECTION_LIMIT for text in sections)
    embeds = discord_translate.reply_embeds(reply)
    for embed in embeds:
        assert len(embed.description or "") <= discord_translate.EMBED_DESCRIPTION_LIMIT
        assert all(len(field.value) <= discord_translate.FIELD_LIMIT for field in embed.fields)
    assert sum(len(embed) for embed in embeds) <= 6000  # Discord's limit for one message


@fuzz(150)
@given(
    text=huge_or_nasty,
    guild=st.one_of(st.none(), st.integers(0, 2**64)),
    channel=st.one_of(st.none(), st.integers(0, 2**64)),
    user=st.integers(0, 2**64),
)
def test_discord_translation_keeps_every_character_in_order_within_limits(
    text, guild, channel, user
):
    pieces = discord_translate.split_message(text)
    assert all(len(piece) <= discord_translate.MESSAGE_LIMIT for piece in pieces)
    assert without_spaces("".join(pieces)) == without_spaces(text)  # nothing lost or reordered
    incoming = discord_translate.to_incoming(guild, channel, user, text, text, "t")
    assert incoming.address.tenant_key.startswith("discord:") and incoming.user == str(user)
