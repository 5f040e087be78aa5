"""Discord modals: a prompt template's slots as text inputs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.adapters.discord import translate
from bot.adapters.discord.components import guarded, incoming_of, reply_view

if TYPE_CHECKING:
    from bot.adapters.discord.app import StudyClient


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
                incoming_of(interaction, "template"),
                self.template.id,
                values,
            )
            await interaction.followup.send(
                embeds=translate.reply_embeds(reply), view=reply_view(reply)
            )

        await guarded(interaction, work)
