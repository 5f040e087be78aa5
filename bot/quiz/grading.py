"""Grading free-recall answers offline: key-point coverage by embedding similarity and keywords."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bot.retrieval.embedding import Embedder

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {
    "a", "an", "the", "of", "to", "and", "or", "in", "on", "for", "with", "is", "are", "be",
    "it", "that", "this", "as", "by", "at", "from", "not", "no", "so", "than", "then",
}  # fmt: skip
SIMILAR = 0.55  # a sentence this close to a key point covers it


@dataclass(frozen=True)
class Coverage:
    """Which key points an answer covered, and an overall score in [0, 1]."""

    covered: list[str]
    missed: list[str]

    @property
    def score(self) -> float:
        """Share of key points covered."""
        total = len(self.covered) + len(self.missed)
        return len(self.covered) / total if total else 0.0


def _stems(text: str) -> set[str]:
    # A crude stem (first 5 letters) is enough to match "retries"/"retry", "jittered"/"jitter".
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _STOP}


def grade_key_points(embedder: Embedder, answer: str, key_points: list[str]) -> Coverage:
    """A key point is covered when most of its words appear or a sentence means the same."""
    sentences = [s for s in re.split(r"(?<=[.!?;])\s+|\n+", answer) if s.strip()] or [answer]
    vectors = embedder.embed([*sentences, *key_points])
    sentence_vectors, point_vectors = vectors[: len(sentences)], vectors[len(sentences) :]
    similarity = point_vectors @ sentence_vectors.T if len(sentences) else np.zeros((1, 1))
    answer_stems = _stems(answer)
    covered, missed = [], []
    for index, point in enumerate(key_points):
        stems = _stems(point)
        overlap = len(stems & answer_stems) / len(stems) if stems else 0.0
        if overlap >= 0.6 or float(similarity[index].max()) >= SIMILAR:
            covered.append(point)
        else:
            missed.append(point)
    return Coverage(covered, missed)
