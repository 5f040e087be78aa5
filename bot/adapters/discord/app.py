"""The Discord client: gateway, shards, mentions and DMs; commands, buttons and modals beside it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord
import yarl
from aiohttp import web
from discord import app_commands

from bot.adapters.bulkheads import Bulkheads
from bot.adapters.discord import translate
from bot.adapters.discord.commands import study_commands
from bot.adapters.discord.components import (
    FeedbackButton,
    FollowupButton,
    QuizChoice,
    QuizOnThis,
    RateButton,
    RevealButton,
    TryIt,
    reply_view,
)
from bot.adapters.failures import failure_of, handoff, tell_quietly, watch_orphans
from bot.config import DiscordSettings
from bot.core.errors import InputError
from bot.core.models import Address, Reply
from bot.core.trace import Trace
from bot.health import Health, drain, start_server, stop_event
from bot.logs import bind_request
from bot.state.inflight import Placeholder

logger = logging.getLogger(__name__)


def shard_plan(settings: DiscordSettings) -> tuple[int | None, list[int] | None]:
    """Shard count and this process's shard ids; ids must be distinct and in range."""
    if settings.shard_ids is None:
        return settings.shard_count, None
    if not settings.shard_count:
        raise InputError("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT")
    try:
        ids = [int(part) for part in settings.shard_ids.split(",") if part.strip()]
    except ValueError as exc:
        raise InputError("DISCORD_SHARD_IDS must look like 0,1,2") from exc
    if len(set(ids)) != len(ids) or any(not 0 <= i < settings.shard_count for i in ids):
        raise InputError(
            f"DISCORD_SHARD_IDS must be distinct numbers from 0 to {settings.shard_count - 1}"
        )
    return settings.shard_count, ids


def check_settings(settings: DiscordSettings) -> None:
    """Refuse to start without a plausible token, naming the variable."""
    if not settings.token:
        raise InputError("DISCORD_TOKEN is not set")
    if len(settings.token) < 50 or settings.token.count(".") != 2:
        raise InputError("DISCORD_TOKEN looks malformed: a bot token has three dot-separated parts")
    shard_plan(settings)


