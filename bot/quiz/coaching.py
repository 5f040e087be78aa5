"""Deeper quick-check feedback for beginners: a plain summary, and where missed points are told."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bot.core.levels import BEGINNER, LevelSource
from bot.core.models import Incoming
from bot.quiz.bank import QuickCheck
from bot.retrieval.chunking import split_units
from bot.retrieval.embedding import Embedder

SectionText = Callable[[str, str, str], str]  # (course, path, heading) -> the section's text


class BeginnerCoach:
    """For a beginner, a graded quick check also shows what the course says, in plain words.

    Other levels get the key points and the model answer only, as before.
    """

    def __init__(
        self, levels: LevelSource, section_text: SectionText, embedder: Callable[[], Embedder]
    ) -> None:
        self._levels = levels
        self._section_text = section_text
        self._embedder = embedder

    def hint(self, incoming: Incoming, course: str, item: QuickCheck, missed: list[str]) -> str:
        """Nothing above beginner level; else the summary and a course sentence per missed point."""
        if self._levels.level_for(incoming, course, item.concept).level != BEGINNER:
            return ""
        units = split_units(self._section_text(course, item.source.path, item.source.section))
        summary = " ".join(u.text for u in units if u.level == BEGINNER)
        lines = [f"In plain words: {summary}"] if summary else []
        body = [u.text for u in units if not u.level and u.kind != "table" and u.words >= 5]
        if missed and body:
            embedder = self._embedder()
            nearest = np.argmax(embedder.embed(missed) @ embedder.embed(body).T, axis=1)
            lines += [f"- {point}: {body[i]}" for point, i in zip(missed, nearest, strict=True)]
        return "\n".join(lines)
