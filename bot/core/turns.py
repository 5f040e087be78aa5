"""What a message is while a template waits for a slot: an answer, a new question, or not."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path

import numpy as np

from bot.core.classifier import Prediction, TextClassifier, read_labelled


class TurnKind(StrEnum):
    """The labels of prompts/turn-examples.yaml."""

    ANSWER = "answer"  # answers, adds to or corrects the waiting template
    QUESTION = "question"  # a new concept question, answered on its own
    RESUME = "resume"  # back to the waiting template, nothing new said
    ABANDON = "abandon"  # the student drops the template


# Surface signs the embedding blurs: a reply's shape says more than its topic here.
_TURN_CUES = [
    r"\?\s*$",
    r"^\W*(?:(?:ok(?:ay)?|so|also|and|but|hm+|btw|quick q\w*|side (?:note|question)|wait|"
    r"before (?:that|i answer|we go on))[,:!.\s-]*)*(?:what'?s?|whats|why|how|when|where|which|"
    r"who|is|are|does|do|can|could|should|would)\b",
    r"\b(?:explain|define|describe|remind me|tell me|what does .+ mean|never (?:got|understood)|"
    r"(?:don'?t|do not|didn'?t) (?:understand|get)|why not|"
    r"confused|difference between|vs\.?|versus|meaning of|eli5)\b",
    r"^\W*(?:no|nope|not quite|actually|sorry|correction|wait|oops|i meant|my bad|mb|edit)\b",
    r"^\W*(?:also|oh and|and|plus|add|forgot|one more)\b|\b(?:too|as well)\W*$",
    r"\b(?:remove|drop|delete|scratch|take out|without|instead of|rather than|not)\b",
    r"(?m)^\s*(?:[-*\u2022]|\d+[.)])\s+\S|^\s*\*?[\w ]{2,20}\*?\s*:\s*\S",
    r"(?:->|\u2192|=>)|\b(?:calls|talks to|depends on|needs)\b",
    r",|\band\b",
    r"^\W*(?:ok(?:ay)?,?\s+|now\s+|let'?s\s+|please\s+)?(?:continue|resume|back to|go on|"
    r"carry on|finish|where were we)\b",
    r"\b(?:i have (?:a |one )?(?:question|doubt)|quick q\w*|side (?:question|note)|detour|"
    r"before (?:that|i answer|we (?:go on|continue))|btw|by the way)\b",
    r"\b(?:never ?mind|forget (?:it|that|about)|cancel|skip (?:it|this|that)|stop|drop it|"
    r"don'?t bother)\b",
    r"^\W*\S+(?:\s+\S+){0,3}\W*$",
    r"\b(?:it'?s|its|it is|we (?:have|store|keep|run|do)|our|my|the system)\b",
]


def load_turn_examples(path: Path) -> dict[str, list[str]]:
    """Labelled messages sent while a template waits: {label: [text, ...]}."""
    examples = read_labelled(path, "turns")
    if set(examples) != {kind.value for kind in TurnKind} or not all(examples.values()):
        raise ValueError(f"{path.name}: needs examples of exactly {[k.value for k in TurnKind]}")
    return examples


class TurnClassifier(TextClassifier):
    """Answer, new question, resume or abandon, learned from prompts/turn-examples.yaml."""

    def __init__(
        self,
        examples: dict[str, list[str]],
        embed: Callable[[Sequence[str]], np.ndarray],
        embed_one: Callable[[str], np.ndarray] | None = None,
    ) -> None:
        # Answers far outnumber the rest in real threads: the examples' own mix is the prior.
        super().__init__(examples, _TURN_CUES, embed, embed_one, balanced=False)

    def predict(self, text: str, layout: str | None = None) -> Prediction:
        """The most probable kind of turn."""
        p = self.probabilities(text, layout)
        best = max(p, key=p.__getitem__)
        return Prediction(TurnKind(best), p[best])