class StudyClient(discord.AutoShardedClient):
    """No privileged intents: slash commands, plus mentions and DMs (their content is delivered)."""

    def __init__(self, container: Any, settings: DiscordSettings, workers: int = 8) -> None:
        discord.http.Route.BASE = settings.api_url.rstrip("/")
        count, ids = shard_plan(settings)
        intents = discord.Intents.default()
        intents.message_content = settings.message_content
        super().__init__(
            intents=intents,
            # discord.py lets @everyone, users and roles ping by default; the bot never should.
            allowed_mentions=discord.AllowedMentions.none(),
            shard_count=count,
            shard_ids=ids,
        )
        self.container = container
        self.settings = settings
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(study_commands(self))
        self.tree.on_error = self._on_command_error  # type: ignore[method-assign]
        # Bulkheads: answers in one pool, quick Redis calls in another (see bulkheads.py).
        self._bulkheads = Bulkheads("discord", workers)
        self.core, self.quick = self._bulkheads.core, self._bulkheads.quick
        self.draining = False  # set on SIGTERM: new messages are left alone
        self.add_dynamic_items(
            QuizChoice, RevealButton, RateButton, FeedbackButton, QuizOnThis, FollowupButton, TryIt
        )

    async def setup_hook(self) -> None:
        """Sync the command tree: to one guild (instant) when configured, else globally."""
        if self.settings.guild_id:
            guild = discord.Object(id=self.settings.guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()

    async def launch_shards(self) -> None:
        """Dial the gateway that GET /gateway/bot names, also when the shard count is fixed.

        discord.py asks for it only when it picks the count itself; with DISCORD_SHARD_COUNT
        it would dial discord.gg directly, past the proxy or stand-in at DISCORD_API_URL.
        """
        if self.shard_count is not None:
            _, url, _ = await self.http.get_bot_gateway()
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        await super().launch_shards()

    def readiness(self) -> dict[str, Any]:
        """The core's checks (Redis, Chroma, model) and this client's gateway session."""
        return {
            **self.container.readiness(),
            "gateway": self.is_ready() or "not connected to the Discord gateway yet",
        }

    async def serve(self, token: str, port: int, grace: float = 25.0) -> bool:
        """Run with /healthz, /readyz and /metrics on `port` until SIGTERM or SIGINT.

        Then: not ready, new messages ignored, the event handlers and interactions in
        flight finish (at most `grace` seconds), and only then the client closes.
        Returns whether everything in flight finished.
        """
        health = Health(self.readiness)
        runner = await start_server(health.add_routes(web.Application()), "0.0.0.0", port)
        stop = stop_event()
        try:
            async with self:
                client = asyncio.create_task(self.start(token), name="studybot: discord client")
                watch = asyncio.create_task(
                    watch_orphans(
                        self.container.inflight,
                        "discord",
                        self.quick,
                        self._tell_orphan,
                        lambda: self.draining,
                    ),
                    name="studybot: orphan watch",
                )
                stopped = asyncio.create_task(stop.wait())
                await asyncio.wait({client, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if client.done():  # it failed (bad token, no gateway) or was closed
                    stopped.cancel()
                    watch.cancel()
                    client.result()
                    return True
                health.draining = self.draining = True
                watch.cancel()
                deadline = asyncio.get_running_loop().time() + grace
                logger.info("shutdown: finishing work in flight (at most %.0f s)", grace)
                finished = await drain(deadline, _in_flight)
                await self.close()
                await asyncio.gather(client, return_exceptions=True)
                return finished
        finally:
            await runner.cleanup()
            self._bulkheads.shutdown()

    async def _tell_orphan(self, orphan: Placeholder, text: str) -> None:
        """Resolve the deferred interaction of a process that died, through its webhook."""
        webhook = discord.Webhook.partial(int(orphan.tenant), orphan.ref, client=self)
        await webhook.send(text)

    async def _on_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """A command that failed outside `guarded`: the student still gets a short note."""
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        logger.error("command failed", exc_info=cause)
        send = (
            interaction.followup.send
            if interaction.response.is_done()
            else interaction.response.send_message
        )
        await tell_quietly(lambda text: send(text, ephemeral=True), failure_of(cause).message)

    async def first_time(self, tenant: str, event_id: int, trace: Trace, user: str) -> bool:
        """Claim a message id: two shard processes may both get it mid-deploy; one answers."""
        with trace.stage("dedupe"):
            first = await self.quick(self.container.deduper.first_time, tenant, str(event_id))
        if first is None:
            trace.skipped.append("duplicate check")
            return True
        if not first:
            trace.duplicate = True
            await self.keep(tenant, user, trace)
        return first

    async def allowed(self, tenant: str, user: str, trace: Trace) -> bool:
        """The per-user rate limit; a refusal is traced too."""
        allowed = await self.quick(self.container.rate_limiter.allow, tenant, user)
        if allowed is None:
            trace.skipped.append("rate limit")
        if allowed is not False:
            return True
        trace.rate_limited = True
        await self.keep(tenant, user, trace)
        return False

    async def keep(self, tenant: str, user: str, trace: Trace) -> None:
        """Store the trace under the student (best effort)."""
        platform, _, tenant_id = tenant.partition(":")
        await self.quick(
            self.container.assistant.keep_trace, Address(platform, tenant_id), user, trace
        )

    async def send_reply(self, destination: Any, reply: Reply) -> None:
        """Embeds plus persistent buttons; long text is split into ordered messages."""
        await destination.send(embeds=translate.reply_embeds(reply), view=reply_view(reply))

    async def on_message(self, message: discord.Message) -> None:
        """Answer mentions and DMs; in a thread the bot started, the asker needs no mention."""
        if self.draining or message.author.bot or (self.user and message.author.id == self.user.id):
            return
        guild_id = message.guild.id if message.guild else None
        tenant = str(guild_id) if guild_id else f"dm-{message.author.id}"
        direct = message.guild is None
        mentioned = self.user is not None and self.user in message.mentions
        in_our_thread = False
        if isinstance(message.channel, discord.Thread):
            asker = await self.quick(
                self.container.threads.asker,
                f"discord:{tenant}",
                "discord-thread",
                str(message.channel.id),
            )
            in_our_thread = asker == str(message.author.id)
        if not (direct or mentioned or in_our_thread) or not message.content.strip():
            return
        surface = (
            "Discord DM" if direct else "Discord thread" if in_our_thread else "Discord mention"
        )
        trace = Trace(surface, str(message.id))
        bind_request(trace.request_id)
        scope, user = f"discord:{tenant}", str(message.author.id)
        if not await self.first_time(scope, message.id, trace, user):
            return
        if not await self.allowed(scope, user, trace):
            await message.reply("You're asking faster than I can keep up; try again in a minute.")
            return
        destination: Any = message.channel
        if mentioned and not direct and not isinstance(message.channel, discord.Thread):
            destination = await message.create_thread(
                name=translate.strip_mentions(message.content)[:90] or "question"
            )
        if isinstance(destination, discord.Thread):
            # Claimed before answering, so a quick follow-up in the thread already counts.
            await self.quick(
                self.container.threads.claim,
                scope,
                "discord-thread",
                str(destination.id),
                user=user,
            )
        thread = str(getattr(destination, "id", message.channel.id))
        incoming = translate.to_incoming(
            guild_id, message.channel.id, message.author.id, message.author.display_name,
            message.content, thread,
        )  # fmt: skip

        async def work() -> None:
            async with destination.typing():
                reply = await self.core(self.container.assistant.ask, incoming, trace=trace)
            with trace.stage("platform"):
                await self.send_reply(destination, reply)

        await handoff(work, destination.send, trace)
        await self.keep(scope, user, trace)


# discord.py names the tasks it runs handlers in: events ("discord.py: on_message"), slash
# commands ("CommandTree-invoker"), buttons and modals ("discord-ui-...").
_HANDLER_TASKS = ("discord.py: ", "CommandTree-invoker", "discord-ui-")


def _in_flight() -> list[asyncio.Task[Any]]:
    """Event and interaction handlers still running (not the gateway's own tasks)."""
    return [t for t in asyncio.all_tasks() if t.get_name().startswith(_HANDLER_TASKS)]
