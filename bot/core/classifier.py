"""Softmax regression over a sentence embedding plus lexical cues, fitted on labelled text."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml


@dataclass(frozen=True)
class Prediction:
    """The predicted label and how sure the classifier is."""

    label: str
    confidence: float


def read_labelled(path: Path, section: str) -> dict[str, list[str]]:
    """{label: [text, ...]} from a YAML section; a row is a string or has a "text" key."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}
    return {
        str(label): [str(row["text"] if isinstance(row, dict) else row) for row in rows or []]
        for label, rows in (data.get(section) or {}).items()
    }


class TextClassifier:
    """P(label | text) from the MiniLM embedding and 0/1 lexical cues.

    Fitted on the labelled examples at first use (a few hundred rows: tens of
    milliseconds once the examples are embedded), once per process and example set.
    """

    CUE_WEIGHT = 0.25  # cues sit beside 384 embedding dimensions of unit norm

    def __init__(
        self,
        examples: dict[str, list[str]],
        cues: Sequence[str],
        embed: Callable[[Sequence[str]], np.ndarray],
        embed_one: Callable[[str], np.ndarray] | None = None,
        l2: float = 1e-4,
        steps: int = 300,
        balanced: bool = True,
    ) -> None:
        self.labels = sorted(examples)
        self._balanced = balanced
        self._examples, self._embed = examples, embed
        self._cues = [re.compile(cue, re.IGNORECASE) for cue in cues]
        self._embed_one = embed_one or (lambda text: embed([text])[0])
        self._l2, self._steps = l2, steps
        self._fitted: tuple[np.ndarray, np.ndarray] | None = None
        self._lock = threading.Lock()

    def _weights(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if self._fitted is None:
                texts = [t for label in self.labels for t in self._examples[label]]
                cues = [c.pattern for c in self._cues]
                settings = (self.CUE_WEIGHT, self._l2, self._steps, self._balanced)
                key = repr((self.labels, texts, cues, settings))
                if (fitted := _FITTED.get(key)) is None:
                    y = np.array(
                        [i for i, lab in enumerate(self.labels) for _ in self._examples[lab]]
                    )
                    x = self._features(texts, self._embed(texts))
                    fitted = _fit_softmax(
                        x, y, len(self.labels), self._l2, self._steps, self._balanced
                    )
                    _FITTED[key] = fitted
                self._fitted = fitted
            return self._fitted

    def prepare(self) -> None:
        """Fit now rather than at the first message."""
        self._weights()

    def memory_bytes(self) -> int:
        """What the fitted classifier keeps in memory (its weights)."""
        weights, bias = self._weights()
        return int(weights.nbytes + bias.nbytes)

    def cue_features(self, text: str) -> np.ndarray:
        """One 0/1 feature per lexical cue."""
        return np.array([1.0 if cue.search(text) else 0.0 for cue in self._cues], np.float32)

    def _features(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        cues = np.stack([self.cue_features(t) for t in texts]) * self.CUE_WEIGHT
        return np.hstack([np.asarray(vectors, np.float32), cues])

    def probabilities(self, text: str, layout: str | None = None) -> dict[str, float]:
        """P(label | text) for every label; `layout` is the text with its line breaks."""
        vector = np.asarray(self._embed_one(text))[None, :]
        x = self._features([layout or text], vector)
        weights, bias = self._weights()
        p = _softmax(x @ weights + bias)[0]
        return {label: float(p[i]) for i, label in enumerate(self.labels)}

    def probabilities_each(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """P(label | text) for each of several texts, embedded in one batch."""
        x = self._features(texts, self._embed(texts))
        weights, bias = self._weights()
        return [
            {label: float(row[i]) for i, label in enumerate(self.labels)}
            for row in _softmax(x @ weights + bias)
        ]


# Fits already made in this process: the same examples always give the same weights.
_FITTED: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _fit_softmax(
    x: np.ndarray, y: np.ndarray, classes: int, l2: float, steps: int, balanced: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by full-batch gradient descent with Adam."""
    n, d = x.shape
    weights, bias = np.zeros((d, classes), np.float32), np.zeros(classes, np.float32)
    onehot = np.eye(classes, dtype=np.float32)[y]
    # Balanced: each class weighs the same however many examples it has.
    counts = onehot.sum(axis=0)
    sample = (n / (classes * counts))[y][:, None] if balanced else np.ones((n, 1))
    sample = sample.astype(np.float32)
    m_w, v_w = np.zeros_like(weights), np.zeros_like(weights)
    m_b, v_b = np.zeros_like(bias), np.zeros_like(bias)
    rate, beta1, beta2, eps = 0.05, 0.9, 0.999, 1e-8
    for step in range(1, steps + 1):
        error = (_softmax(x @ weights + bias) - onehot) * sample / n
        grad_w, grad_b = x.T @ error + l2 * weights, error.sum(axis=0)
        m_w, v_w = beta1 * m_w + (1 - beta1) * grad_w, beta2 * v_w + (1 - beta2) * grad_w**2
        m_b, v_b = beta1 * m_b + (1 - beta1) * grad_b, beta2 * v_b + (1 - beta2) * grad_b**2
        correction1, correction2 = 1 - beta1**step, 1 - beta2**step
        weights -= rate * (m_w / correction1) / (np.sqrt(v_w / correction2) + eps)
        bias -= rate * (m_b / correction1) / (np.sqrt(v_b / correction2) + eps)
    return weights, bias
