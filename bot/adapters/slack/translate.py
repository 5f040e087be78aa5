"""Pure translation: Slack payloads to core Incoming, core replies to Block Kit. No I/O."""

from __future__ import annotations

import re
from typing import Any

from bot.adapters.views import markdown, stats_markdown
from bot.core.commands.views import View
from bot.core.links import percent_encode, safe_url
from bot.core.models import Address, Citation, Incoming, Reply
from bot.quiz.progress import Stats
from bot.quiz.views import AnswerResult, QuizPrompt
from bot.schedule.outbox import PushMessage

SECTION_LIMIT = 3000  # characters in one section block's text
BLOCK_LIMIT = 50  # blocks in one message
CONTEXT_LIMIT = 2900  # characters in a context element (Slack allows 3,000)
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.M)
_BULLET = re.compile(r"^(\s*)[-*]\s+", re.M)


def escape(text: str) -> str:
    """Escape &, < and > so nothing in user or course text becomes a mention or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """Core Markdown to Slack mrkdwn, escaped first."""
    text = escape(markdown)
    text = _BOLD.sub(r"*\1*", text)
    text = _HEADING.sub(r"*\1*", text)
    return _BULLET.sub(r"\1• ", text)


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split at paragraph, then line, then word boundaries so each piece fits a block."""
    pieces: list[str] = []
    current = ""
    for paragraph in text.split("\n\n"):
        candidate = f"{current}\n\n{paragraph}" if current else paragraph
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while len(paragraph) > limit:
            cut = paragraph.rfind("\n", 0, limit)
            cut = cut if cut > limit // 2 else paragraph.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            pieces.append(paragraph[:cut])
            paragraph = paragraph[cut:].lstrip()
        current = paragraph
    if current:
        pieces.append(current)
    return pieces


def citation_mrkdwn(citation: Citation) -> str:
    """A source as mrkdwn: `<url|label>` when its file names a page, else the escaped label.

    The label is escaped, so its own `>` cannot end the link early; in the URL, `|`, `<`
    and `>` would end it, so they are percent-encoded and `&` written as Slack's `&amp;`.
    """
    label = escape(citation.label)
    url = safe_url(citation.url)
    if not url:
        return label
    return f"<{percent_encode(url, '|<>').replace('&', '&amp;')}|{label}>"


def strip_mentions(text: str) -> str:
    """Remove user mentions (the bot's own included) from a message."""
    return " ".join(_MENTION.sub(" ", text).split())


def event_to_incoming(event: dict[str, Any], team_id: str) -> Incoming:
    """An app_mention or message event as a core Incoming; replies go to the event's thread."""
    thread = event.get("thread_ts") or event.get("ts") or "default"
    return Incoming(
        address=Address("slack", team_id, event.get("channel", "")),
        user=event.get("user", ""),
        text=strip_mentions(event.get("text", "")),
        thread=str(thread),
    )


def command_to_incoming(payload: dict[str, Any], text: str, is_admin: bool = False) -> Incoming:
    """A /study slash command as a core Incoming (one thread per channel and user)."""
    return Incoming(
        address=Address("slack", payload.get("team_id", ""), payload.get("channel_id", "")),
        user=payload.get("user_id", ""),
        text=text,
        thread=f"cmd-{payload.get('channel_id', '')}",
        is_admin=is_admin,
        display_name=payload.get("user_name", ""),
    )


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def example_button(template_id: str, title: str) -> dict[str, Any]:
    """A button that shows one template filled in for a sample app."""
    return _button(f"See a worked example: {title}", "template_example", template_id)


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:75], "emoji": True},
        "action_id": action_id,
        "value": value[:2000],
    }
    if style:
        button["style"] = style
    return button


