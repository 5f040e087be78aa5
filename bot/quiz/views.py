"""What quizzes hand the faces to render: a question put to a student, and its outcome."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class QuizPrompt:
    """A question put to a student; its id is what buttons and answers refer to."""

    prompt_id: str
    item_id: str
    kind: str
    concept: str
    text: str
    options: list[str] = field(default_factory=list)
    due: bool = False  # a review of a due card, not a new item


@dataclass
class AnswerResult:
    """The outcome of an answer; `duplicate` when the prompt was already answered."""

    prompt_id: str
    item_id: str
    kind: str
    correct: bool | None  # multiple choice only
    explanation: str
    source: str
    model_answer: str = ""
    covered: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    score: float = 0.0
    rating: str | None = None  # set once FSRS has been updated
    next_due: str | None = None  # ISO time of the next review
    duplicate: bool = False
    hint: str = ""  # a beginner's deeper feedback: the section in plain words
