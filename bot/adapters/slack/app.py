"""The Slack bolt app: thin listeners that ack at once, translate, and call the core."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
import secrets
from typing import Any

import aiohttp
from aiohttp import web
from redis.exceptions import RedisError
from slack_bolt.async_app import AsyncApp, AsyncAssistant
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.bulkheads import Bulkheads, core_workers
from bot.adapters.failures import handoff, note_failure, tell_quietly, watch_orphans
from bot.adapters.slack import translate
from bot.adapters.slack.middleware import reject_malformed
from bot.config import SlackSettings
from bot.core.commands import Actor
from bot.core.commands.views import StatsView
from bot.core.errors import InputError, StateUnavailableError
from bot.core.models import Address, Incoming
from bot.core.trace import Trace
from bot.health import Health, drain, other_tasks, serve_until_stopped, start_server, stop_event
from bot.logs import bind_request
from bot.state.inflight import Placeholder

logger = logging.getLogger(__name__)


def check_settings(settings: SlackSettings, http: bool) -> None:
    """Refuse to start with a missing or malformed credential, naming the variable."""
    required = [("SLACK_BOT_TOKEN", settings.bot_token, "xoxb-")]
    if http:
        required.append(("SLACK_SIGNING_SECRET", settings.signing_secret, ""))
    else:
        required.append(("SLACK_APP_TOKEN", settings.app_token, "xapp-"))
    for name, value, prefix in required:
        if not value:
            raise InputError(f"{name} is not set")
        if not value.startswith(prefix) or len(value) < 16:
            shape = f"start with {prefix!r} and be" if prefix else "be"
            raise InputError(f"{name} looks malformed: it should {shape} at least 16 characters")


def _bound(trace: Trace) -> Trace:
    """Tag this request's log lines (its task, and the pool work it starts) with its id."""
    bind_request(trace.request_id)
    return trace


def web_client(settings: SlackSettings) -> AsyncWebClient:
    """A Web API client that honours Retry-After on 429 and retries connection and 5xx errors."""
    return AsyncWebClient(
        token=settings.bot_token,
        base_url=settings.api_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=1),
            # A 5xx from Slack is usually a blip: two tries more (with backoff) before the
            # placeholder is given up on. chat.update is idempotent, chat.postMessage nearly.
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


