"""The quiz bank: YAML files per course, validated, each item citing its source section."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from bot.core.errors import InputError
from bot.core.models import Chunk
from bot.retrieval.index import VectorIndex

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,80}$")


class BankError(InputError):
    """A quiz file is broken; the message names the file and the item."""


class SourceRef(BaseModel):
    """The course section an item is grounded in."""

    path: str
    section: str  # the section's own heading, e.g. "Retry storms and load amplification"


class _Item(BaseModel):
    id: str
    source: SourceRef
    concept: str = ""  # filled from the file

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("id must be lowercase letters, digits and dashes")
        return value

    @property
    def content_hash(self) -> str:
        """Changes whenever the item's wording changes."""
        return hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True).encode()).hexdigest()[
            :16
        ]


class MultipleChoice(_Item):
    """Pick one option; graded exactly."""

    kind: Literal["multiple-choice"]
    question: str
    options: list[str] = Field(min_length=2, max_length=5)
    answer: str
    explanation: str

    @model_validator(mode="after")
    def _answer_is_an_option(self) -> MultipleChoice:
        if self.answer not in self.options:
            raise ValueError("answer must be exactly one of the options")
        if len(set(self.options)) != len(self.options):
            raise ValueError("options must be distinct")
        return self

    @property
    def text(self) -> str:
        """What the student is asked."""
        return self.question

    @property
    def correct_index(self) -> int:
        """Position of the right option in the bank file."""
        return self.options.index(self.answer)

    def shown_order(self, seed: str) -> list[int]:
        """Bank positions of the options in the order one student sees them.

        A pure function of the seed (string seeds hash the same in every process),
        so a re-render, a retry or another replica shows the same letters.
        """
        order = list(range(len(self.options)))
        random.Random(f"{seed}|{self.id}").shuffle(order)
        return order

    def chosen(self, response: str, order: list[int] | None = None) -> str:
        """The option a response picks: its letter (a-e), its number (1-5) or its exact text.

        Letters and numbers count in the order the options were shown; a prompt
        shown before shuffling, or before the item changed, counts in bank order.
        """
        fits = order and sorted(order) == list(range(len(self.options)))
        shown = [self.options[i] for i in order] if order and fits else self.options
        text = response.strip().rstrip(".)").lower()
        if len(text) == 1 and "a" <= text <= chr(ord("a") + len(shown) - 1):
            return shown[ord(text) - ord("a")]
        if text.isdigit() and 1 <= int(text) <= len(shown):
            return shown[int(text) - 1]
        for option in shown:
            if option.lower() == text:
                return option
        letters = ", ".join(chr(ord("a") + i) for i in range(len(shown)))
        raise InputError(f"pick one of the options: {letters}")


class QuickCheck(_Item):
    """Free recall: the student writes an answer, then rates their recall."""

    kind: Literal["quick-check"]
    prompt: str
    model_answer: str
    key_points: list[str] = Field(min_length=2, max_length=6)

    @property
    def text(self) -> str:
        """What the student is asked."""
        return self.prompt


QuizItem = Annotated[MultipleChoice | QuickCheck, Field(discriminator="kind")]


class _BankFile(BaseModel):
    concept: str
    items: list[QuizItem]


@dataclass(frozen=True)
class QuizBank:
    """Every quiz item of one course, by id."""

    course: str
    items: dict[str, MultipleChoice | QuickCheck]

    def by_concept(self, concept: str | None = None) -> list[MultipleChoice | QuickCheck]:
        """Items of one concept (all items for None), in a stable order."""
        return [i for i in self.items.values() if concept is None or i.concept == concept]

    def concepts(self) -> list[str]:
        """Concepts that have items."""
        return sorted({i.concept for i in self.items.values()})


