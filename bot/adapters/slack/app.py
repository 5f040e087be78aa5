"""The Slack bolt app: thin listeners that ack at once, translate, and call the core."""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.bulkheads import Bulkheads, core_workers
from bot.adapters.failures import handoff, watch_orphans
from bot.adapters.slack import translate
from bot.adapters.slack.listeners import register
from bot.adapters.slack.middleware import reject_malformed
from bot.adapters.slack.study import StudyFlows, bound_trace
from bot.config import SlackSettings
from bot.core.errors import InputError
from bot.core.models import Address, Incoming
from bot.core.trace import Trace
from bot.health import Health, drain, other_tasks, serve_until_stopped, start_server, stop_event
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


class SlackBot(StudyFlows):
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
        register(self)

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
        return bound_trace(
            Trace(
                surface,
                str(body.get("event_id") or secrets.token_hex(6)),
                retry_num=int(retry) if retry and str(retry).isdigit() else None,
            )
        )

    # -- listeners -------------------------------------------------------------

    # -- /study ----------------------------------------------------------------
