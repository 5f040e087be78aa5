"""Template intent: explain a concept, or apply one of the course's templates to a system."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

EXPLAIN = "explain"

# Lexical cues the embedding alone blurs: a sentence embedding of "what is CAP?" and of
# "what CAP trade-offs should our chat app make?" are close; these words are not.
_CUES = [
    # the student's own system, or a named hypothetical one
    r"\b(?:our|my|we|we're|we are|i'm|i am|im)\b",
    r"\b(?:for|in|of) (?:a|an|the|this|our|my) [\w-]+(?: [\w-]+)? "
    r"(?:app|application|service|system|platform|site|website|api|backend|product|game|store|"
    r"shop|marketplace|bank|tool|startup|saas|clone)\b",
    # a request for an analysis or a design rather than an explanation
    r"\b(?:analy[sz]e|analysis|design|sketch|plan|architect|propose|map|assess|evaluate|"
    r"recommend|decide|choose|pick|go through|walk me through|help me|should)\b",
    r"\bwhich (?:parts?|ones?|of (?:these|them|those))\b|\beach of (?:these|them)\b|\bper\b",
    # the system's parts, given as a list or labelled lines
    r"(?m)^\s*(?:[-*\u2022]|\d+[.)])\s+\S|^\s*\*?[\w ]{2,20}\*?\s*:\s*\S",
    r"(?:->|\u2192|=>)|\b(?:calls|talks to|depends on)\b",
    r"[\w-]+, [\w-]+(?: [\w-]+)?,? (?:and|&) [\w-]+",
    # a template named outright ("resilience review", "consistency design", "EDA")
    r"\bcap (?:analy\w*|anlysis|breakdown|trade-?offs?)\b|\bcp (?:vs|or) ap\b",
    r"\bconsisten\w* (?:design|models?|levels?|analysis|plan)\b",
    r"\bevent[- ]?driven\b|\beda\b|\bevents? (?:design|flow|catalog)\b",
    r"\b(?:resilien\w*|fault[- ]toleran\w*) (?:review|design|plan|analysis)\b",
    # an explanation
    r"^\s*(?:what(?:'s| is| are| does)|why|how (?:does|do|is|are)|explain|define|describe|"
    r"tell me about|is it true|when (?:do|does|should)|difference|compare)\b",
    r"\b(?:mean|means|meaning|definition|in simple terms|eli5|example of|vs\.?|versus)\b",
]
_COMPILED_CUES = [re.compile(cue, re.IGNORECASE) for cue in _CUES]


def cue_features(text: str) -> np.ndarray:
    """One 0/1 feature per lexical cue."""
    return np.array([1.0 if cue.search(text) else 0.0 for cue in _COMPILED_CUES], np.float32)


@dataclass(frozen=True)
class Intent:
    """The predicted label (a template id or "explain") and how sure the classifier is."""

    label: str
    confidence: float

    @property
    def template_id(self) -> str | None:
        """The template to apply, or None for an explanation."""
        return None if self.label == EXPLAIN else self.label


def load_examples(path: Path) -> dict[str, list[str]]:
    """Labelled example requests: {label: [text, ...]} from the YAML beside the prompts."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}
    examples = {str(k): [str(t) for t in v or []] for k, v in (data.get("intents") or {}).items()}
    if EXPLAIN not in examples or len(examples) < 2:
        raise ValueError(f"{path.name}: needs an 'explain' intent and at least one template")
    return examples


class IntentClassifier:
    """Softmax regression over the MiniLM query embedding plus lexical cues.

    Fitted on the labelled examples at the first question (a few hundred rows: tens of
    milliseconds once the examples are embedded). A template is chosen only when it beats
    "explain" by `margin`, so a doubtful question gets an explanation, never wrong to give.
    """

    CUE_WEIGHT = 0.25  # cues sit beside 384 embedding dimensions of unit norm

    def __init__(
        self,
        examples: dict[str, list[str]],
        embed: Callable[[Sequence[str]], np.ndarray],
        embed_one: Callable[[str], np.ndarray] | None = None,
        margin: float = 0.3,
        l2: float = 1e-4,
        steps: int = 300,
    ) -> None:
        self.labels = sorted(examples)
        self._examples, self._embed = examples, embed
        self._embed_one = embed_one or (lambda text: embed([text])[0])
        self._margin, self._l2, self._steps = margin, l2, steps
        self._fitted: tuple[np.ndarray, np.ndarray] | None = None
        self._lock = threading.Lock()

    def _weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Fitted on first use (tens of milliseconds), once per process and example set."""
        with self._lock:
            if self._fitted is None:
                texts = [t for label in self.labels for t in self._examples[label]]
                key = repr((self.labels, texts, self.CUE_WEIGHT, self._l2, self._steps))
                if (fitted := _FITTED.get(key)) is None:
                    y = np.array(
                        [i for i, lab in enumerate(self.labels) for _ in self._examples[lab]]
                    )
                    x = self._features(texts, self._embed(texts))
                    fitted = _fit_softmax(x, y, len(self.labels), self._l2, self._steps)
                    _FITTED[key] = fitted
                self._fitted = fitted
            return self._fitted

    def prepare(self) -> None:
        """Fit now rather than at the first question."""
        self._weights()

    def memory_bytes(self) -> int:
        """What the fitted classifier keeps in memory (its weights)."""
        weights, bias = self._weights()
        return int(weights.nbytes + bias.nbytes)

    def _features(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        cues = np.stack([cue_features(t) for t in texts]) * self.CUE_WEIGHT
        return np.hstack([np.asarray(vectors, np.float32), cues])

    def probabilities(self, text: str, layout: str | None = None) -> dict[str, float]:
        """P(label | text) for every label; `layout` is the text with its line breaks."""
        vector = np.asarray(self._embed_one(text))[None, :]
        x = self._features([layout or text], vector)
        weights, bias = self._weights()
        logits = x @ weights + bias
        p = _softmax(logits)[0]
        return {label: float(p[i]) for i, label in enumerate(self.labels)}

    def predict(self, text: str, layout: str | None = None) -> Intent:
        """The template to apply, or "explain" when no template clearly wins."""
        p = self.probabilities(text, layout)
        best = max((label for label in p if label != EXPLAIN), key=p.__getitem__)
        if p[best] >= p[EXPLAIN] + self._margin:
            return Intent(best, p[best])
        return Intent(EXPLAIN, p[EXPLAIN])


# Fits already made in this process: the same examples always give the same weights.
_FITTED: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _fit_softmax(
    x: np.ndarray, y: np.ndarray, classes: int, l2: float, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by full-batch gradient descent with Adam."""
    n, d = x.shape
    weights, bias = np.zeros((d, classes), np.float32), np.zeros(classes, np.float32)
    onehot = np.eye(classes, dtype=np.float32)[y]
    # Each class weighs the same however many examples it has.
    sample = (n / (classes * onehot.sum(axis=0)))[y][:, None].astype(np.float32)
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
