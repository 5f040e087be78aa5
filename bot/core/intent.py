"""Template intent: explain a concept, or apply one of the course's templates to a system."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.core.classifier import Prediction, TextClassifier, read_labelled
from bot.core.spelling import fix_frame_typos

EXPLAIN = "explain"

# A template named outright, typos allowed: MiniLM reads "evnt driven desgin" poorly.
# "<concept> template" and "<concept>:" opening a message name the template too.
_TEMPLATE_NAMED = {
    "cap-analysis": (
        r"\bcap[- ](?:anal?\w*|anlysis|breakdown|trade-?offs?|template)\b|\bcp ?(?:vs|or|/) ?ap\b|"
        r"\bwhich (?:is|are|ones? (?:is|are)|should be) (?:cp|ap)\b|^\W*cap\s*:"
    ),
    "consistency-design": (
        r"\bcons[a-z]{4,9} (?:design|desgin|desing|models?|levels?|analy\w*|plan|template)\b|"
        r"\bdes(?:ign|ing|gin) (?:the |a |our )?cons[a-z]{4,9}\b|"
        r"^\W*(?:[\w-]+\s+)?consistency\s*:"
    ),
    "event-driven-design": (
        r"\bev\w{0,3}[- ]?driv\w*\b|\beda\b|\bevents? (?:design|flow|catalog\w*|storming)\b"
    ),
    "resilience-design": (
        r"\b(?:resil\w*|fault[- ]?toleran\w*) (?:review|design|desgin|plan|analy\w*|template)\b|"
        r"^\W*(?:[\w-]+\s+)?resilience\s*:"
    ),
}
_DOUBTFUL, _SURE_SENTENCE = 0.8, 0.9
# A sentence that asks for something, as opposed to one that describes the product.
_ASKING = re.compile(
    r"\?|\b(?:could|can|would|will) (?:you|u)\b|\bhelp\b|\bplease\b|\bpls\b|\bi'?d like\b|"
    r"\b(?:i|we) (?:need|want)\b|\blet'?s\b",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_NAMED = {label: re.compile(cue, re.IGNORECASE) for label, cue in _TEMPLATE_NAMED.items()}


def named_templates(text: str) -> list[str]:
    """The templates the text names outright ("cap analysis", "evnt driven design")."""
    text = fix_frame_typos(text)  # "consistancy template"
    return [label for label, cue in _NAMED.items() if cue.search(text)]


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
    *_TEMPLATE_NAMED.values(),
    # each concept's own words: which template a request wants when it names none
    r"\b(?:linearizab\w*|eventual(?:ly)?|causal\w*|stale|read[- ]your[- ](?:own[- ])?writes?|"
    r"monotonic|sequential(?:ly)?|guarantees?|strong(?:ly)?)\b",
    r"\b(?:ops?|operations?|endpoints?|actions?|reads?|writes?)\b|(?-i:\b(?:GET|POST|PUT|PATCH|"
    r"DELETE) /)",
    r"\b(?:partition\w*|split|splits|cp|ap|availab\w*|offline|data ?cent(?:er|re)s?|regions?)\b",
    r"\b(?:time ?outs?|retr(?:y|ies|ied)|circuit|breakers?|bulkheads?|fallbacks?|cascad\w*)\b",
    r"\b(?:producers?|consumers?|topics?|kafka|queues?|pub/?sub|publish\w*|subscrib\w*)\b",
    # an explanation
    r"^\s*(?:what(?:'s| is| are| does)|why|how (?:does|do|is|are)|explain|define|describe|"
    r"tell me about|is it true|when (?:do|does|should)|difference|compare)\b",
    r"\b(?:mean|means|meaning|definition|in simple terms|eli5|example of|vs\.?|versus)\b",
]


@dataclass(frozen=True)
class Intent(Prediction):
    """The predicted label (a template id or "explain") and how sure the classifier is."""

    @property
    def template_id(self) -> str | None:
        """The template to apply, or None for an explanation."""
        return None if self.label == EXPLAIN else self.label


def load_examples(path: Path) -> dict[str, list[str]]:
    """Labelled example requests: {label: [text, ...]} from the YAML beside the prompts."""
    examples = read_labelled(path, "intents")
    if EXPLAIN not in examples or len(examples) < 2:
        raise ValueError(f"{path.name}: needs an 'explain' intent and at least one template")
    return examples


class IntentClassifier(TextClassifier):
    """Explain, or which template: softmax regression on the embedding and intent cues.

    A template is chosen only when it beats "explain" by `margin`, so a doubtful
    question gets an explanation, never wrong to give.
    """

    def __init__(
        self,
        examples: dict[str, list[str]],
        embed: Callable[[Sequence[str]], np.ndarray],
        embed_one: Callable[[str], np.ndarray] | None = None,
        margin: float = 0.3,
    ) -> None:
        super().__init__(examples, _CUES, embed, embed_one)
        self._margin = margin

    def predict(self, text: str, layout: str | None = None) -> Intent:
        """The template to apply, or "explain" when no template clearly wins."""
        # "evnt driven desing": MiniLM and the cues read the typo poorly
        text, layout = fix_frame_typos(text), fix_frame_typos(layout) if layout else None
        p = self.probabilities(text, layout)
        best = max((label for label in p if label != EXPLAIN), key=p.__getitem__)
        named = [label for label in named_templates(layout or text) if label in p]
        # Named outright, a template is asked for when the templates together beat
        # "explain", however they share the rest between them.
        wanted = 1 - p[EXPLAIN] if len(named) == 1 else p[best]
        if wanted >= p[EXPLAIN] + self._margin:
            if len(named) == 1 and named[0] != best:
                # The student named the template; typos blur the embedding, not the name.
                return Intent(named[0], p[named[0]])
            if p[best] < _DOUBTFUL and (asked := self._asking_sentence(text)):
                return Intent(asked, p[best])  # as doubtful as the message as a whole
            return Intent(best, p[best])
        return Intent(EXPLAIN, p[EXPLAIN])

    def _asking_sentence(self, text: str) -> str | None:
        """The template one sentence asks for outright, when the whole message blurs it.

        A long description of the product ("splitting rent and groceries") pulls the
        mean embedding away from the sentence that makes the request, so the sentences
        that ask are read alone. Only called once a template already won over "explain",
        so it never opens a template.
        """
        sentences = [s for s in _SENTENCE.split(text) if len(s.split()) >= 4]
        asking = [s for s in sentences if _ASKING.search(s)]
        if len(sentences) < 2 or not asking:
            return None
        sure = {
            label
            for p in self.probabilities_each(asking[:4])
            for label, chance in p.items()
            if label != EXPLAIN and chance >= _SURE_SENTENCE
        }
        return sure.pop() if len(sure) == 1 else None  # two sure sentences disagree: no help
