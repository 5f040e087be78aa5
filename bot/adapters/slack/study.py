"""Slack's `/study` flows: quizzes, templates, and the subcommands the core answers."""

from __future__ import annotations

import json
import secrets
from typing import Any

from redis.exceptions import RedisError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack import translate
from bot.adapters.slack.blocks import template_modal
from bot.core.commands import Actor
from bot.core.commands.views import StatsView
from bot.core.errors import InputError, StateUnavailableError
from bot.core.models import Address, Incoming
from bot.core.trace import Trace
from bot.logs import bind_request


def bound_trace(trace: Trace) -> Trace:
    """Tag this request's log lines (its task, and the pool work it starts) with its id."""
    bind_request(trace.request_id)
    return trace


class StudyFlows:
    """The `/study` side of the Slack bot; `SlackBot` supplies the services and helpers."""

    container: Any
    core: Any
    answer: Any
    _allowed: Any
    _is_manager: Any

    def _student(self, body: dict[str, Any]) -> Incoming:
        channel = (body.get("channel") or {}).get("id", "")
        user = body["user"]
        return Incoming(
            Address("slack", body["team"]["id"], channel),
            user["id"],
            "quiz",
            "quiz",
            display_name=user.get("name") or user.get("username") or "",
        )

    async def _result(
        self, client: AsyncWebClient, body: dict[str, Any], function: Any, *args: Any
    ) -> None:
        who = self._student(body)
        try:
            result = await self.core(function, *args)
            text, blocks = translate.render_result(result)
        except (InputError, StateUnavailableError) as exc:
            text, blocks = str(exc), None
        await client.chat_postEphemeral(
            channel=who.address.channel, user=who.user, text=text, blocks=blocks
        )

    async def quiz_answer(self, client: AsyncWebClient, body: dict[str, Any], value: str) -> None:
        """A click on an option: a personal prompt, or an item of a channel quiz."""
        # A stale or mangled button still gets a reply: the core refuses what does not fit.
        kind, key, choice = [*value.split("|", 2), "", ""][:3]
        who = self._student(body)
        letter = "abcde"[int(choice)] if choice in {"0", "1", "2", "3", "4"} else choice
        if kind == "p":
            await self._result(client, body, self.container.quiz.answer, who, key, letter)
            return
        course = await self.core(self.container.assistant.course_for, who)
        try:  # the item may have left the bank since the daily quiz was posted
            prompt = await self.core(
                self.container.quiz.next_prompt, who, course, None, key, False
            )  # the channel quiz's buttons carry bank positions
        except (InputError, StateUnavailableError) as exc:
            await client.chat_postEphemeral(
                channel=who.address.channel, user=who.user, text=str(exc)
            )
            return
        await self._result(client, body, self.container.quiz.answer, who, prompt.prompt_id, letter)
        message = body.get("message") or {}
        tenant = self.container.keys.tenant(who.address.tenant_key)
        counter = f"{tenant}:answered:{who.address.channel}:{message.get('ts')}"
        try:  # a count for the channel (AP): skipped while Redis is down
            answered = await self.core(self.container.redis.sadd, counter, who.user)
            count = await self.core(self.container.redis.scard, counter)
            await self.core(self.container.redis.expire, counter, 2 * 24 * 3600)
        except RedisError:
            return
        if answered and message.get("blocks"):
            blocks = [b for b in message["blocks"] if b.get("type") != "context"]
            blocks.append(
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": f"{count} answered so far"}],
                }
            )
            await client.chat_update(
                channel=who.address.channel,
                ts=message["ts"],
                text=message.get("text") or "Daily quick check",  # the notification's words
                blocks=blocks,
            )

    async def quiz(
        self,
        client: AsyncWebClient,
        team: str,
        channel: str,
        user: str,
        concept: str | None,
        thread_ts: str | None = None,
    ) -> None:
        """Send the student their next quiz question, privately."""
        who = Incoming(Address("slack", team, channel), user, "quiz", "quiz")
        try:
            course = await self.core(self.container.assistant.course_for, who)
            prompt = await self.core(self.container.quiz.next_prompt, who, course, concept)
        except (InputError, StateUnavailableError) as exc:
            await client.chat_postEphemeral(channel=channel, user=user, text=str(exc))
            return
        if prompt is None:
            await client.chat_postEphemeral(
                channel=channel, user=user, text="You're all caught up!"
            )
            return
        text, blocks = translate.render_prompt(prompt)
        if thread_ts:
            await client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=text, blocks=blocks
            )
        else:
            await client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)

    async def study(self, command: dict[str, Any], client: AsyncWebClient) -> None:
        """Dispatch `/study SUBCOMMAND ...`; every reply is ephemeral unless it is an answer."""
        text = (command.get("text") or "").strip()
        sub, _, rest = text.partition(" ")
        sub, rest = sub.lower(), rest.strip()
        team, channel, user = command["team_id"], command["channel_id"], command["user_id"]
        incoming = translate.command_to_incoming(command, rest)

        async def tell(message: str) -> None:
            await client.chat_postEphemeral(channel=channel, user=user, text=message)

        try:
            if sub == "ask":
                trace = bound_trace(Trace("Slack /study ask", secrets.token_hex(6)))
                if await self._allowed(client, team, channel, user, trace):
                    await self.answer(client, incoming, None, trace)
            elif sub == "trace":
                await tell(
                    await self.core(self.container.assistant.explain_last, incoming.address, user)
                )
            elif sub == "quiz":
                await self.quiz(client, team, channel, user, rest or None)
            elif sub == "template":
                await self.template(client, command, incoming, rest)
            else:
                await self.command(client, incoming, text)
        except (InputError, StateUnavailableError) as exc:
            await tell(translate.escape(str(exc)))

    async def command(self, client: AsyncWebClient, incoming: Incoming, line: str) -> None:
        """A subcommand the core answers; the chart of `/study stats` goes to the DM."""
        commands = self.container.commands
        manager = commands.needs_manager(line) and await self._is_manager(
            client, incoming.user, incoming.address.channel
        )
        view = await self.core(commands.run, Actor.of(incoming, manager=manager), line)
        await client.chat_postEphemeral(
            channel=incoming.address.channel, user=incoming.user, text=translate.view_mrkdwn(view)
        )
        if isinstance(view, StatsView) and view.chart:
            from bot.quiz.progress import render_chart

            png = await self.core(render_chart, view.stats)
            # Uploaded to the student's DM with the bot, so the chart stays private.
            opened = await client.conversations_open(users=incoming.user)
            await client.files_upload_v2(
                channel=opened["channel"]["id"],
                content=png,
                filename="progress.png",
                title="Your progress",
            )

    async def template(
        self, client: AsyncWebClient, command: dict[str, Any], incoming: Incoming, rest: str
    ) -> None:
        """`/study template`: list them; `/study template ID [question]`: a prefilled modal."""
        prompts = self.container.assistant.prompts
        template_id, _, question = rest.partition(" ")
        channel, user = incoming.address.channel, incoming.user
        if not template_id:
            lines = [f"• `{t.id}`: {t.title}" for t in prompts.user_templates()]
            course = await self.core(self.container.assistant.course_for, incoming)
            examples = await self.core(self.container.worked_examples.available, course)
            text = (
                "Templates (open one with `/study template ID`, or see one filled in for a "
                "sample app with `/study template ID example`):\n" + "\n".join(lines)
            )
            buttons = [
                translate.example_button(t.id, t.title) for t in prompts.user_templates()
                if t.id in examples
            ]  # fmt: skip
            blocks = [translate.section(text)]
            if buttons:
                blocks.append({"type": "actions", "elements": buttons})
            await client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)
            return
        if question.strip().lower() == "example":
            await self.worked_example(client, incoming, template_id)
            return
        template = prompts.template(template_id)
        prefill = self.container.assistant.slots.read(template, question) if question else {}
        view = template_modal(template, prefill, incoming.address.channel)
        if not command.get("trigger_id"):
            raise InputError("this command can't open a form here; try again from Slack")
        await client.views_open(trigger_id=command["trigger_id"], view=view)

    async def worked_example(
        self, client: AsyncWebClient, incoming: Incoming, template_id: str
    ) -> None:
        """The course's worked example for a template, privately, in as many sections as needed."""
        course = await self.core(self.container.assistant.course_for, incoming)
        text = await self.core(self.container.worked_examples.show, course, template_id)
        blocks = [
            translate.section(part) for part in translate.split_text(translate.to_mrkdwn(text))
        ]
        await client.chat_postEphemeral(
            channel=incoming.address.channel, user=incoming.user, text=text[:3000], blocks=blocks
        )

    async def on_template_submit(
        self, ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """Fill the template from the form and post the result to the channel."""
        try:  # a modal opened by an older release must not fail its submit with a 500
            meta = dict(json.loads(view.get("private_metadata") or "{}"))
        except (TypeError, ValueError):
            meta = {}
        values = {
            name: (block.get(name) or {}).get("value") or ""
            for name, block in view["state"]["values"].items()
        }
        incoming = Incoming(
            Address("slack", body["team"]["id"], meta.get("channel", "")),
            body["user"]["id"],
            "template",
            meta.get("thread") or f"template-{body['user']['id']}",
        )
        try:
            reply = await self.core(
                self.container.assistant.fill_template, incoming, str(meta.get("id", "")), values
            )
        except InputError as exc:
            first = next(iter(values), "system")
            await ack(response_action="errors", errors={first: str(exc)[:150]})
            return
        await ack()
        text, blocks = translate.render_reply(reply)
        await client.chat_postMessage(
            channel=incoming.address.channel,
            thread_ts=meta.get("thread"),
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
        )
