"""Retrieval evaluation: recall@k and MRR for hybrid, dense-only and BM25-only, plus abstention."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.errors import InputError
from bot.core.models import Passage
from bot.core.text import clean_query
from bot.retrieval.search import HybridSearcher, Mode

MODES: tuple[Mode, ...] = ("hybrid", "dense", "bm25")
KS = (1, 3, 5)
MRR_DEPTH = 10


@dataclass(frozen=True)
class EvalQuestion:
    """One line of the eval set; an empty `expect` marks an off-topic question."""

    question: str
    expect: tuple[str, ...]
    concept: str | None

    @property
    def off_topic(self) -> bool:
        """Off-topic questions must abstain."""
        return not self.expect


@dataclass
class ModeScores:
    """Ranking quality of one retrieval mode over a group of questions."""

    hits: dict[int, int] = field(default_factory=lambda: dict.fromkeys(KS, 0))
    reciprocal_ranks: float = 0.0
    questions: int = 0

    def add(self, rank: int | None) -> None:
        """Record where the first right passage ranked (None: not in the top MRR_DEPTH)."""
        self.questions += 1
        if rank is not None:
            self.reciprocal_ranks += 1.0 / rank
            for k in KS:
                self.hits[k] += rank <= k

    def recall(self, k: int) -> float:
        """Share of questions with a right passage in the top k."""
        return self.hits[k] / self.questions if self.questions else 0.0

    @property
    def mrr(self) -> float:
        """Mean reciprocal rank of the first right passage."""
        return self.reciprocal_ranks / self.questions if self.questions else 0.0


@dataclass
class EvalReport:
    """Scores per mode, overall and per concept, and how abstention went."""

    overall: dict[str, ModeScores]
    by_concept: dict[str, dict[str, ModeScores]]
    off_topic: int
    off_topic_abstained: int
    in_scope_abstained: list[str]
    # (best dense similarity, best lexical coverage, is off-topic) per question
    signals: list[tuple[float, float, bool]]
    threshold: float  # dense similarity
    coverage: float  # lexical coverage

    def mistakes(self, threshold: float, coverage: float) -> int:
        """Questions these thresholds decide wrongly (off-topic kept, or on-topic refused)."""
        return sum((s >= threshold or c >= coverage) == off for s, c, off in self.signals)

    def best_thresholds(self) -> tuple[float, float]:
        """The (similarity, coverage) pair with the fewest mistakes on this set.

        Ties go to the pair nearest the thresholds in use, so a set that cannot tell
        them apart moves nothing.
        """
        similarities = sorted({round(s, 3) for s, _, _ in self.signals} | {self.threshold})
        coverages = sorted({round(c, 3) for _, c, _ in self.signals} | {self.coverage, 1.01})
        return min(
            ((t, c) for t in similarities for c in coverages),
            key=lambda p: (
                self.mistakes(*p),
                abs(p[0] - self.threshold) + abs(p[1] - self.coverage),
            ),
        )

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary."""

        def scores(group: dict[str, ModeScores]) -> dict[str, object]:
            return {
                mode: {**{f"recall@{k}": round(s.recall(k), 4) for k in KS}, "mrr": round(s.mrr, 4)}
                for mode, s in group.items()
            }

        return {
            "questions": self.overall["hybrid"].questions,
            "overall": scores(self.overall),
            "by_concept": {c: scores(g) for c, g in sorted(self.by_concept.items())},
            "abstention": {
                "threshold": self.threshold,
                "coverage": self.coverage,
                "best_thresholds_on_this_set": self.best_thresholds(),
                "off_topic": self.off_topic,
                "off_topic_abstained": self.off_topic_abstained,
                "in_scope_abstained": self.in_scope_abstained,
                "signals": [[round(s, 4), round(c, 4), off] for s, c, off in self.signals],
            },
        }


def load_questions(path: Path) -> list[EvalQuestion]:
    """Read the JSONL eval set; a bad line is an InputError naming the line."""
    if not path.is_file():
        raise InputError(f"no such eval file: {path}")
    questions = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            expect = item.get("expect") or []
            if not isinstance(item["question"], str) or not isinstance(expect, list):
                raise TypeError
            questions.append(
                EvalQuestion(item["question"], tuple(map(str, expect)), item.get("concept"))
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(
                f'{path}:{number}: expected {{"question": str, "expect": [str], "concept": str}}'
            ) from exc
    if not questions:
        raise InputError(f"{path}: no questions in it")
    return questions


def is_match(passage: Passage, expect: tuple[str, ...]) -> bool:
    """A passage is right if its section path or text contains any expected substring."""
    haystack = f"{passage.chunk.section}\n{passage.chunk.text}".casefold()
    return any(e.casefold() in haystack for e in expect)


def evaluate(
    searcher: HybridSearcher,
    questions: list[EvalQuestion],
    course: str,
    threshold: float,
    coverage: float,
) -> EvalReport:
    """Run every question through every mode."""
    overall = {mode: ModeScores() for mode in MODES}
    by_concept: dict[str, dict[str, ModeScores]] = defaultdict(
        lambda: {mode: ModeScores() for mode in MODES}
    )
    report = EvalReport(overall, by_concept, 0, 0, [], [], threshold, coverage)
    for question in questions:
        query = clean_query(question.question, max_chars=100_000)
        for mode in MODES:
            result = searcher.search(query, course, k=MRR_DEPTH, mode=mode)
            if mode == "hybrid":
                report.signals.append(
                    (result.best_similarity, result.best_coverage, question.off_topic)
                )
                if question.off_topic:
                    report.off_topic += 1
                    report.off_topic_abstained += not result.in_scope
                elif not result.in_scope:
                    report.in_scope_abstained.append(question.question)
            if question.off_topic:
                continue
            rank = next(
                (i for i, p in enumerate(result.passages, 1) if is_match(p, question.expect)),
                None,
            )
            overall[mode].add(rank)
            by_concept[question.concept or "none"][mode].add(rank)
    report.by_concept = dict(by_concept)
    return report
