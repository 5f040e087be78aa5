"""The Discord client: /study slash commands, mentions and DMs, persistent buttons, modals."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from typing import Any

import discord
import yarl
from aiohttp import web
from discord import app_commands

from bot.adapters.bulkheads import Bulkheads
from bot.adapters.discord import translate
from bot.adapters.failures import failure_of, handoff, tell_quietly, watch_orphans
from bot.adapters.views import markdown
from bot.config import DiscordSettings
from bot.core.commands import Actor
from bot.core.commands.views import StatsView
from bot.core.errors import InputError
from bot.core.levels import AUTO, LEVELS
from bot.core.models import Address, Incoming, Reply
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
        """A command that failed outside `_guarded`: the student still gets a short note."""
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


def _incoming(interaction: discord.Interaction, text: str) -> Incoming:
    permissions = interaction.permissions  # resolved for this channel, sent with the interaction
    return translate.to_incoming(
        interaction.guild_id,
        interaction.channel_id,
        interaction.user.id,
        interaction.user.display_name,
        text,
        f"cmd-{interaction.channel_id}",
        bool(permissions and permissions.manage_channels),
    )


def reply_view(reply: Reply) -> discord.ui.View:
    """Persistent buttons under an answer (custom_ids survive a restart)."""
    view = discord.ui.View(timeout=None)
    for index, text in enumerate(reply.followups[:3]):
        view.add_item(FollowupButton(reply.id, index, text))
    if reply.in_scope:
        view.add_item(FeedbackButton(True, reply.id))
        view.add_item(FeedbackButton(False, reply.id))
        if reply.concept:
            view.add_item(QuizOnThis(reply.concept))
    return view


def prompt_view(prompt_id: str, options: list[str], kind: str = "p") -> discord.ui.View:
    """Option buttons (or Reveal for a quick check)."""
    view = discord.ui.View(timeout=None)
    if options:
        for index, option in enumerate(options):
            view.add_item(QuizChoice(kind, prompt_id, index, f"{chr(65 + index)}. {option}"[:80]))
    else:
        view.add_item(RevealButton(prompt_id))
    return view


async def _followup(interaction: discord.Interaction, text: str, **kwargs: Any) -> None:
    """One follow-up per interaction; long text continues in further ordered messages."""
    pieces = translate.split_message(text) or [""]
    await interaction.followup.send(pieces[0], ephemeral=True, **kwargs)
    for piece in pieces[1:]:
        await interaction.followup.send(piece, ephemeral=True)


async def _guarded(
    interaction: discord.Interaction, work: Any, trace: Trace | None = None, ephemeral: bool = True
) -> None:
    """Defer at once (Discord allows 3 s), then do the work and send its follow-up.

    Whatever fails, the deferred "thinking…" is resolved with a short message.
    """
    with trace.stage("platform") if trace else contextlib.nullcontext():
        await interaction.response.defer(ephemeral=ephemeral, thinking=True)

    async def tell(message: str) -> None:
        await interaction.followup.send(message, ephemeral=ephemeral)

    client: StudyClient = interaction.client  # type: ignore[assignment]
    inflight = client.container.inflight
    # The interaction's token (valid 15 minutes) lets another process resolve it if this dies.
    record = await client.quick(
        inflight.add,
        "discord",
        str(interaction.application_id),
        str(interaction.channel_id),
        interaction.token,
    )
    try:
        await handoff(work, tell, trace)
    finally:
        await client.quick(inflight.done, record)


class QuizChoice(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"sb:q:(?P<kind>[pi]):(?P<key>[\w-]+):(?P<choice>\d)",
):
    """An option of a quiz question: "p" a personal prompt, "i" an item of a channel quiz."""

    def __init__(self, kind: str, key: str, choice: int, label: str = "") -> None:
        super().__init__(
            discord.ui.Button(
                label=label or chr(65 + choice), custom_id=f"sb:q:{kind}:{key}:{choice}"
            )
        )
        self.kind, self.key, self.choice = kind, key, choice

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> QuizChoice:
        return cls(match["kind"], match["key"], int(match["choice"]), item.label or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        client: StudyClient = interaction.client  # type: ignore[assignment]
        quiz = client.container.quiz

        async def work() -> None:
            who = _incoming(interaction, "quiz")
            prompt_id = self.key
            if self.kind == "i":
                course = await client.core(client.container.assistant.course_for, who)
                prompt_id = (  # the channel quiz's buttons carry bank positions
                    await client.core(quiz.next_prompt, who, course, None, self.key, False)
                ).prompt_id
            # Any digit fits the custom_id pattern; the core refuses options that don't exist.
            letter = chr(ord("a") + self.choice)
            result = await client.core(quiz.answer, who, prompt_id, letter)
            await _followup(interaction, translate.result_text(result))

        await _guarded(interaction, work)


class RevealButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"sb:reveal:(?P<prompt>[\w-]+)"
):
    """Show a quick check's model answer, then ask for a recall rating."""

    def __init__(self, prompt_id: str) -> None:
        super().__init__(
            discord.ui.Button(label="Reveal answer", custom_id=f"sb:reveal:{prompt_id}")
        )
        self.prompt_id = prompt_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> RevealButton:
        return cls(match["prompt"])

    async def callback(self, interaction: discord.Interaction) -> None:
        client: StudyClient = interaction.client  # type: ignore[assignment]

        async def work() -> None:
            result = await client.core(
                client.container.quiz.reveal, _incoming(interaction, "quiz"), self.prompt_id
            )
            view = discord.ui.View(timeout=None)
            for rating in ("again", "hard", "good", "easy"):
                view.add_item(RateButton(self.prompt_id, rating))
            await _followup(interaction, translate.result_text(result), view=view)

        await _guarded(interaction, work)


class RateButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"sb:rate:(?P<prompt>[\w-]+):(?P<rating>again|hard|good|easy)",
):
    """Again / Hard / Good / Easy after a quick check."""

    def __init__(self, prompt_id: str, rating: str) -> None:
        super().__init__(
            discord.ui.Button(label=rating.capitalize(), custom_id=f"sb:rate:{prompt_id}:{rating}")
        )
        self.prompt_id, self.rating = prompt_id, rating

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> RateButton:
        return cls(match["prompt"], match["rating"])

    async def callback(self, interaction: discord.Interaction) -> None:
        client: StudyClient = interaction.client  # type: ignore[assignment]

        async def work() -> None:
            who = _incoming(interaction, "quiz")
            result = await client.core(client.container.quiz.rate, who, self.prompt_id, self.rating)
            await _followup(interaction, translate.result_text(result))

        await _guarded(interaction, work)


class FeedbackButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"sb:fb:(?P<helpful>[01]):(?P<answer>\w+)"
):
    """Helpful / Not helpful on an answer; the last click wins."""

    def __init__(self, helpful: bool, answer_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Helpful" if helpful else "Not helpful",
                style=discord.ButtonStyle.success if helpful else discord.ButtonStyle.secondary,
                custom_id=f"sb:fb:{int(helpful)}:{answer_id}",
            )
        )
        self.helpful, self.answer_id = helpful, answer_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> FeedbackButton:
        return cls(match["helpful"] == "1", match["answer"])

    async def callback(self, interaction: discord.Interaction) -> None:
        client: StudyClient = interaction.client  # type: ignore[assignment]

        async def work() -> None:
            who = _incoming(interaction, "feedback")
            await client.core(
                client.container.assistant.rate_answer,
                who.address,
                who.user,
                self.answer_id,
                self.helpful,
            )
            await _followup(interaction, "Thanks for the feedback!")

        await _guarded(interaction, work)


class FollowupButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"sb:follow:(?P<answer>\w+):(?P<index>\d)"
):
    """A suggested follow-up question; its text is looked up by answer id."""

    def __init__(self, answer_id: str, index: int, label: str = "") -> None:
        super().__init__(
            discord.ui.Button(
                label=(label or "Follow-up")[:80], custom_id=f"sb:follow:{answer_id}:{index}"
            )
        )
        self.answer_id, self.index = answer_id, index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> FollowupButton:
        return cls(match["answer"], int(match["index"]), item.label or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        client: StudyClient = interaction.client  # type: ignore[assignment]
        assistant = client.container.assistant

        async def work() -> None:
            who = _incoming(interaction, "follow-up")
            text = await client.core(assistant.followup, who.address, self.answer_id, self.index)
            trace = Trace("Discord follow-up button", str(interaction.id))
            bind_request(trace.request_id)
            reply = await client.core(assistant.ask, _incoming(interaction, text), trace=trace)
            with trace.stage("platform"):
                await interaction.followup.send(
                    embeds=translate.reply_embeds(reply), view=reply_view(reply), ephemeral=True
                )
            await client.keep(who.address.tenant_key, who.user, trace)

        await _guarded(interaction, work)


class QuizOnThis(
    discord.ui.DynamicItem[discord.ui.Button], template=r"sb:quizon:(?P<concept>[\w-]+)"
):
    """Quiz me on the concept of an answer."""

    def __init__(self, concept: str) -> None:
        super().__init__(
            discord.ui.Button(label="Quiz me on this", custom_id=f"sb:quizon:{concept}")
        )
        self.concept = concept

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> QuizOnThis:
        return cls(match["concept"])

    async def callback(self, interaction: discord.Interaction) -> None:
        client: StudyClient = interaction.client  # type: ignore[assignment]
        await _guarded(interaction, lambda: send_quiz(client, interaction, self.concept))


class TryIt(discord.ui.DynamicItem[discord.ui.Button], template=r"sb:try:(?P<item>[\w-]+)"):
    """A channel's daily quick check, tried privately (Slack's "Try it")."""

    def __init__(self, item_id: str) -> None:
        super().__init__(discord.ui.Button(label="Try it", custom_id=f"sb:try:{item_id}"))
        self.item_id = item_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> TryIt:
        return cls(match["item"])

    async def callback(self, interaction: discord.Interaction) -> None:
        client: StudyClient = interaction.client  # type: ignore[assignment]
        await _guarded(interaction, lambda: send_quiz(client, interaction, None, self.item_id))


async def send_quiz(
    client: StudyClient,
    interaction: discord.Interaction,
    concept: str | None,
    item_id: str | None = None,
) -> None:
    """The student's next question (or one item), privately, with its buttons."""
    who = _incoming(interaction, "quiz")
    course = await client.core(client.container.assistant.course_for, who)
    quiz = client.container.quiz
    prompt = await client.core(quiz.next_prompt, who, course, concept, item_id)
    if prompt is None:
        await interaction.followup.send("You're all caught up!", ephemeral=True)
        return
    await interaction.followup.send(
        translate.prompt_text(prompt),
        view=prompt_view(prompt.prompt_id, prompt.options),
        ephemeral=True,
    )


class TemplateModal(discord.ui.Modal):
    """A template's slots as text inputs (Discord allows at most 5)."""

    def __init__(self, client: StudyClient, template: Any, prefill: dict[str, Any]) -> None:
        super().__init__(title=template.title[:45], custom_id=f"sb:template:{template.id}")
        self.client_ref, self.template = client, template
        for slot in template.slots[:5]:
            value = prefill.get(slot.name) or ""
            self.add_item(
                discord.ui.TextInput(
                    label=slot.name.replace("_", " ")[:45],
                    custom_id=slot.name,
                    style=discord.TextStyle.paragraph
                    if slot.type == "list"
                    else discord.TextStyle.short,
                    required=slot.required,
                    default="\n".join(value) if isinstance(value, list) else value,
                    placeholder=slot.question[:100],
                    max_length=1000,
                )
            )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        client = self.client_ref
        values = {
            c.custom_id: c.value for c in self.children if isinstance(c, discord.ui.TextInput)
        }

        async def work() -> None:
            reply = await client.core(
                client.container.assistant.fill_template,
                _incoming(interaction, "template"),
                self.template.id,
                values,
            )
            await interaction.followup.send(
                embeds=translate.reply_embeds(reply), view=reply_view(reply)
            )

        await _guarded(interaction, work)


def study_commands(client: StudyClient) -> app_commands.Group:
    """The /study command group."""
    study = app_commands.Group(
        name="study", description="Ask, quiz, stats, groups and daily quizzes"
    )
    container = client.container

    async def concept_choices(
        _: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        concepts = container.catalog.quiz_bank(container.settings.default_course).concepts()
        return [app_commands.Choice(name=c, value=c) for c in concepts if current.lower() in c][:25]

    async def template_choices(
        _: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        ids = [t.id for t in container.prompts.user_templates()]
        return [app_commands.Choice(name=i, value=i) for i in ids if current.lower() in i][:25]

    @study.command(name="ask", description="Ask a question about the course")
    @app_commands.describe(question="Your question")
    async def ask(interaction: discord.Interaction, question: str) -> None:
        trace = Trace("Discord /study ask", str(interaction.id))
        bind_request(trace.request_id)
        who = _incoming(interaction, question)

        async def work() -> None:
            if not await client.allowed(who.address.tenant_key, who.user, trace):
                await interaction.followup.send(
                    "You're asking faster than I can keep up; try again in a minute."
                )
                return
            reply = await client.core(container.assistant.ask, who, trace=trace)
            with trace.stage("platform"):
                await interaction.followup.send(
                    embeds=translate.reply_embeds(reply), view=reply_view(reply)
                )

        await _guarded(interaction, work, trace, ephemeral=False)
        await client.keep(who.address.tenant_key, who.user, trace)

    @study.command(name="trace", description="How your last question was handled, step by step")
    async def trace_(interaction: discord.Interaction) -> None:
        async def work() -> None:
            who = _incoming(interaction, "trace")
            text = await client.core(container.assistant.explain_last, who.address, who.user)
            await _followup(interaction, text.replace("*", "**"))

        await _guarded(interaction, work)

    @study.command(name="help", description="What studybot can do")
    async def help_(interaction: discord.Interaction) -> None:
        view = container.commands.run(Actor.of(_incoming(interaction, "help")), "help")
        await interaction.response.send_message(markdown(view), ephemeral=True)

    @study.command(name="quiz", description="Your next quiz question")
    @app_commands.autocomplete(concept=concept_choices)
    async def quiz(interaction: discord.Interaction, concept: str | None = None) -> None:
        await _guarded(interaction, lambda: send_quiz(client, interaction, concept))

    async def command(interaction: discord.Interaction, *words: str | None) -> None:
        """A subcommand the core answers, as one line of the shared grammar."""
        line = " ".join(w for w in words if w)

        async def work() -> None:
            who = _incoming(interaction, line)
            actor = Actor.of(who, manager=who.is_admin)  # Manage Channels
            view = await client.core(container.commands.run, actor, line)
            extra: dict[str, Any] = {}
            if isinstance(view, StatsView) and view.chart:
                from bot.quiz.progress import render_chart

                png = await client.core(render_chart, view.stats)
                extra["file"] = discord.File(io.BytesIO(png), filename="progress.png")
            text = markdown(view, managers="members with Manage Channels")
            await interaction.followup.send(text, ephemeral=True, **extra)

        await _guarded(interaction, work)

    @study.command(name="stats", description="Your progress, with a chart")
    async def stats(interaction: discord.Interaction) -> None:
        await command(interaction, "stats")

    @study.command(name="streak", description="Your study streak")
    async def streak(interaction: discord.Interaction) -> None:
        await command(interaction, "streak")

    @study.command(name="level", description="Show or choose how deep answers go")
    @app_commands.choices(level=[app_commands.Choice(name=n, value=n) for n in (*LEVELS, AUTO)])
    async def level(interaction: discord.Interaction, level: str | None = None) -> None:
        await command(interaction, "level", level)

    @study.command(name="link", description="Link your Slack and Discord accounts")
    async def link(interaction: discord.Interaction, code: str | None = None) -> None:
        await command(interaction, "link", code)

    @study.command(name="template", description="Fill a prompt template for your own system")
    @app_commands.autocomplete(template=template_choices)
    @app_commands.describe(example="Show it filled in for a sample app instead")
    async def template(
        interaction: discord.Interaction,
        template: str,
        question: str | None = None,
        example: bool = False,
    ) -> None:
        try:
            chosen = container.prompts.template(template)
        except InputError as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        if example:

            async def show() -> None:
                who = _incoming(interaction, "template example")
                course = await client.core(container.assistant.course_for, who)
                text = await client.core(container.worked_examples.show, course, chosen.id)
                for part in translate.split_message(text):
                    await interaction.followup.send(part, ephemeral=True)

            await _guarded(interaction, show)
            return
        if len(chosen.slots) > 5:  # Discord modals hold 5 inputs: ask in chat instead

            async def work() -> None:
                start = _incoming(interaction, question or f"Apply {chosen.title.lower()}")
                reply = await client.core(container.assistant.ask, start, None, chosen.id)
                await interaction.followup.send(embeds=translate.reply_embeds(reply))

            await _guarded(interaction, work)
            return
        prefill = container.assistant.slots.read(chosen, question) if question else {}
        await interaction.response.send_modal(TemplateModal(client, chosen, prefill))

    @study.command(name="group", description="Study groups: create, join, leave, list, leaderboard")
    @app_commands.choices(
        action=[
            app_commands.Choice(name=a, value=a)
            for a in ("create", "join", "leave", "list", "members", "leaderboard")
        ]
    )
    async def group(interaction: discord.Interaction, action: str, name: str | None = None) -> None:
        await command(interaction, "group", action, name)

    @study.command(name="subscribe", description="Daily quiz in this channel (Manage Channels)")
    @app_commands.autocomplete(concept=concept_choices)
    async def subscribe(
        interaction: discord.Interaction,
        time: str,
        timezone: str,
        days: str | None = None,
        concept: str | None = None,
    ) -> None:
        await command(interaction, "subscribe", time, timezone, days or "daily", concept)

    @study.command(
        name="unsubscribe", description="Stop this channel's daily quiz (Manage Channels)"
    )
    async def unsubscribe(interaction: discord.Interaction) -> None:
        await command(interaction, "unsubscribe")

    @study.command(
        name="subscriptions", description="This server's daily quizzes (Manage Channels)"
    )
    async def subscriptions(interaction: discord.Interaction) -> None:
        await command(interaction, "subscriptions")

    @study.command(name="course", description="Show or (Manage Channels) set this channel's course")
    async def course(interaction: discord.Interaction, name: str | None = None) -> None:
        await command(interaction, "course", name)

    return study