class SlackBot:
    """Wires bolt listeners to the core; blocking core calls run in a bounded pool (a bulkhead)."""

    def __init__(self, container: Any, settings: SlackSettings, workers: int | None = None) -> None:
        self.container = container
        self.settings = settings
        # Bulkheads: answers in one pool, quick Redis calls in another (see bulkheads.py).
        workers = workers or core_workers(bool(container.settings.llm_model))
        self._bulkheads = Bulkheads("slack", workers)
        self.core, self.quick = self._bulkheads.core, self._bulkheads.quick
        self.app = AsyncApp(
            client=web_client(settings),
            signing_secret=settings.signing_secret,
            request_verification_enabled=bool(settings.signing_secret),
            process_before_response=False,
        )
        self._register()

    def web_app(self, path: str = "/slack/events", health: Health | None = None) -> web.Application:
        """bolt's aiohttp app for Slack's requests, plus /healthz, /readyz and /metrics."""
        health = health or Health(self.container.readiness)
        web_app = self.app.web_app(path=path)
        web_app.middlewares.append(reject_malformed(path))
        return health.add_routes(web_app)

    async def serve(self, port: int, host: str = "0.0.0.0", grace: float = 25.0) -> bool:
        """HTTP mode until SIGTERM; then stop accepting, finish the answers in flight, return.

        bolt acks each event, then runs its listener as a task; `serve_until_stopped` waits
        for those tasks (and the pool work they await) for at most `grace` seconds.
        """
        # What is built by now (models, clients, prompts) lives as long as the process: frozen
        # out of the collector's sight, a full collection no longer stops every thread, the
        # acking event loop included, for ~150 ms under load.
        gc.collect()
        gc.freeze()
        # One connection pool for every Web API call: without a session slack_sdk opens one,
        # and a new (TLS) connection, per call, work the event loop does between acks.
        client = self.app.client
        client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=client.timeout))
        health = Health(self.container.readiness)
        watch = self._watch_orphans(health)
        try:
            finished = await serve_until_stopped(
                self.web_app(health=health), host, port, health, grace
            )
        finally:
            watch.cancel()
            await client.session.close()
        self._bulkheads.shutdown()
        return finished

    async def serve_socket_mode(self, app_token: str, port: int, grace: float = 25.0) -> bool:
        """Socket Mode until SIGTERM; then take no new envelopes and finish what is in flight.

        /healthz, /readyz and /metrics are served on `port`. Answers still running after
        `grace` seconds are cancelled, and their placeholders say to ask again.
        """
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        gc.collect()
        gc.freeze()
        health = Health(self.container.readiness)
        runner = await start_server(health.add_routes(web.Application()), "0.0.0.0", port)
        # Built inside the loop: its aiohttp session needs a running event loop.
        handler = AsyncSocketModeHandler(self.app, app_token)
        stop = stop_event()
        watch = self._watch_orphans(health)
        try:
            # Connecting retries for as long as Slack refuses the token: SIGTERM must still stop it.
            connecting = asyncio.create_task(handler.connect_async())
            await stop.wait()
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            deadline = asyncio.get_running_loop().time() + grace
            health.draining = True
            # Closing the socket stops new envelopes; bolt runs each listener as its own task
            # after the ack, so what is left on the loop afterwards is the work in flight.
            await handler.close_async()
            watch.cancel()
            logger.info("shutdown: finishing work in flight (at most %.0f s)", grace)
            finished = await drain(deadline, other_tasks)
            logger.info("shutdown: done")
            return finished
        finally:
            await runner.cleanup()
            self._bulkheads.shutdown()

    def _watch_orphans(self, health: Health) -> asyncio.Task[None]:
        """Resolve the placeholders of Slack processes that died (see `watch_orphans`)."""

        async def tell(orphan: Placeholder, text: str) -> None:
            await self.app.client.chat_update(channel=orphan.channel, ts=orphan.ref, text=text)

        return asyncio.create_task(
            watch_orphans(
                self.container.inflight, "slack", self.quick, tell, lambda: health.draining
            ),
            name="studybot: orphan watch",
        )

    # -- helpers ---------------------------------------------------------------

    async def _allowed(
        self, client: AsyncWebClient, team: str, channel: str, user: str, trace: Trace
    ) -> bool:
        allowed = await self.quick(self.container.rate_limiter.allow, f"slack:{team}", user)
        if allowed is None:
            trace.skipped.append("rate limit")
        if allowed is not False:
            return True
        trace.rate_limited = True
        await self._keep(Address("slack", team, channel), user, trace)
        await client.chat_postEphemeral(
            channel=channel,
            user=user,
            text="You're asking faster than I can keep up; give me a minute and ask again.",
        )
        return False

    async def _is_manager(self, client: AsyncWebClient, user: str, channel: str) -> bool:
        """Workspace admins and owners, and the channel's creator, manage the bot there."""
        info = await client.users_info(user=user)
        member = info.get("user") or {}
        if member.get("is_admin") or member.get("is_owner"):
            return True
        try:
            channel_info = await client.conversations_info(channel=channel)
            return (channel_info.get("channel") or {}).get("creator") == user
        except Exception:  # a DM or a channel the bot cannot see
            return False

    async def _keep(self, address: Address, user: str, trace: Trace) -> None:
        await self.quick(self.container.assistant.keep_trace, address, user, trace)

    async def answer(
        self,
        client: AsyncWebClient,
        incoming: Incoming,
        thread_ts: str | None,
        trace: Trace,
    ) -> None:
        """Post a placeholder, ask the core, then update the placeholder in place.

        The placeholder is always resolved: by the answer, or by a short message saying
        what is unavailable (or, at a shutdown past its grace, to ask again).
        """
        address = incoming.address
        if thread_ts:
            # Claimed before answering, so a quick follow-up in the thread already counts.
            await self.quick(
                self.container.threads.claim,
                f"slack:{address.tenant}",
                "slack-thread",
                address.channel,
                thread_ts,
                user=incoming.user,
            )
        with trace.stage("platform"):
            # No unfurls: a link quoted from course material must not fetch outside media.
            placeholder = await client.chat_postMessage(
                channel=address.channel,
                thread_ts=thread_ts,
                text="_Thinking…_",
                unfurl_links=False,
                unfurl_media=False,
            )

        async def update(text: str, blocks: list[dict[str, Any]] | None = None) -> None:
            with trace.stage("platform"):
                await client.chat_update(
                    channel=address.channel, ts=placeholder["ts"], text=text, blocks=blocks
                )

        async def work() -> None:
            reply = await self.core(self.container.assistant.ask, incoming, trace=trace)
            await update(*translate.render_reply(reply))

        async def tell(message: str) -> None:
            await update(translate.escape(message))

        inflight = self.container.inflight
        record = await self.quick(
            inflight.add, "slack", address.tenant, address.channel, placeholder["ts"]
        )
        try:
            await handoff(work, tell, trace)
        finally:
            await self.quick(inflight.done, record)
        await self._keep(address, incoming.user, trace)

    async def _first_time(self, body: dict[str, Any], trace: Trace) -> bool:
        """Claim the event id; a repeat (a Slack retry, or another replica's copy) is ignored."""
        event_id = body.get("event_id")
        if not event_id:
            return True
        with trace.stage("dedupe"):
            # The quick pool: one Redis SET NX must not wait behind answers for a core thread.
            first = await self.quick(
                self.container.deduper.first_time, f"slack:{body.get('team_id', '')}", event_id
            )
        if first is None:
            trace.skipped.append("duplicate check")
            return True
        if not first:
            trace.duplicate = True
            user = (body.get("event") or {}).get("user", "")
            await self._keep(Address("slack", body.get("team_id", "")), user, trace)
        return first

    @staticmethod
    def _event_trace(surface: str, body: dict[str, Any], request: Any) -> Trace:
        retry = (request.headers.get("x-slack-retry-num") or [None])[0]
        return _bound(
            Trace(
                surface,
                str(body.get("event_id") or secrets.token_hex(6)),
                retry_num=int(retry) if retry and str(retry).isdigit() else None,
            )
        )

    # -- listeners -------------------------------------------------------------

    def _register(self) -> None:
        app = self.app

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
            trace = self._event_trace("Slack mention", body, request)
            if event.get("bot_id") or not await self._first_time(body, trace):
                return
            team = body.get("team_id", "")
            user = event.get("user", "")
            if not await self._allowed(client, team, event["channel"], user, trace):
                return
            incoming = translate.event_to_incoming(event, team)
            await self.answer(client, incoming, event.get("thread_ts") or event["ts"], trace)

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
                asker = await self.quick(
                    self.container.threads.asker,
                    f"slack:{team}",
                    "slack-thread",
                    event["channel"],
                    thread,
                )
                # Follow-ups need no mention, but only from the student the bot is helping.
                if asker != event.get("user"):
                    return
            trace = self._event_trace("Slack DM" if direct else "Slack thread", body, request)
            if not await self._first_time(body, trace):
                return
            user = event.get("user", "")
            if not await self._allowed(client, team, event["channel"], user, trace):
                return
            incoming = translate.event_to_incoming(event, team)
            await self.answer(
                client, incoming, thread if not direct else event.get("thread_ts"), trace
            )

        @app.command("/study")
        async def on_study(ack: Any, command: dict[str, Any], client: AsyncWebClient) -> None:
            await ack()
            await self.study(command, client)

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
            trace = _bound(Trace("Slack follow-up button", secrets.token_hex(6)))
            await self.answer(
                client, incoming, message.get("thread_ts") or message.get("ts"), trace
            )

        @app.action(re.compile(r"^feedback_(helpful|not_helpful)$"))
        async def on_feedback(
            ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
        ) -> None:
            await ack()
            helpful = action["action_id"] == "feedback_helpful"
            address = Address("slack", body["team"]["id"], body["channel"]["id"])
            try:
                await self.core(
                    self.container.assistant.rate_answer,
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

        app.view("template_submit")(self.on_template_submit)

        @app.view("feedback_reason")
        async def on_feedback_reason(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
            await ack()
            meta = view.get("private_metadata", "|").split("|")
            reason = view["state"]["values"]["reason"]["reason"].get("value") or ""
            address = Address("slack", body["team"]["id"], meta[1] if len(meta) > 1 else "")
            try:
                await self.core(
                    self.container.assistant.rate_answer,
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
            await self.quiz(
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
            await self.quiz_answer(client, body, action["value"])

        @app.action("quiz_reveal")
        async def on_reveal(
            ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
        ) -> None:
            await ack()
            who = self._student(body)
            await self._result(client, body, self.container.quiz.reveal, who, action["value"])

        @app.action("quiz_try")
        async def on_try(
            ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
        ) -> None:
            await ack()
            who = self._student(body)
            course = await self.core(self.container.assistant.course_for, who)
            try:  # the item may have left the bank since the daily quiz was posted
                prompt = await self.core(
                    self.container.quiz.next_prompt, who, course, None, action["value"]
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
            await self._result(
                client, body, self.container.quiz.rate, self._student(body), prompt_id, rating
            )

        @app.action("template_example")
        async def on_template_example(
            ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
        ) -> None:
            await ack()
            who = self._student(body)
            try:
                await self.worked_example(client, who, action["value"])
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
            template = self.container.assistant.prompts.template(action["value"])
            fill = await self.quick(self.container.assistant.understood, incoming)
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
        async def on_home(
            event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
        ) -> None:
            who = Incoming(Address("slack", body.get("team_id", "")), event["user"], "home", "home")
            course = await self.core(self.container.assistant.course_for, who)
            stats = await self.core(self.container.quiz.stats, who, course)
            person = await self.core(self.container.quiz.person, who)
            groups = await self.core(
                self.container.quiz.groups.of_person, who.address.tenant_key, person
            )
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
            trace = self._event_trace("Slack assistant", body, request)
            if not await self._first_time(body, trace):
                return
            await set_status("is thinking…")
            team = body.get("team_id", "")
            text = translate.strip_mentions(payload.get("text", ""))
            if text.lower().startswith("quiz me"):
                await self.quiz(
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
                reply = await self.core(self.container.assistant.ask, incoming, trace=trace)
                text, blocks = translate.render_reply(reply)
                with trace.stage("platform"):
                    await say(text=text, blocks=blocks)

            async def tell(message: str) -> None:
                await say(text=translate.escape(message))

            await handoff(work, tell, trace)
            await self._keep(incoming.address, incoming.user, trace)

        app.use(assistant)

    # -- /study ----------------------------------------------------------------

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
                text=message.get("text", ""),
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
                trace = _bound(Trace("Slack /study ask", secrets.token_hex(6)))
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


def _id(field: Any) -> str | None:
    return field.get("id") if isinstance(field, dict) else None


def _where(body: dict[str, Any]) -> tuple[str, str]:
    """The channel and user of any Slack payload (event, command, action), "" when absent."""
    event = body.get("event") or {}
    channel = body.get("channel_id") or event.get("channel") or _id(body.get("channel"))
    user = body.get("user_id") or event.get("user") or _id(body.get("user"))
    return str(channel or ""), str(user or "")


def _text_input(
    block_id: str,
    label: str,
    *,
    optional: bool = True,
    multiline: bool = False,
    initial: str = "",
    placeholder: str = "",
    max_length: int | None = None,
) -> dict[str, Any]:
    """One plain-text input block, the building piece of every modal here."""
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": block_id,
        "multiline": multiline,
    }
    if placeholder:
        element["placeholder"] = {"type": "plain_text", "text": placeholder[:150]}
    if initial:
        element["initial_value"] = initial[:3000]
    if max_length:
        element["max_length"] = max_length
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": label[:2000]},
        "element": element,
    }


def _modal(title: str, blocks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title[:24]},
        "blocks": blocks,
        **extra,
    }


def template_modal(
    template: Any, prefill: dict[str, Any], channel: str, thread: str = ""
) -> dict[str, Any]:
    """One input per slot (Slack allows many), prefilled from the student's question."""
    blocks = []
    for slot in template.slots:
        value = prefill.get(slot.name) or ""
        listed = slot.type == "list"
        blocks.append(
            _text_input(
                slot.name,
                slot.name.replace("_", " ") + (" (one per line)" if listed else ""),
                optional=not slot.required,
                multiline=listed,
                initial="\n".join(value) if isinstance(value, list) else value,
                placeholder=str(slot.question),
            )
        )
    return _modal(
        template.title,
        blocks,
        callback_id="template_submit",
        private_metadata=json.dumps({"id": template.id, "channel": channel, "thread": thread}),
        submit={"type": "plain_text", "text": "Fill prompt"},
    )


def feedback_modal(answer_id: str, channel: str) -> dict[str, Any]:
    """Asks for an optional reason after "Not helpful"."""
    reason = _text_input("reason", "Reason (optional)", multiline=True, max_length=1000)
    return _modal(
        "What was missing?",
        [reason],
        callback_id="feedback_reason",
        private_metadata=f"{answer_id}|{channel}",
        submit={"type": "plain_text", "text": "Send"},
    )


def prompt_modal(prompt: str) -> dict[str, Any]:
    """The filled prompt in a text box, easy to select and copy."""
    box = _text_input("prompt", "Copy it into any AI assistant", multiline=True, initial=prompt)
    return _modal("Your filled prompt", [box])


def home_view(stats: Any, groups: list[str]) -> dict[str, Any]:
    """App Home: progress, due cards, groups and a Quiz me button."""
    group_text = ", ".join(translate.escape(g) for g in groups) or "none yet (`/study group list`)"
    quiz_me = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Quiz me"},
        "action_id": "quiz_on_this",
        "value": "",
        "style": "primary",
    }
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Your study progress"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": translate.render_stats(stats)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Your groups:* {group_text}"}},
            {"type": "actions", "elements": [quiz_me]},
        ],
    }
