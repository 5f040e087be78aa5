"""Discord's persistent buttons and the helpers every interaction uses."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import discord

from bot.adapters.discord import translate
from bot.adapters.failures import handoff
from bot.core.models import Incoming, Reply
from bot.core.trace import Trace
from bot.logs import bind_request

if TYPE_CHECKING:
    from bot.adapters.discord.app import StudyClient


def incoming_of(interaction: discord.Interaction, text: str) -> Incoming:
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


async def followup(interaction: discord.Interaction, text: str, **kwargs: Any) -> None:
    """One follow-up per interaction; long text continues in further ordered messages."""
    pieces = translate.split_message(text) or [""]
    await interaction.followup.send(pieces[0], ephemeral=True, **kwargs)
    for piece in pieces[1:]:
        await interaction.followup.send(piece, ephemeral=True)


async def guarded(
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
            who = incoming_of(interaction, "quiz")
            prompt_id = self.key
            if self.kind == "i":
                course = await client.core(client.container.assistant.course_for, who)
                prompt_id = (  # the channel quiz's buttons carry bank positions
                    await client.core(quiz.next_prompt, who, course, None, self.key, False)
                ).prompt_id
            # Any digit fits the custom_id pattern; the core refuses options that don't exist.
            letter = chr(ord("a") + self.choice)
            result = await client.core(quiz.answer, who, prompt_id, letter)
            await followup(interaction, translate.result_text(result))

        await guarded(interaction, work)


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
                client.container.quiz.reveal, incoming_of(interaction, "quiz"), self.prompt_id
            )
            view = discord.ui.View(timeout=None)
            for rating in ("again", "hard", "good", "easy"):
                view.add_item(RateButton(self.prompt_id, rating))
            await followup(interaction, translate.result_text(result), view=view)

        await guarded(interaction, work)


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
            who = incoming_of(interaction, "quiz")
            result = await client.core(client.container.quiz.rate, who, self.prompt_id, self.rating)
            await followup(interaction, translate.result_text(result))

        await guarded(interaction, work)


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
            who = incoming_of(interaction, "feedback")
            await client.core(
                client.container.assistant.rate_answer,
                who.address,
                who.user,
                self.answer_id,
                self.helpful,
            )
            await followup(interaction, "Thanks for the feedback!")

        await guarded(interaction, work)


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
            who = incoming_of(interaction, "follow-up")
            text = await client.core(assistant.followup, who.address, self.answer_id, self.index)
            trace = Trace("Discord follow-up button", str(interaction.id))
            bind_request(trace.request_id)
            reply = await client.core(assistant.ask, incoming_of(interaction, text), trace=trace)
            with trace.stage("platform"):
                await interaction.followup.send(
                    embeds=translate.reply_embeds(reply), view=reply_view(reply), ephemeral=True
                )
            await client.keep(who.address.tenant_key, who.user, trace)

        await guarded(interaction, work)


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
        await guarded(interaction, lambda: send_quiz(client, interaction, self.concept))


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
        await guarded(interaction, lambda: send_quiz(client, interaction, None, self.item_id))


async def send_quiz(
    client: StudyClient,
    interaction: discord.Interaction,
    concept: str | None,
    item_id: str | None = None,
) -> None:
    """The student's next question (or one item), privately, with its buttons."""
    who = incoming_of(interaction, "quiz")
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
