"""Text hygiene shared by ingestion and questions: strip invisible and control characters."""

from __future__ import annotations

import re
import unicodedata

from bot.core.errors import InputError

# Kept although they are control characters: they carry layout.
_KEEP = {"\n", "\t"}
# Unicode categories that render as nothing or can smuggle hidden instructions:
# control, format (zero-width, bidi overrides, tag characters), surrogates,
# private use and unassigned code points.
_DROP_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
_LINE_SEPARATORS = {"\u2028": "\n", "\u2029": "\n\n", "\r\n": "\n", "\r": "\n"}
_WORD = re.compile(r"\w", re.UNICODE)


def clean_text(text: str) -> str:
    """Normalise to NFC and remove invisible and control characters, keeping newlines."""
    for separator, replacement in _LINE_SEPARATORS.items():
        text = text.replace(separator, replacement)
    text = unicodedata.normalize("NFC", text)
    return "".join(
        ch for ch in text if ch in _KEEP or unicodedata.category(ch) not in _DROP_CATEGORIES
    )


def clean_query(text: str, max_chars: int) -> str:
    """Clean a user's question or query, or raise InputError saying what is wrong."""
    if len(text) > max_chars:
        raise InputError(
            f"the question is too long ({len(text):,} characters; limit {max_chars:,})"
        )
    cleaned = " ".join(clean_text(text).split())
    if not cleaned:
        raise InputError("the question is empty")
    if not _WORD.search(cleaned):
        raise InputError("the question has no words in it")
    return cleaned
