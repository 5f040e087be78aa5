"""Pure translation: Discord interactions and messages to core Incoming, replies to embeds."""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.core.links import percent_encode, safe_url
from bot.core.models import Address, Citation, Incoming, Reply
from bot.quiz.views import AnswerResult, QuizPrompt

MESSAGE_LIMIT = 2000  # characters in one message
EMBED_DESCRIPTION_LIMIT = 4096
MESSAGE_EMBEDS_LIMIT = 6000  # characters across all the embeds of one message
FIELD_LIMIT = 1024
_MENTION = re.compile(r"<@!?\d+>")
# What in a link's label could close it or restyle it; escaped with a backslash.
_LABEL_MARKUP = re.compile(r"([\\\[\]()*_~`|<>])")


def strip_mentions(text: str) -> str:
    """Remove user mentions (the bot's own included)."""
    return " ".join(_MENTION.sub(" ", text).split())


def citation_value(citation: Citation) -> str:
    """A source as an embed field's value: `[label](url)` when its file names a page.

    The label's brackets and Markdown are backslash-escaped, so it cannot close the link or
    open another; the URL's brackets, parentheses and angles are percent-encoded so it ends
    only where the link does. A source without a page, or one too long to link whole, is
    its label as before.
    """
    url = safe_url(citation.url)
    if url:
        label = _LABEL_MARKUP.sub(r"\\\1", citation.label)
        linked = f"[{label}]({percent_encode(url, '()[]<>')})"
        if len(linked) <= FIELD_LIMIT:
            return linked
    return citation.label[:FIELD_LIMIT]


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split at paragraph, line or word boundaries into pieces of at most `limit`, in order."""
    pieces: list[str] = []
    rest = text.strip()
    # Prefer a paragraph or line break, but only near the limit: fewer, fuller messages.
    near = int(limit * 0.8)
    while len(rest) > limit:
        cut = rest.rfind("\n\n", 0, limit)
        if cut < near:
            cut = rest.rfind("\n", 0, limit)
        if cut < near:
            cut = rest.rfind(" ", 0, limit)
        cut = cut if cut > 0 else limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def to_incoming(
    guild_id: int | None,
    channel_id: int | None,
    user_id: int,
    user_name: str,
    text: str,
    thread: str,
    is_admin: bool = False,
) -> Incoming:
    """A command, mention or DM as a core Incoming; a DM's tenant is the user's own."""
    tenant = str(guild_id) if guild_id else f"dm-{user_id}"
    return Incoming(
        address=Address("discord", tenant, str(channel_id or "")),
        user=str(user_id),
        text=strip_mentions(text),
        thread=thread,
        is_admin=is_admin,
        display_name=user_name,
    )


def reply_embeds(reply: Reply) -> list[discord.Embed]:
    """The answer in one embed (sources in its footer); a filled prompt in a second one."""
    prompt = reply.template.prompt if reply.template and reply.template.prompt else None
    body = reply.body if prompt else reply.answer
    notes = "".join(f"\n\n*{note}*" for note in reply.notes)
    answer = discord.Embed(
        title="Not in this course" if not reply.in_scope else None,
        description=(body + notes)[:EMBED_DESCRIPTION_LIMIT],
        colour=discord.Colour.blurple() if reply.in_scope else discord.Colour.light_grey(),
    )
    for number, citation in enumerate(reply.cited()[:3], 1):
        answer.add_field(name=f"Source {number}", value=citation_value(citation), inline=False)
    embeds = [answer]
    if prompt:
        embeds.append(
            discord.Embed(
                title="Filled prompt (copy it into any AI assistant)",
                description=f"```\n{prompt[: EMBED_DESCRIPTION_LIMIT - 10]}\n```",
                colour=discord.Colour.green(),
            )
        )
    # Discord refuses the whole message past that: a long answer gives way to the filled
    # prompt, which is what a template request is for.
    excess = sum(len(embed) for embed in embeds) - MESSAGE_EMBEDS_LIMIT
    if excess > 0 and answer.description:
        answer.description = answer.description[: -excess - 1] + "…"
    return embeds


def prompt_text(prompt: QuizPrompt) -> str:
    """A quiz question as message text, options lettered."""
    label = "Review" if prompt.due else "New question"
    lines = [f"**{label} ({prompt.concept}):** {prompt.text}"]
    lines += [f"**{chr(65 + i)}.** {option}" for i, option in enumerate(prompt.options)]
    return "\n".join(lines)


def result_text(result: AnswerResult) -> str:
    """Feedback on a quiz answer, for the person who answered."""
    lines = []
    if result.duplicate:
        lines.append("*You already answered this one; it counted once.*")
    if result.kind == "multiple-choice":
        lines.append(
            "Correct!" if result.correct else f"Not quite: the answer is **{result.model_answer}**."
        )
        lines.append(result.explanation)
    else:
        lines.append(f"**Model answer:** {result.model_answer}")
    if result.hint:
        lines.append(result.hint)
    lines.append(f"*Source: {result.source}*")
    return "\n".join(lines)


def as_payload(embeds: list[discord.Embed]) -> list[dict[str, Any]]:
    """Embeds as REST JSON (for the outbox, which posts without a gateway)."""
    return [e.to_dict() for e in embeds]
