"""What a message does to a template the bot is still filling: answer, correct, resume or not."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.core.intent import EXPLAIN, Intent
from bot.core.slots import extract_slots, labelled_slots
from bot.state.conversations import PendingTemplate
from bot.templates import PromptTemplate


class PendingDecision(StrEnum):
    """How a message relates to the pending template."""

    SLOT_ANSWER = "slot answer"  # it fills what the bot asked for
    CORRECTION = "correction"  # "no, the system is a hotel chain"
    RESUME = "resume"  # "continue the CAP analysis"
    NEW_QUESTION = "new question"  # answered on its own; the pending fill waits


@dataclass(frozen=True)
class Decision:
    """The decision and, unless it is a new question, the template's slots after the message."""

    kind: PendingDecision
    slots: dict[str, Any] = field(default_factory=dict)


_RESUME = re.compile(
    r"^\s*(?:ok(?:ay)?,?\s+|now\s+|let'?s\s+|please\s+)?(?:continue|resume|back to|go on|"
    r"carry on|finish)\b",
    re.IGNORECASE,
)
_CORRECTION = re.compile(
    r"^\s*(?:no|nope|not quite|actually|sorry|correction|wait|oops|i meant|change)\b"
    r"|\b(?:the|our|my)\s+(?:system|app|data(?: types?)?|operations|ops|entities|events|"
    r"services|dependencies|calls)\s+(?:is|are|should be|would be)\b",
    re.IGNORECASE,
)
_QUESTION = re.compile(
    r"\?\s*$|^\s*(?:(?:ok|okay|so|also|and|but|actually|wait|hm+|btw)[,!.]?\s+)*"
    r"(?:what'?s?|whats|why|how|when|where|which|who|is|are|does|do|can|could|should|"
    r"explain|define|describe|tell me)\b",
    re.IGNORECASE,
)


def decide(
    template: PromptTemplate, pending: PendingTemplate, text: str, intent: Intent
) -> Decision:
    """Resume, correct, or fill the pending template, or leave it for a new question."""
    if _RESUME.search(text) and len(text.split()) <= 8:
        return Decision(PendingDecision.RESUME, dict(pending.slots))
    asks = bool(_QUESTION.search(text))
    if asks and intent.label == EXPLAIN:
        return Decision(PendingDecision.NEW_QUESTION)
    answering = pending.missing[0] if pending.missing else None
    if _CORRECTION.search(text):
        rewritten = _without_correction_words(text)
        named = labelled_slots(rewritten)
        found = extract_slots(template, rewritten, answering=answering)
        # Only what the correction names changes ("the system is ..."), else the slot asked for.
        changed = {k: v for k, v in found.items() if k in named or (not named and k == answering)}
        if changed:
            return Decision(PendingDecision.CORRECTION, {**pending.slots, **changed})
    found = extract_slots(template, text, answering=None if asks else answering)
    if any(name in found for name in pending.missing):
        # An answer fills what was missing; what the student said before stays.
        return Decision(PendingDecision.SLOT_ANSWER, {**found, **pending.slots})
    return Decision(PendingDecision.NEW_QUESTION)


def _without_correction_words(text: str) -> str:
    """Turn "no, the system is a hotel chain" -> "the system: a hotel chain" for the extractor."""
    text = re.sub(
        r"^\s*(?:no|nope|not quite|actually|sorry|correction|wait|oops|i meant|change)\b[,:!.]*\s*",
        "",
        text,
        flags=re.IGNORECASE,
    )
    return re.sub(
        r"\b(?:the|our|my)\s+(system|app|data(?: types?)?|operations|ops|entities|events|"
        r"services|dependencies|calls)\s+(?:is|are|should be|would be)\s+",
        lambda m: f"\n{m.group(1)}: ",
        text,
        flags=re.IGNORECASE,
    )
