"""The Discord adapter through real discord.py: login to a local REST stand-in, no gateway,
and real INTERACTION_CREATE payloads fed through the command tree and component handlers."""

import itertools
import json
import time
from pathlib import Path

import pytest

from bot.adapters.discord.app import StudyClient, check_settings, shard_plan
from bot.adapters.discord.translate import split_message
from bot.config import DiscordSettings, RedisSettings, Settings
from bot.core.errors import InputError
from bot.standins.loopback import LoopbackServer
from bot.wiring import Container
from tests.fakes.discord_api import DiscordAPIStub

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.abcdefghijklmnopqrstuvwxyz0123456789AB"
FIXTURES = Path(__file__).parent / "fixtures" / "discord"


def fixture(name: str) -> dict:
    """A recorded gateway payload (interaction, message, guild) to start from."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


IDS = itertools.count(10_000)


class DiscordHarness:
    def __init__(self, container: Container, api: DiscordAPIStub) -> None:
        self.api = api
        self._server = LoopbackServer()
        self.loop = self._server.loop

        async def login() -> StudyClient:
            client = StudyClient(container, container.settings.discord)
            await client.login(TOKEN)
            return client

        self.client = self._server.run(login())

    def stop(self) -> None:
        self._server.run(self.client.close())
        self._server.stop()

    def feed(self, payload: dict) -> None:
        """What the gateway would deliver as INTERACTION_CREATE."""
        self.loop.call_soon_threadsafe(self.client._connection.parse_interaction_create, payload)

    def base(self, kind: int, data: dict, user="42", permissions="0") -> dict:
        """An interaction payload from the recorded fixture, with its own id and token."""
        number = next(IDS)
        payload = fixture("interaction_command")
        payload.update(id=str(number), type=kind, token=f"tok{number}", data=data)
        payload["member"]["user"].update(id=user, username=f"user{user}")
        payload["member"]["permissions"] = permissions
        return payload

    def command(self, sub: str, user="42", permissions="0", **options) -> dict:
        opts = [{"name": k, "type": 3, "value": v} for k, v in options.items()]
        data = {"id": "1", "name": "study", "type": 1,
                "options": [{"name": sub, "type": 1, "options": opts}]}  # fmt: skip
        payload = self.base(2, data, user, permissions)
        self.feed(payload)
        return payload

    def click(self, custom_id: str, user="42") -> dict:
        data = {"custom_id": custom_id, "component_type": 2}
        payload = self.base(3, data, user)
        button = {"type": 2, "style": 1, "label": "button", "custom_id": custom_id}
        payload["message"] = {**self.api._message({}), "channel_id": "555",
                              "components": [{"type": 1, "components": [button]}]}  # fmt: skip
        self.feed(payload)
        return payload


@pytest.fixture
def discord_bot(indexed_data_dir, models_dir, redis_url, redis_prefix):
    api = DiscordAPIStub().start()
    container = Container(
        Settings(
            data_dir=indexed_data_dir, models_path=models_dir,
            redis=RedisSettings(url=redis_url, key_prefix=redis_prefix),
            discord=DiscordSettings(token=TOKEN, api_url=api.base_url),
        )
    )  # fmt: skip
    harness = DiscordHarness(container, api)
    yield harness
    harness.stop()
    api.stop()


def components(body) -> list[dict]:
    return [c for row in body.get("components", []) for c in row.get("components", [])]


def test_login_syncs_the_command_tree_without_a_gateway(discord_bot):
    puts = discord_bot.api.of("/applications/888/commands", "PUT")
    assert puts and puts[0][0]["name"] == "study"
    subcommands = {o["name"] for o in puts[0][0]["options"]}
    assert {"ask", "quiz", "stats", "streak", "link", "template", "group", "subscribe",
            "unsubscribe", "subscriptions", "course", "level", "help"} <= subcommands  # fmt: skip


def test_ask_defers_then_sends_one_follow_up_with_embeds_and_buttons(discord_bot):
    started = time.monotonic()
    payload = discord_bot.command("ask", question="why add randomness to retry delays")
    [callback] = discord_bot.api.wait_for(f"/interactions/{payload['id']}/")
    assert callback["type"] == 5  # deferred
    assert time.monotonic() - started < 2.5
    [follow] = discord_bot.api.wait_for(f"/webhooks/888/{payload['token']}")
    assert "Jitter" in json.dumps(follow["embeds"])
    assert follow["allowed_mentions"] == {"parse": []}
    ids = [c["custom_id"] for c in components(follow)]
    assert any(i.startswith("sb:fb:1:") for i in ids) and any(
        i.startswith("sb:quizon:") for i in ids
    )


def test_quiz_buttons_work_from_their_persistent_custom_ids(discord_bot):
    payload = discord_bot.command("quiz", concept="consensus")
    [follow] = discord_bot.api.wait_for(f"/webhooks/888/{payload['token']}")
    assert "(consensus)" in follow["content"]
    button = components(follow)[0]["custom_id"]
    # A fresh click, as after a restart: matched by the DynamicItem template.
    click = discord_bot.click(button)
    [result] = discord_bot.api.wait_for(f"/webhooks/888/{click['token']}")
    assert "Source: 04-consensus.md" in result["content"]
    assert result["flags"] & 64  # ephemeral


def test_feedback_and_quiz_on_this_buttons(discord_bot):
    payload = discord_bot.command("ask", question="what is a bulkhead")
    [follow] = discord_bot.api.wait_for(f"/webhooks/888/{payload['token']}")
    helpful = next(
        c["custom_id"] for c in components(follow) if c["custom_id"].startswith("sb:fb:0")
    )
    click = discord_bot.click(helpful)
    assert "Thanks" in discord_bot.api.wait_for(f"/webhooks/888/{click['token']}")[0]["content"]
    rated = discord_bot.client.container.feedback.rated(not_helpful_only=True)
    assert [r.record.question for r in rated] == ["what is a bulkhead"]
    click = discord_bot.click("sb:quizon:fault-tolerance")
    assert (
        "(fault-tolerance)"
        in discord_bot.api.wait_for(f"/webhooks/888/{click['token']}")[0]["content"]
    )


def test_manage_channels_is_required_to_subscribe(discord_bot):
    payload = discord_bot.command("subscribe", time="07:30", timezone="Europe/Berlin")
    [refusal] = discord_bot.api.wait_for(f"/webhooks/888/{payload['token']}")
    assert "Manage Channels" in refusal["content"]
    manage_channels = str(1 << 4)
    payload = discord_bot.command("subscribe", permissions=manage_channels, time="07:30",
                                  timezone="Europe/Berlin", days="weekdays")  # fmt: skip
    [ok] = discord_bot.api.wait_for(f"/webhooks/888/{payload['token']}")
    assert "07:30 Europe/Berlin on mon,tue,wed,thu,fri" in ok["content"]


def test_streak_and_a_leaderboard_with_its_streak_read_as_on_slack(discord_bot):
    payload = discord_bot.command("streak")
    [reply] = discord_bot.api.wait_for(f"/webhooks/888/{payload['token']}")
    assert reply["content"].startswith("Your streak: **0** day(s)")
    payload = discord_bot.command("group", action="create", name="Paxos Pals")
    discord_bot.api.wait_for(f"/webhooks/888/{payload['token']}")
    payload = discord_bot.command("group", action="leaderboard", name="Paxos Pals")
    [board] = discord_bot.api.wait_for(f"/webhooks/888/{payload['token']}")
    assert board["content"].startswith("**Paxos Pals** this week (group streak: 0 day(s)):")


def test_a_member_without_manage_channels_cannot_change_the_course(discord_bot):
    payload = discord_bot.command("course", name="distributed-systems")
    [refusal] = discord_bot.api.wait_for(f"/webhooks/888/{payload['token']}")
    assert "Manage Channels" in refusal["content"]
    payload = discord_bot.command("course", permissions=str(1 << 4), name="distributed-systems")
    [ok] = discord_bot.api.wait_for(f"/webhooks/888/{payload['token']}")
    assert "now uses" in ok["content"]


def test_a_daily_quick_check_has_a_try_it_button_that_asks_it_privately(discord_bot):
    from bot.adapters.discord.outbox import push_components
    from bot.schedule.outbox import PushMessage

    bank = discord_bot.client.container.catalog.quiz_bank("distributed-systems")
    item = next(i for i in bank.items.values() if i.kind == "quick-check")
    message = PushMessage("2026-03-02", item.id, item.concept, item.kind, item.text)
    [button] = components({"components": push_components(message)})
    assert (button["label"], button["custom_id"]) == ("Try it", f"sb:try:{item.id}")
    payload = discord_bot.click(button["custom_id"])
    [prompt] = discord_bot.api.wait_for(f"/webhooks/888/{payload['token']}")
    assert item.prompt[:40] in prompt["content"] and prompt["flags"] & 64  # ephemeral


def test_help_groups_link_and_bad_input(discord_bot):
    payload = discord_bot.command("help")
    [callback] = discord_bot.api.wait_for(f"/interactions/{payload['id']}/")
    assert callback["type"] == 4 and "/study ask" in callback["data"]["content"]
    payload = discord_bot.command("group", action="create", name="<@&1> everyone!!")
    [refusal] = discord_bot.api.wait_for(f"/webhooks/888/{payload['token']}")
    assert "2-32" in refusal["content"]
    payload = discord_bot.command("link", code="WRONG1")
    [refusal] = discord_bot.api.wait_for(f"/webhooks/888/{payload['token']}")
    assert "wrong or has expired" in refusal["content"]


def test_level_is_chosen_from_the_commands_choices(discord_bot):
    payload = discord_bot.command("level", level="advanced")
    [reply] = discord_bot.api.wait_for(f"/webhooks/888/{payload['token']}")
    assert "advanced level" in reply["content"]


def test_template_modal_then_submit(discord_bot):
    question = "for a chat app. Data types: messages, presence"
    payload = discord_bot.command("template", template="cap-analysis", question=question)
    [callback] = discord_bot.api.wait_for(f"/interactions/{payload['id']}/")
    assert callback["type"] == 9  # modal
    inputs = [c for row in callback["data"]["components"] for c in row["components"]]
    assert [i.get("value") for i in inputs] == ["a chat app", "messages\npresence"]
    rows = [
        {"type": 1, "components": [{"type": 4, "custom_id": name, "value": value}]}
        for name, value in (("system", "a chat app"), ("data_types", "messages\npresence"))
    ]
    submit = discord_bot.base(5, {"custom_id": callback["data"]["custom_id"], "components": rows})
    discord_bot.feed(submit)
    [follow] = discord_bot.api.wait_for(f"/webhooks/888/{submit['token']}")
    assert "Filled prompt" in json.dumps(follow["embeds"]) and "- presence" in json.dumps(
        follow["embeds"]
    )


def test_the_discord_outbox_posts_over_rest_without_mentions():
    from bot.adapters.discord.outbox import DiscordOutbox
    from bot.core.models import Address
    from bot.schedule.outbox import PushMessage

    api = DiscordAPIStub().start()
    try:
        outbox = DiscordOutbox(DiscordSettings(token=TOKEN, api_url=api.base_url))
        message = PushMessage("2026-03-02", "cap-x", "cap", "multiple-choice", "Q?", ["A", "B"])
        outbox.deliver(Address("discord", "777", "555"), message)
        [posted] = api.wait_for("/channels/555/messages")
        assert posted["allowed_mentions"] == {"parse": []}
        assert [c["custom_id"] for c in components(posted)] == ["sb:q:i:cap-x:0", "sb:q:i:cap-x:1"]
    finally:
        api.stop()


def test_messages_split_at_2000_characters_in_order():
    text = "\n\n".join(f"Paragraph {n}. " + "word " * 200 for n in range(5))  # about 5,000 chars
    pieces = split_message(text)
    assert len(pieces) <= 3 and all(len(p) <= 2000 for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_shards_are_validated_and_disjoint_per_process():
    assert shard_plan(DiscordSettings(shard_count=4, shard_ids="0,1")) == (4, [0, 1])
    assert shard_plan(DiscordSettings(shard_count=4, shard_ids="2,3")) == (4, [2, 3])
    for bad in ("0,0", "4", "x"):
        with pytest.raises(InputError):
            shard_plan(DiscordSettings(shard_count=4, shard_ids=bad))
    with pytest.raises(InputError, match="DISCORD_TOKEN is not set"):
        check_settings(DiscordSettings())
    with pytest.raises(InputError, match="DISCORD_TOKEN looks malformed"):
        check_settings(DiscordSettings(token="short"))


def test_autocomplete_offers_concepts(discord_bot):
    focused = {"name": "concept", "type": 3, "value": "con", "focused": True}
    data = {"id": "1", "name": "study", "type": 1,
            "options": [{"name": "quiz", "type": 1, "options": [focused]}]}  # fmt: skip
    payload = discord_bot.base(4, data)
    discord_bot.feed(payload)
    [callback] = discord_bot.api.wait_for(f"/interactions/{payload['id']}/")
    assert callback["type"] == 8
    assert [c["value"] for c in callback["data"]["choices"]] == ["consensus", "consistency"]


def test_a_direct_message_is_answered_with_embeds(discord_bot):
    message = {**discord_bot.api._message({"content": "what is a fencing token"}),
               "channel_id": "4242", "author": {"id": "42", "username": "ada", "discriminator": "0",
                                                "avatar": None, "global_name": "Ada"}}  # fmt: skip
    discord_bot.loop.call_soon_threadsafe(
        discord_bot.client._connection.parse_message_create, message
    )
    [sent] = discord_bot.api.wait_for("/channels/4242/messages")
    assert "Fencing" in json.dumps(sent["embeds"]) and sent["allowed_mentions"] == {"parse": []}
    own = {**message, "id": "1", "author": {**message["author"], "id": "999", "bot": True}}
    discord_bot.loop.call_soon_threadsafe(discord_bot.client._connection.parse_message_create, own)
    time.sleep(1)
    assert len(discord_bot.api.of("/channels/4242/messages")) == 1  # never answers bots or itself


@pytest.mark.slow
def test_a_hung_llm_still_gets_a_fallback_follow_up(
    indexed_data_dir, models_dir, redis_url, redis_prefix, monkeypatch
):
    from bot.config import LLMSettings
    from tests.fakes.openai_stub import OpenAIStub

    with OpenAIStub() as llm:
        monkeypatch.setenv("OPENAI_BASE_URL", llm.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abcdefghijklmnopqrstuvwxyz")
        llm.default = {"sleep": 30, "text": "never"}
        api = DiscordAPIStub().start()
        container = Container(
            Settings(
                data_dir=indexed_data_dir, models_path=models_dir,
                redis=RedisSettings(url=redis_url, key_prefix=redis_prefix),
                discord=DiscordSettings(token=TOKEN, api_url=api.base_url),
                llm_model="openai:gpt-test",
                llm_options=LLMSettings(timeout_seconds=2, retries=0),
            )
        )  # fmt: skip
        harness = DiscordHarness(container, api)
        try:
            started = time.monotonic()
            payload = harness.command("ask", question="what is a quorum")
            [callback] = api.wait_for(f"/interactions/{payload['id']}/")
            assert callback["type"] == 5 and time.monotonic() - started < 2.5
            [follow] = api.wait_for(f"/webhooks/888/{payload['token']}", timeout=30)
            assert "took too long" in json.dumps(follow["embeds"])
            assert len(api.of(f"/webhooks/888/{payload['token']}")) == 1
        finally:
            harness.stop()
            api.stop()


def test_a_mention_in_a_channel_opens_a_thread_for_the_answer(discord_bot):
    state = discord_bot.client._connection
    discord_bot.loop.call_soon_threadsafe(state.parse_guild_create, fixture("guild_create"))
    time.sleep(0.3)
    discord_bot.loop.call_soon_threadsafe(state.parse_message_create, fixture("message_create"))
    [thread] = discord_bot.api.wait_for("/channels/555/messages/31337/threads")
    assert "fencing token" in thread["name"]
    [answer] = discord_bot.api.wait_for("/channels/8888/messages")
    assert "Fencing" in json.dumps(answer["embeds"])
    asker = discord_bot.client.container.threads.asker("discord:777", "discord-thread", "8888")
    assert asker == "42"  # the asker's follow-ups in this thread need no mention


def test_follow_ups_in_the_bots_thread_need_no_mention_only_from_the_asker(discord_bot):
    container = discord_bot.client.container
    container.threads.claim("discord:777", "discord-thread", "8888", user="42")
    state = discord_bot.client._connection
    discord_bot.loop.call_soon_threadsafe(state.parse_guild_create, fixture("guild_create"))
    time.sleep(0.3)

    def say(user, text, message_id):
        message = fixture("message_create")
        message.update(id=message_id, channel_id="8888", content=text, mentions=[])
        message["author"]["id"] = user
        discord_bot.loop.call_soon_threadsafe(state.parse_message_create, message)

    say("42", "and what about leases?", "40001")
    [answer] = discord_bot.api.wait_for("/channels/8888/messages")
    assert "lease" in json.dumps(answer["embeds"]).lower()
    say("43", "me too: what about leases?", "40002")
    time.sleep(1)
    assert len(discord_bot.api.of("/channels/8888/messages")) == 1


def test_follow_up_buttons_ask_the_suggested_question(discord_bot):
    payload = discord_bot.command("ask", question="what is a circuit breaker")
    [follow] = discord_bot.api.wait_for(f"/webhooks/888/{payload['token']}")
    suggestion = next(
        c for c in components(follow)
        if c["custom_id"].startswith("sb:follow:") and c["label"].startswith("Tell me more about")
    )  # fmt: skip
    topic = suggestion["label"].removeprefix("Tell me more about ")
    click = discord_bot.click(suggestion["custom_id"])
    [answer] = discord_bot.api.wait_for(f"/webhooks/888/{click['token']}")
    assert topic[:30] in json.dumps(answer["embeds"])  # the suggested section is a source


def test_translation_functions():
    from bot.adapters.discord.translate import reply_embeds, strip_mentions, to_incoming
    from bot.core.models import Reply, TemplateFill

    incoming = to_incoming(None, 9, 42, "Ada", "<@999> what is CAP", "t")
    assert (incoming.address.tenant_key, incoming.text, incoming.user) == (
        "discord:dm-42",
        "what is CAP",
        "42",
    )
    assert strip_mentions("<@!1> hi <@2>") == "hi"
    fill = TemplateFill("cap-analysis", {"system": "x"}, [], "PROMPT TEXT")
    reply = Reply(answer="body\n\ntemplate", body="body", mode="extractive", in_scope=True,
                  concept="cap", template=fill, citations=["A > B > C"])  # fmt: skip
    answer, prompt = reply_embeds(reply)
    assert answer.description == "body" and answer.fields[0].value == "A > B > C"
    assert "PROMPT TEXT" in prompt.description
