"""The `/study` command group: each subcommand parses its options and renders a view."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.adapters.discord import translate
from bot.adapters.discord.components import followup, guarded, incoming_of, reply_view, send_quiz
from bot.adapters.discord.modals import TemplateModal
from bot.adapters.views import markdown
from bot.core.commands import Actor
from bot.core.commands.views import StatsView
from bot.core.errors import InputError
from bot.core.levels import AUTO, LEVELS
from bot.core.trace import Trace
from bot.logs import bind_request

if TYPE_CHECKING:
    from bot.adapters.discord.app import StudyClient


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
        who = incoming_of(interaction, question)

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

        await guarded(interaction, work, trace, ephemeral=False)
        await client.keep(who.address.tenant_key, who.user, trace)

    @study.command(name="trace", description="How your last question was handled, step by step")
    async def trace_(interaction: discord.Interaction) -> None:
        async def work() -> None:
            who = incoming_of(interaction, "trace")
            text = await client.core(container.assistant.explain_last, who.address, who.user)
            await followup(interaction, text.replace("*", "**"))

        await guarded(interaction, work)

    @study.command(name="help", description="What studybot can do")
    async def help_(interaction: discord.Interaction) -> None:
        view = container.commands.run(Actor.of(incoming_of(interaction, "help")), "help")
        await interaction.response.send_message(markdown(view), ephemeral=True)

    @study.command(name="quiz", description="Your next quiz question")
    @app_commands.autocomplete(concept=concept_choices)
    async def quiz(interaction: discord.Interaction, concept: str | None = None) -> None:
        await guarded(interaction, lambda: send_quiz(client, interaction, concept))

    async def command(interaction: discord.Interaction, *words: str | None) -> None:
        """A subcommand the core answers, as one line of the shared grammar."""
        line = " ".join(w for w in words if w)

        async def work() -> None:
            who = incoming_of(interaction, line)
            actor = Actor.of(who, manager=who.is_admin)  # Manage Channels
            view = await client.core(container.commands.run, actor, line)
            extra: dict[str, Any] = {}
            if isinstance(view, StatsView) and view.chart:
                from bot.quiz.progress import render_chart

                png = await client.core(render_chart, view.stats)
                extra["file"] = discord.File(io.BytesIO(png), filename="progress.png")
            text = markdown(view, managers="members with Manage Channels")
            await interaction.followup.send(text, ephemeral=True, **extra)

        await guarded(interaction, work)

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
                who = incoming_of(interaction, "template example")
                course = await client.core(container.assistant.course_for, who)
                text = await client.core(container.worked_examples.show, course, chosen.id)
                for part in translate.split_message(text):
                    await interaction.followup.send(part, ephemeral=True)

            await guarded(interaction, show)
            return
        if len(chosen.slots) > 5:  # Discord modals hold 5 inputs: ask in chat instead

            async def work() -> None:
                start = incoming_of(interaction, question or f"Apply {chosen.title.lower()}")
                reply = await client.core(container.assistant.ask, start, None, chosen.id)
                await interaction.followup.send(embeds=translate.reply_embeds(reply))

            await guarded(interaction, work)
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