def load_bank(course_dir: Path, course: str) -> QuizBank:
    """Load `<course>/quizzes/*.yaml`; a schema error names the file and the item."""
    items: dict[str, MultipleChoice | QuickCheck] = {}
    folder = course_dir / "quizzes"
    for path in sorted(folder.glob("*.y*ml")) if folder.is_dir() else []:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise BankError(f"{path.name}: not valid YAML ({str(exc).splitlines()[0]})") from exc
        try:
            bank_file = _BankFile.model_validate(raw)
        except ValidationError as exc:
            raise BankError(f"{path.name}: {_describe(exc, raw)}") from exc
        for item in bank_file.items:
            if item.id in items:
                raise BankError(f"{path.name}: item {item.id}: duplicate id")
            items[item.id] = item.model_copy(update={"concept": bank_file.concept})
    return QuizBank(course, items)


def _describe(exc: ValidationError, raw: object) -> str:
    """The first problem, naming the item by id when there is one."""
    error = exc.errors()[0]
    location = error["loc"]
    where = ""
    if len(location) >= 2 and location[0] == "items" and isinstance(location[1], int):
        try:
            item_id = raw["items"][location[1]].get("id")  # type: ignore[index]
        except (TypeError, KeyError, IndexError, AttributeError):
            item_id = None
        where = f"item {item_id or f'#{location[1] + 1}'}: "
        location = location[2:]
    field = ".".join(str(p) for p in location if not str(p).startswith(("multiple", "quick")))
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}{field + ': ' if field else ''}{message}"


@dataclass
class BankReport:
    """What syncing the bank into the index found."""

    items: int
    added: int
    updated: int
    removed: int
    stale: list[str]  # items whose source section changed since the item was last edited

    def summary(self, course: str) -> str:
        """One line for humans."""
        line = (
            f"{course} quiz bank: {self.items} items ({self.added} added, {self.updated} updated, "
            f"{self.removed} removed)"
        )
        return line + (f"; {len(self.stale)} stale" if self.stale else "")


def section_hashes(chunks: Iterable[Chunk]) -> dict[tuple[str, str], str]:
    """A hash per (path, section heading) over its chunks' content hashes."""
    parts: dict[tuple[str, str], list[str]] = {}
    for chunk in chunks:
        key = (chunk.path, chunk.section.split(" > ")[-1])
        parts.setdefault(key, []).append(chunk.content_hash)
    return {
        k: hashlib.sha256("".join(sorted(v)).encode()).hexdigest()[:16] for k, v in parts.items()
    }


def sync_bank(index: VectorIndex, bank: QuizBank) -> BankReport:
    """Check every item's source exists, and store each item with its source's hash.

    The source hash is recorded when an item is new or edited; if the section
    changes later and the item does not, the item is reported stale.
    """
    current = section_hashes(index.chunks(bank.course))
    for item in bank.items.values():
        if (item.source.path, item.source.section) not in current:
            raise BankError(
                f"item {item.id}: cites a section that is not in the course: "
                f"{item.source.path} > {item.source.section}"
            )
    stored = index.quiz_records(bank.course)
    changed = [
        i for i in bank.items.values() if stored.get(i.id, {}).get("item_hash") != i.content_hash
    ]
    index.upsert_quiz(
        bank.course,
        [i.id for i in changed],
        [i.text for i in changed],
        [
            {
                "concept": i.concept,
                "kind": i.kind,
                "source_path": i.source.path,
                "source_section": i.source.section,
                "source_hash": current[(i.source.path, i.source.section)],
                "item_hash": i.content_hash,
            }
            for i in changed
        ],
    )
    removed = [i for i in stored if i not in bank.items]
    index.delete_quiz(bank.course, removed)
    records = index.quiz_records(bank.course)
    stale = sorted(
        item.id
        for item in bank.items.values()
        if records[item.id]["source_hash"] != current[(item.source.path, item.source.section)]
    )
    added = sum(1 for i in changed if i.id not in stored)
    return BankReport(len(bank.items), added, len(changed) - added, len(removed), stale)
