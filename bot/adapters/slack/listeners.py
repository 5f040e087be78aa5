"""Slack listeners: each acks at once, then hands the work to the bot's flows."""

from __future__ import annotations

import logging
import re
import secrets
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAssistant
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.failures import handoff, note_failure, tell_quietly
from bot.adapters.slack import translate
from bot.adapters.slack.blocks import feedback_modal, home_view, prompt_modal, template_modal
from bot.adapters.slack.study import bound_trace
from bot.core.errors import InputError, StateUnavailableError
from bot.core.models import Address, Incoming
from bot.core.trace import Trace

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from bot.adapters.slack.app import SlackBot


def _id(field: Any) -> str | None:
    return field.get("id") if isinstance(field, dict) else None


def _where(body: dict[str, Any]) -> tuple[str, str]:
    """The channel and user of any Slack payload (event, command, action), "" when absent."""
    event = body.get("event") or {}
    channel = body.get("channel_id") or event.get("channel") or _id(body.get("channel"))
    user = body.get("user_id") or event.get("user") or _id(body.get("user"))
    return str(channel or ""), str(user or "")


def register(bot: SlackBot) -> None:
    """Attach every event, command, action and view listener to the bot's bolt app."""
    app = bot.app

    @app.error
    async def on_error(error: Exception, body: dict[str, Any], client: AsyncWebClient) -> None:
        """Any listener that fails after its ack: the student gets a short private note."""
        failure = note_failure(None, error)  # logged: a bug with its traceback
        channel, user = _where(body)
        if channel and user:
            await tell_quietly(
                lambda text: client.chat_postEphemeral(channel=channel, user=user, text=text),
                translate.escape(failure.message),
            )

    @app.event("app_mention")
    async def on_mention(
        event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, request: Any
    ) -> None:
        trace = bot._event_trace("Slack mention", body, request)
        if event.get("bot_id") or not await bot._first_time(body, trace):
            return
        team = body.get("team_id", "")
        user = event.get("user", "")
        if not await bot._allowed(client, team, event["channel"], user, trace):
            return
        incoming = translate.event_to_incoming(event, team)
        await bot.answer(client, incoming, event.get("thread_ts") or event["ts"], trace)

    @app.event("message")
    async def on_message(
        event: dict[str, Any],
        body: dict[str, Any],
        client: AsyncWebClient,
        context: Any,
        request: Any,
    ) -> None:
        if event.get("bot_id") or event.get("subtype"):
            return
        bot_user = context.get("bot_user_id") or ""
        if bot_user and f"<@{bot_user}>" in event.get("text", ""):
            return  # the app_mention listener answers it
        team = body.get("team_id", "")
        direct = event.get("channel_type") == "im"
        thread = event.get("thread_ts")
        if not direct:
            if not thread:
                return
            asker = await bot.quick(
                bot.container.threads.asker,
                f"slack:{team}",
                "slack-thread",
                event["channel"],
                thread,
            )
            # Follow-ups need no mention, but only from the student the bot is helping.
            if asker != event.get("user"):
                return
        trace = bot._event_trace("Slack DM" if direct else "Slack thread", body, request)
        if not await bot._first_time(body, trace):
            return
        user = event.get("user", "")
        if not await bot._allowed(client, team, event["channel"], user, trace):
            return
        incoming = translate.event_to_incoming(event, team)
        await bot.answer(client, incoming, thread if not direct else event.get("thread_ts"), trace)

    @app.command("/study")
    async def on_study(ack: Any, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await bot.study(command, client)

    @app.action(re.compile(r"^followup_\d$"))
    async def on_followup(
        ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        message = body.get("message") or {}
        incoming = Incoming(
            Address("slack", body["team"]["id"], body["channel"]["id"]),
            body["user"]["id"],
            action["value"],
            message.get("thread_ts") or message.get("ts") or "default",
        )
        trace = bound_trace(Trace("Slack follow-up button", secrets.token_hex(6)))
        await bot.answer(client, incoming, message.get("thread_ts") or message.get("ts"), trace)

    @app.action(re.compile(r"^feedback_(helpful|not_helpful)$"))
    async def on_feedback(
        ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        helpful = action["action_id"] == "feedback_helpful"
        address = Address("slack", body["team"]["id"], body["channel"]["id"])
        try:
            await bot.core(
                bot.container.assistant.rate_answer,
                address,
                body["user"]["id"],
                action["value"],
                helpful,
            )
        except (InputError, StateUnavailableError) as exc:
            await client.chat_postEphemeral(
                channel=address.channel, user=body["user"]["id"], text=str(exc)
            )
            return
        if helpful:
            await client.chat_postEphemeral(
                channel=address.channel, user=body["user"]["id"], text="Thanks!"
            )
        else:
            await client.views_open(
                trigger_id=body["trigger_id"],
                view=feedback_modal(action["value"], address.channel),
            )

    app.view("template_submit")(bot.on_template_submit)

    @app.view("feedback_reason")
    async def on_feedback_reason(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        meta = view.get("private_metadata", "|").split("|")
        reason = view["state"]["values"]["reason"]["reason"].get("value") or ""
        address = Address("slack", body["team"]["id"], meta[1] if len(meta) > 1 else "")
        try:
            await bot.core(
                bot.container.assistant.rate_answer,
                address,
                body["user"]["id"],
                meta[0],
                False,
                reason,
            )
        except (InputError, StateUnavailableError) as exc:
            # The modal is closed; raising would only make bolt undo the ack (a 404).
            logger.info("feedback reason not kept: %s", exc)

    @app.action("quiz_on_this")
    async def on_quiz_on_this(
        ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        await bot.quiz(
            client,
            body["team"]["id"],
            body["channel"]["id"],
            body["user"]["id"],
            action["value"],
        )

    @app.action(re.compile(r"^quiz_answer_\d$"))
    async def on_quiz_answer(
        ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        await bot.quiz_answer(client, body, action["value"])

    @app.action("quiz_reveal")
    async def on_reveal(
        ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        who = bot._student(body)
        await bot._result(client, body, bot.container.quiz.reveal, who, action["value"])

    @app.action("quiz_try")
    async def on_try(
        ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        who = bot._student(body)
        course = await bot.core(bot.container.assistant.course_for, who)
        try:  # the item may have left the bank since the daily quiz was posted
            prompt = await bot.core(
                bot.container.quiz.next_prompt, who, course, None, action["value"]
            )
            text, blocks = translate.render_prompt(prompt)
        except (InputError, StateUnavailableError) as exc:
            text, blocks = str(exc), None
        await client.chat_postEphemeral(
            channel=who.address.channel, user=who.user, text=text, blocks=blocks
        )

    @app.action(re.compile(r"^quiz_rate_(again|hard|good|easy)$"))
    async def on_rate(
        ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        prompt_id, _, rating = action["value"].partition("|")
        await bot._result(
            client, body, bot.container.quiz.rate, bot._student(body), prompt_id, rating
        )

    @app.action("template_example")
    async def on_template_example(
        ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        who = bot._student(body)
        try:
            await bot.worked_example(client, who, action["value"])
        except (InputError, StateUnavailableError) as exc:
            await client.chat_postEphemeral(
                channel=who.address.channel, user=who.user, text=translate.escape(str(exc))
            )

    @app.action("edit_template")
    async def on_edit_template(
        ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        message = body.get("message") or {}
        thread = message.get("thread_ts") or message.get("ts") or "default"
        incoming = Incoming(
            Address("slack", body["team"]["id"], body["channel"]["id"]),
            body["user"]["id"],
            "edit",
            thread,
        )
        template = bot.container.assistant.prompts.template(action["value"])
        fill = await bot.quick(bot.container.assistant.understood, incoming)
        slots = fill.slots if fill and fill.template_id == template.id else {}
        view = template_modal(template, slots, incoming.address.channel, thread)
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.action("open_prompt")
    async def on_open_prompt(
        ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        text = "\n".join(
            block["text"]["text"].strip("`")
            for block in (body.get("message") or {}).get("blocks", [])
            if block.get("type") == "section" and block["text"]["text"].startswith("```")
        )
        await client.views_open(trigger_id=body["trigger_id"], view=prompt_modal(text))

    @app.event("app_home_opened")
    async def on_home(event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        who = Incoming(Address("slack", body.get("team_id", "")), event["user"], "home", "home")
        course = await bot.core(bot.container.assistant.course_for, who)
        stats = await bot.core(bot.container.quiz.stats, who, course)
        person = await bot.core(bot.container.quiz.person, who)
        groups = await bot.core(bot.container.quiz.groups.of_person, who.address.tenant_key, person)
        await client.views_publish(user_id=event["user"], view=home_view(stats, groups))

    assistant = AsyncAssistant()

    @assistant.thread_started
    async def on_assistant_start(say: Any, set_suggested_prompts: Any) -> None:
        await say("Hi! Ask me anything about the course, or ask me to quiz you.")
        await set_suggested_prompts(
            prompts=[
                {"title": "Quiz me", "message": "Quiz me"},
                {"title": "Explain CAP", "message": "Explain the CAP theorem"},
                {"title": "Retry storms", "message": "Why add randomness to retry delays?"},
            ]
        )

    @assistant.user_message
    async def on_assistant_message(
        payload: dict[str, Any],
        body: dict[str, Any],
        say: Any,
        set_status: Any,
        client: AsyncWebClient,
        request: Any,
    ) -> None:
        trace = bot._event_trace("Slack assistant", body, request)
        if not await bot._first_time(body, trace):
            return
        await set_status("is thinking…")
        team = body.get("team_id", "")
        text = translate.strip_mentions(payload.get("text", ""))
        if text.lower().startswith("quiz me"):
            await bot.quiz(
                client,
                team,
                payload["channel"],
                payload["user"],
                None,
                thread_ts=payload.get("thread_ts"),
            )
            return
        incoming = translate.event_to_incoming(payload, team)

        async def work() -> None:
            reply = await bot.core(bot.container.assistant.ask, incoming, trace=trace)
            text, blocks = translate.render_reply(reply)
            with trace.stage("platform"):
                await say(text=text, blocks=blocks)

        async def tell(message: str) -> None:
            await say(text=translate.escape(message))

        await handoff(work, tell, trace)
        await bot._keep(incoming.address, incoming.user, trace)

    app.use(assistant)