def render_reply(reply: Reply) -> tuple[str, list[dict[str, Any]]]:
    """A core Reply as (fallback text, blocks): answer, template, sources, buttons."""
    prompt = reply.template.prompt if reply.template and reply.template.prompt else None
    # A filled prompt goes in blocks of its own, with a modal for copying it.
    body = reply.body if prompt else reply.answer
    blocks = [section(piece) for piece in split_text(to_mrkdwn(body))]
    if prompt:
        blocks.append({"type": "divider"})
        blocks.append(section("*Filled prompt* (open it to copy):"))
        blocks += [section(f"```{p}```") for p in split_text(escape(prompt), SECTION_LIMIT - 6)]
        blocks.append(
            {
                "type": "actions",
                "elements": [_button("Open in modal", "open_prompt", reply.id)],
            }
        )
    for note in reply.notes:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"_{escape(note)}_"}]}
        )
    if reply.citations:
        sources = "Sources: " + " · ".join(citation_mrkdwn(c) for c in reply.cited())
        if len(sources) > CONTEXT_LIMIT:  # cutting there could split a link: plain labels
            sources = ("Sources: " + " · ".join(escape(c) for c in reply.citations))[:CONTEXT_LIMIT]
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": sources}]})
    elements = [_button(f, f"followup_{i}", f) for i, f in enumerate(reply.followups[:3])]
    if reply.template:  # correct what was understood in the template's form, prefilled
        elements.insert(0, _button("Edit", "edit_template", reply.template.id))
    if reply.in_scope:
        if reply.concept:
            elements.append(_button("Quiz me on this", "quiz_on_this", reply.concept))
        elements.append(_button("Helpful", "feedback_helpful", reply.id, "primary"))
        elements.append(_button("Not helpful", "feedback_not_helpful", reply.id))
    if elements:
        blocks.append({"type": "actions", "elements": elements[:25]})
    if len(blocks) > BLOCK_LIMIT:
        blocks = [*blocks[: BLOCK_LIMIT - 1], section("_(answer shortened)_")]
    fallback = to_mrkdwn(reply.answer)[:3000]
    return fallback, blocks


def render_prompt(prompt: QuizPrompt) -> tuple[str, list[dict[str, Any]]]:
    """A personal quiz question: option buttons, or Reveal for a quick check."""
    label = "Review" if prompt.due else "New question"
    blocks = [section(f"*{label} ({escape(prompt.concept)}):* {escape(prompt.text)}")]
    if prompt.options:
        blocks.append(_options(list(enumerate(prompt.options)), f"p|{prompt.prompt_id}"))
    else:
        reveal = _button("Reveal answer", "quiz_reveal", prompt.prompt_id)
        blocks.append({"type": "actions", "elements": [reveal]})
    return escape(prompt.text), blocks


def _options(options: list[tuple[int, str]], key: str) -> dict[str, Any]:
    """Option buttons whose values say what is answered.

    "p|PROMPT|i" names the i-th option shown in a student's own prompt;
    "i|ITEM|i" the option at bank position i of a channel quiz.
    """
    buttons = [
        _button(f"{chr(65 + i)}. {option}", f"quiz_answer_{i}", f"{key}|{value}")
        for i, (value, option) in enumerate(options)
    ]
    return {"type": "actions", "elements": buttons}


def render_push(message: PushMessage) -> tuple[str, list[dict[str, Any]]]:
    """A channel's daily quiz: anyone may answer; each answer counts for the clicker."""
    blocks = [section(f"*Daily quick check ({escape(message.concept)}):* {escape(message.text)}")]
    if message.options:
        positions = [(position, option) for option, position in message.option_values()]
        blocks.append(_options(positions, f"i|{message.item_id}"))
    elif message.item_id:
        blocks.append(
            {"type": "actions", "elements": [_button("Try it", "quiz_try", message.item_id)]}
        )
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "0 answered so far"}]}
    )
    return escape(message.text), blocks


def render_result(result: AnswerResult) -> tuple[str, list[dict[str, Any]]]:
    """Feedback on a quiz answer (sent only to the person who answered)."""
    lines = []
    if result.duplicate:
        lines.append("_You already answered this one; it counted once._")
    if result.kind == "multiple-choice":
        verdict = (
            "Correct!"
            if result.correct
            else f"Not quite: the answer is *{escape(result.model_answer)}*."
        )
        lines += [verdict, escape(result.explanation)]
    else:
        lines.append(f"*Model answer:* {escape(result.model_answer)}")
    if result.hint:
        lines.append(escape(result.hint))
    lines.append(f"_Source: {escape(result.source)}_")
    blocks = [section("\n".join(lines))]
    if result.kind == "quick-check" and not result.rating:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    _button(name.capitalize(), f"quiz_rate_{name}", f"{result.prompt_id}|{name}")
                    for name in ("again", "hard", "good", "easy")
                ],
            }
        )
    return lines[0] if lines else "", blocks


def render_stats(stats: Stats) -> str:
    """Progress as mrkdwn."""
    return to_mrkdwn(stats_markdown(stats))


def view_mrkdwn(view: View) -> str:
    """A command's view as mrkdwn: escaped, except the channel links it makes itself."""
    text = to_mrkdwn(markdown(view, channel=lambda channel: f"\x00{channel}\x00"))
    return re.sub(r"\x00(\w+)\x00", r"<#\1>", text)
