"""Typos in the words that frame a request ("sytem is", "evnets:", "resilence desgin") set right."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

# Label words, set right only where they label ("sytem is", "evnets:"): inside an item
# the student's spelling stays ("identity servce"). None is one letter from an ordinary
# word ("project" is one from "protect").
_LABEL_WORDS = (
    "system",
    "systems",
    "service",
    "services",
    "entity",
    "entities",
    "events",
    "operation",
    "operations",
    "dependency",
    "dependencies",
)
# Words that name a template, set right anywhere ("resilence desgin").
_TEMPLATE_WORDS = ("design", "analysis", "resilience", "consistency", "architecture")
_LABEL = re.compile(r"\b[A-Za-z]{5,14}\b(?=[ \t]*(?:[:=]|(?:is|are|r|name)\b))")  # "systm name is"
_ANYWHERE = re.compile(r"\b[A-Za-z]{5,14}\b")


def one_edit_apart(a: str, b: str) -> bool:
    """Whether one insertion, deletion, substitution or swap of neighbours turns a into b."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        substituted = a[i + 1 :] == b[i + 1 :]
        return substituted or (a[i : i + 2] == b[i : i + 2][::-1] and a[i + 2 :] == b[i + 2 :])
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return longer[i + 1 :] == shorter[i:]


def _corrector(words: tuple[str, ...]) -> Callable[[re.Match[str]], str]:
    def fixed(match: re.Match[str]) -> str:
        word = match[0]
        lower = word.lower()
        for target in words:
            if target[0] != lower[0] or abs(len(target) - len(lower)) > 1:
                continue
            if lower.startswith(target) or target.startswith(lower):
                continue  # the word itself, or another form of it ("event", "designs")
            if one_edit_apart(lower, target):
                return target.capitalize() if word[0].isupper() else target
        return word

    return fixed


@functools.lru_cache(maxsize=256)  # one message is read by intent, pending and slots
def fix_frame_typos(text: str) -> str:
    """The text with misspelt labels and template words spelt right (first letter kept)."""
    text = _LABEL.sub(_corrector(_LABEL_WORDS), text)
    return _ANYWHERE.sub(_corrector(_TEMPLATE_WORDS), text)
