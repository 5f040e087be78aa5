"""Explanation levels: the three a student may choose, and the one their quiz recall suggests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.core.errors import InputError
from bot.core.models import Incoming

BEGINNER, INTERMEDIATE, ADVANCED = "beginner", "intermediate", "advanced"
LEVELS = (BEGINNER, INTERMEDIATE, ADVANCED)
AUTO = "auto"  # forget a chosen level: infer it again
MIN_CARDS = 2  # fewer reviewed cards of a concept say nothing about the student
# Mean chance of recalling the concept's cards a week from now (FSRS retrievability).
# One card rated "again" is at 0.58, "good" at 0.81, "easy" or twice "good" above 0.9.
BEGINNER_BELOW = 0.72
ADVANCED_FROM = 0.9


@dataclass(frozen=True)
class StudentLevel:
    """The level an answer is written for, and where it came from."""

    level: str
    chosen: bool = False  # set by the student, not inferred
    cards: int = 0  # reviewed cards the inference rests on

    def describe(self, concept: str | None = None) -> str:
        """One line for the student: the level and why."""
        if self.chosen:
            return f"Your level: {self.level} (you chose it; `level auto` infers it again)."
        about = f" on {concept}" if concept else ""
        if self.cards < MIN_CARDS:
            return (
                f"Your level{about}: {self.level}, until your quiz answers say more "
                f"(or choose one: {', '.join(LEVELS)})."
            )
        return (
            f"Your level{about}: {self.level}, inferred from {self.cards} reviewed quiz cards "
            f"(or choose one: {', '.join(LEVELS)})."
        )


def parse_level(text: str) -> str:
    """A level name (any case), or `auto`; anything else is refused."""
    word = text.strip().lower()
    if word in (*LEVELS, AUTO):
        return word
    raise InputError(f"unknown level {text.strip()[:40]!r}; choose {', '.join(LEVELS)} or auto")


def level_from_recall(recall: list[float]) -> str:
    """The level a concept's cards suggest: each card's chance of recall a week from now."""
    if len(recall) < MIN_CARDS:
        return INTERMEDIATE
    mean = sum(recall) / len(recall)
    if mean < BEGINNER_BELOW:
        return BEGINNER
    return ADVANCED if mean >= ADVANCED_FROM else INTERMEDIATE


class LevelSource(Protocol):
    """Where the assistant learns a student's level (chosen, else inferred)."""

    def level_for(self, incoming: Incoming, course: str, concept: str | None) -> StudentLevel:
        """The student's level for a concept; the default when nothing is known."""
        ...
