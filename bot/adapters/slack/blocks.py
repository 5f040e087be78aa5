"""Slack modals and the App Home view, as Block Kit JSON."""

from __future__ import annotations

import json
from typing import Any

from bot.adapters.slack import translate


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
