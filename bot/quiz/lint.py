"""Quiz bank lint: where keys sit, what gives them away, and whether citations hold."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
import yaml

from bot.quiz.bank import MultipleChoice, QuickCheck, load_bank
from bot.retrieval.loaders import SUPPORTED_SUFFIXES, LoadError, load_document

MAX_KEY_SHARE_AT_ONE_PLACE = 0.30
MAX_KEY_LONGEST_SHARE = 0.35
NEAR_DUPLICATE = 0.9  # difflib ratio of two options of one item
CITED_SECTION_RANK = 8  # of ~90 sections, the cited one must be among the 8 nearest
_ESCAPE_HATCH = re.compile(r"\b(all|none|both|neither) of (the )?(above|these|them)\b", re.I)
_MARKERS = re.compile(r"\d+(?:\.\d+)?|\b[A-Z]\b")  # numbers and one-letter names
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)

Embed = Callable[[Sequence[str]], np.ndarray]  # rows L2-normalised


@dataclass(frozen=True)
class Finding:
    """One problem: the file, the item (or "*" for the whole file) and what is wrong."""

    file: str
    item: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.item}: {self.problem}"


def lint_bank(course_dir: Path, course: str, embed: Embed | None = None) -> list[Finding]:
    """Every finding for a course's bank; an empty list means it is clean.

    Without `embed`, the two checks that need the embedding model are skipped.
    """
    bank = load_bank(course_dir, course)  # schema errors raise BankError, naming the item
    sections = _sections(course_dir)
    findings: list[Finding] = []
    by_file: dict[str, list[MultipleChoice | QuickCheck]] = {}
    for path in sorted((course_dir / "quizzes").glob("*.y*ml")):
        ids = [i["id"] for i in (yaml.safe_load(path.read_text(encoding="utf-8"))["items"])]
        by_file[path.name] = [bank.items[i] for i in ids]
    for name, items in by_file.items():
        choices = [i for i in items if isinstance(i, MultipleChoice)]
        findings += _placement(name, choices)
        for item in items:
            cited = (item.source.path, item.source.section)
            if cited not in sections:
                findings.append(
                    Finding(name, item.id, f"cites a missing section: {' > '.join(cited)}")
                )
            if isinstance(item, MultipleChoice):
                findings += _options(name, item)
    every = [i for items in by_file.values() for i in items if isinstance(i, MultipleChoice)]
    findings += _placement("(whole bank)", every)
    if embed is not None:
        findings += _agreement(by_file, sections, embed)
    return findings


def _placement(name: str, items: list[MultipleChoice]) -> list[Finding]:
    """Keys spread over the places, and the key not usually the longest option."""
    if not items:
        return []
    found = []
    places = Counter(i.correct_index for i in items)
    allowed = max(math.floor(MAX_KEY_SHARE_AT_ONE_PLACE * len(items)), math.ceil(len(items) / 4))
    for place, count in sorted(places.items()):
        if count > allowed:
            at = [i.id for i in items if i.correct_index == place]
            found.append(
                Finding(
                    name,
                    "*",
                    f"{count} of {len(items)} keys are option {chr(65 + place)} (at most "
                    f"{allowed}): {', '.join(at)}",
                )
            )
    longest = [i.id for i in items if _key_is_longest(i)]
    allowed = max(math.floor(MAX_KEY_LONGEST_SHARE * len(items)), 1)
    if len(longest) > allowed:
        found.append(
            Finding(
                name,
                "*",
                f"the key is the longest option in {len(longest)} of {len(items)} items (at most "
                f"{allowed}): {', '.join(longest)}",
            )
        )
    return found


def _key_is_longest(item: MultipleChoice) -> bool:
    key = len(item.answer)
    return all(key > len(o) for o in item.options if o != item.answer)


def _options(name: str, item: MultipleChoice) -> list[Finding]:
    found = []
    for option in item.options:
        if _ESCAPE_HATCH.search(option):
            found.append(Finding(name, item.id, f"an escape-hatch option: {option[:60]!r}"))
    for i, first in enumerate(item.options):
        for second in item.options[i + 1 :]:
            if _near_duplicates(first, second):
                found.append(
                    Finding(
                        name, item.id, f"near-duplicate options: {first[:40]!r} / {second[:40]!r}"
                    )
                )
    return found


def _near_duplicates(first: str, second: str) -> bool:
    """Nearly the same words, and the same numbers and symbols in the same order.

    "W = 1 and R = 2" and "W = 2 and R = 1" differ where it matters, and so do
    "X happened after Y" and "Y happened after X".
    """
    if _MARKERS.findall(first) != _MARKERS.findall(second):
        return False
    first, second = (" ".join(re.findall(r"\w+", t.lower())) for t in (first, second))
    return SequenceMatcher(None, first, second).ratio() >= NEAR_DUPLICATE


def _sections(course_dir: Path) -> dict[tuple[str, str], str]:
    """(file, heading) -> the section's text, for every heading of the course's files."""
    found: dict[tuple[str, str], str] = {}
    for path in sorted(course_dir.rglob("*")):
        if path.suffix.lower() not in SUPPORTED_SUFFIXES or "quizzes" in path.parts:
            continue
        try:
            text = load_document(path).markdown
        except LoadError:
            continue
        name = path.relative_to(course_dir).as_posix()
        marks = list(_HEADING.finditer(text))
        for mark, after in zip(marks, [*marks[1:], None], strict=True):
            body = text[mark.end() : after.start() if after else len(text)]
            found[(name, mark.group(1))] = f"{mark.group(1)}\n{body.strip()}"
    return found


def _agreement(
    by_file: dict[str, list[MultipleChoice | QuickCheck]],
    sections: dict[tuple[str, str], str],
    embed: Embed,
) -> list[Finding]:
    """Each item, key and explanation together, reads like the section it cites.

    A screen, not a proof: an item whose keyed answer and explanation sit far from
    their section (eight or more sections nearer, each as near as its nearest
    paragraph) usually cites the wrong section,
    or teaches something its section does not say. (Comparing the explanation
    with each option was tried and dropped: explanations name the distractors
    they rule out, so it flagged half of a sound bank.)
    """
    keys = list(sections)
    # Each paragraph with its heading: the model reads only the first 256 tokens of a text,
    # so a section is as near as its nearest paragraph.
    owners, paragraphs = [], []
    for number, key in enumerate(keys):
        heading, _, body = sections[key].partition("\n")
        for paragraph in [p for p in re.split(r"\n\s*\n", body) if p.strip()] or [""]:
            owners.append(number)
            paragraphs.append(f"{heading}\n{paragraph}")
    paragraph_vectors = embed(paragraphs)
    cited_items = [
        (name, item)
        for name, items in by_file.items()
        for item in items
        if (item.source.path, item.source.section) in sections  # a missing one is reported
    ]
    item_vectors = embed([_about(item) for _, item in cited_items])
    found = []
    for (name, item), vector in zip(cited_items, item_vectors, strict=True):
        scores = np.full(len(keys), -np.inf)
        np.maximum.at(scores, owners, paragraph_vectors @ vector)
        cited = keys.index((item.source.path, item.source.section))
        if int(np.sum(scores > scores[cited])) >= CITED_SECTION_RANK:
            nearest = " > ".join(keys[int(np.argmax(scores))])
            found.append(
                Finding(name, item.id, f"reads more like {nearest} than its cited section")
            )
    return found


def _about(item: MultipleChoice | QuickCheck) -> str:
    if isinstance(item, MultipleChoice):
        return f"{item.question}\n{item.answer}\n{item.explanation}"
    return f"{item.prompt}\n{item.model_answer}"
