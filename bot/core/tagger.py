"""A learned slot tagger: a linear-chain CRF over words, trained on labelled requests."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

# Tags, BIO style: the system, an item of the template's main list, an event.
SYSTEM, ITEM, EVENT = "SYS", "ITEM", "EVT"
OUTSIDE = "O"
LIST_SLOT = {  # the list each template's ITEM tag fills
    "cap-analysis": "data_types",
    "consistency-design": "operations",
    "event-driven-design": "entities",
    "resilience-design": "services",
}
_TOKEN = re.compile(r"\n|[^\W_]+(?:[-'\u2019.][^\W_]+)*|\S")
_BULLET_START = re.compile(r"^\s*(?:[-*\u2022\u25e6+>]|\d+[.)]|[a-z][.)])\s+", re.I)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words after which a list or a system usually starts; the tagger sees the nearest one.
_CUES = _words(
    "for with like as including include includes such think e.g namely run runs running "
    "building build built is are was called named stores store storing keeps keep tracks "
    "track tracking handles handle manages has have holds saves saving calls call talks "
    "depends uses can could need needs want wants our my we of about : - -> analysis "
    "design "
)
_SENTENCE_END = frozenset(".?!\n")
_DETERMINERS = _words("a an the our my")
# Word classes that generalise past the examples' own words: English function words and
# common verbs (never part of a name), and the course's vocabulary (what to do, not a part).
_FUNCTION = _words(
    "a an the and or but if so then than that this these those there here it its it's "
    "they them their we us our you your i me my he she his her is are was were be been "
    "being am do does did done have has had having will would shall should can could may "
    "might must not no yes to of in on at by for with from into onto about over under "
    "after before between during while when where which who whom whose what why how all "
    "any each every some many much more most few less very just only also too as like "
    "please pls thanks thx hi hey hello ok okay keep keeps get gets got make makes need "
    "needs want wants use uses using help think know go goes run runs let lets see look "
    "looks work works handle handles do doing being now "
)
_COURSE = _words(
    "cap consistency consistent availability available partition partitions partitioned "
    "tolerance resilience resilient resilant fault faults event events eventual causal "
    "strong linearizable linearizability design desing analysis analyse analyze "
    "architecture tradeoff tradeoffs trade-off trade-offs cp ap circuit breaker breakers "
    "timeout timeouts retry retries bulkhead bulkheads fallback fallbacks model models "
    "level levels event-driven eda pattern patterns plan review "
)


@dataclass(frozen=True)
class Token:
    """One word or punctuation mark and where it sits in the text."""

    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Words, punctuation and line breaks, with character offsets."""
    return [Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def _shape(word: str) -> str:
    if word == "\n":
        return "NL"
    shape = re.sub(r"[A-Z]+", "X", re.sub(r"[a-z]+", "x", re.sub(r"\d+", "d", word)))
    return shape[:4]


def features(
    tokens: Sequence[Token], text: str, template_id: str, hints: Sequence[str] | None = None
) -> list[list[str]]:
    """CRF features per token: the word, its neighbours, its line, the nearest cue and hints.

    `hints` are tags another reader (the rule-based extractor) gave each token: the CRF
    learns from the examples how far to trust them.
    """
    words = [t.text.lower() for t in tokens]
    rows: list[list[str]] = []
    line_start, line_label, bullet, cue, sentence = 0, "", False, "", 0
    for i, token in enumerate(tokens):
        word = words[i]
        if i == 0 or words[i - 1] == "\n":
            line_start = i
            line = text[token.start : text.find("\n", token.start) % (len(text) + 1)]
            bullet = bool(_BULLET_START.match(line))
            line_label = ""
            cue = ""
        if i and words[i - 1] in _SENTENCE_END:
            sentence += 1
            cue = ""
        if word == ":" and i - line_start <= 5:
            line_label = "_".join(words[line_start:i])[-20:]
        row = [
            "bias",
            f"t={template_id}",
            f"w={word}",
            f"w|t={word}|{template_id}",
            f"shape={_shape(token.text)}",
            f"suf={word[-3:]}",
            f"cue={cue}",
            f"cue|t={cue}|{template_id}",
            f"linepos={min(i - line_start, 6)}",
            f"sent={min(sentence, 3)}",
        ]
        if bullet:
            row.append("bullet")
        if line_label:
            row += [f"label={line_label}", "after_label"]
        if token.text[:1].isupper():
            row.append("upper")
        for offset in (-1, 0, 1):
            j = i + offset
            if 0 <= j < len(words):
                kind = "func" if words[j] in _FUNCTION else "course" if words[j] in _COURSE else ""
                row.append(f"class{offset:+d}={kind or 'word'}")
        if hints:
            row += [f"hint={hints[i]}", f"hint|t={hints[i]}|{template_id}"]
        for offset in (-2, -1, 1, 2):
            j = i + offset
            other = words[j] if 0 <= j < len(words) else ("<s>" if j < 0 else "</s>")
            row.append(f"w{offset:+d}={other}")
        row.append(f"w-1|w={words[i - 1] if i else '<s>'}|{word}")
        row.append(f"w|w+1={word}|{words[i + 1] if i + 1 < len(words) else '</s>'}")
        rows.append(row)
        if word in _CUES:
            cue = word
    return rows


def _spans(text: str, value: str) -> Iterable[tuple[int, int]]:
    for match in re.finditer(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.IGNORECASE):
        yield match.start(), match.end()


def gold_tags(
    tokens: Sequence[Token], text: str, labels: dict[str, Any], list_slot: str
) -> list[str]:
    """BIO tags for a labelled example: longest values first, the system at its first mention."""
    tags = [OUTSIDE] * len(tokens)
    taken = [False] * len(tokens)

    def mark(start: int, end: int, tag: str) -> bool:
        inside = [k for k, t in enumerate(tokens) if t.start >= start and t.end <= end]
        if not inside or any(taken[k] for k in inside):
            return False
        for n, k in enumerate(inside):
            tags[k], taken[k] = ("B-" if n == 0 else "I-") + tag, True
        return True

    if system := labels.get("system"):
        next((True for s, e in _spans(text, system) if mark(s, e, SYSTEM)), None)
    values = [(v, EVENT) for v in labels.get("events") or []]
    values += [(v, ITEM) for v in labels.get(list_slot) or []]
    for value, tag in sorted(values, key=lambda pair: -len(pair[0])):
        for start, end in _spans(text, value):
            mark(start, end, tag)
    return tags


Example = tuple[str, str, dict[str, Any]]  # (template id, text, labels)


@dataclass(frozen=True)
class TaggerExamples:
    """Labelled requests, with a digest of them that names the model trained on them."""

    items: tuple[Example, ...]
    digest: str

    @classmethod
    def of(cls, items: Iterable[Example]) -> TaggerExamples:
        """Examples from (template id, text, labels) triples."""
        items = tuple(items)
        return cls(items, hashlib.sha256(repr(items).encode()).hexdigest())

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Example]:
        return iter(self.items)

    def __getitem__(self, part: slice) -> TaggerExamples:
        return TaggerExamples.of(self.items[part])


def load_tagger_examples(folder: Path) -> TaggerExamples:
    """The examples in prompts/slot-examples/<template>[.<batch>].yaml (parsed once a process)."""
    paths = [p for t in sorted(LIST_SLOT) for p in sorted(folder.glob(f"{t}.*yaml"))]
    signature = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    with _CACHE_LOCK:
        if (loaded := _LOADED.get(signature)) is None:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            items = [
                (path.name.split(".")[0], str(raw["text"]), raw)
                for path in paths
                for raw in yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or []
            ]
            loaded = _LOADED[signature] = TaggerExamples.of(items)
        return loaded


# The modules a model depends on: the features here, and the rules that give the hints.
_FEATURE_SOURCES = ("tagger.py", "slots.py", "lists.py", "system_name.py", "calls.py")


@functools.cache
def _source_digest() -> str:
    """The source a model depends on: a change there retrains it."""
    digest = hashlib.sha256()
    for name in _FEATURE_SOURCES:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()


# Per process: parsed example sets, and opened models with a lock each (a crfsuite tagger
# keeps its lattice in the object, so two threads must not tag with one at once).
_CACHE_LOCK = threading.Lock()
_LOADED: dict[tuple[tuple[str, int, int], ...], TaggerExamples] = {}
_OPENED: dict[Path, tuple[Any, threading.Lock]] = {}


Hinter = Callable[[str, str], dict[str, Any]]  # (template id, text) -> slot values


class SlotTagger:
    """Tags the system, list items and events in a request with a CRF (python-crfsuite).

    Trained from the labelled examples on first use (a few seconds) and kept as a model file
    in the first writable cache folder, named by a hash of the examples and of the source
    it depends on (the features and the rules that give the hints), so a change to either
    retrains it.
    """

    # L-BFGS with elastic-net regularisation; chosen by cross-validation on the examples.
    PARAMS: ClassVar[dict[str, float]] = {"c1": 0.05, "c2": 0.05, "max_iterations": 100}

    def __init__(
        self,
        examples: TaggerExamples,
        hinter: Hinter | None = None,
        cache_dirs: Sequence[Path] = (),
    ) -> None:
        self._examples, self._hinter = examples, hinter
        self._cache_dirs = [*cache_dirs, Path(tempfile.gettempdir()) / "studybot-tagger"]
        self._opened: tuple[Any, threading.Lock] | None = None
        self._path: Path | None = None

    def _model_name(self) -> str:
        identity = (self._examples.digest, self._hinter is None, self.PARAMS, _source_digest())
        return f"slot-tagger-{hashlib.sha256(repr(identity).encode()).hexdigest()[:16]}.crfsuite"

    def _load(self) -> tuple[Any, threading.Lock]:
        if self._opened is not None:
            return self._opened
        with _CACHE_LOCK:  # one training per process, however many threads ask at once
            name = self._model_name()
            path = next((d / name for d in self._cache_dirs if (d / name).exists()), None)
            for folder in self._cache_dirs if path is None else []:
                try:
                    path = self._train(folder / name)
                    break
                except OSError:  # a read-only folder: try the next
                    continue
            assert path is not None  # the temp folder is always writable
            if path not in _OPENED:
                import pycrfsuite

                tagger = pycrfsuite.Tagger()
                tagger.open(str(path))
                _OPENED[path] = (tagger, threading.Lock())
            self._opened, self._path = _OPENED[path], path
            return self._opened

    def model_file(self) -> Path:
        """The trained model file (trained now if no cache folder has it)."""
        self._load()
        assert self._path is not None  # set by _load
        return self._path

    def _features(
        self, text: str, template_id: str, hinted: dict[str, Any] | None = None
    ) -> tuple[list[Token], list[list[str]]]:
        tokens = tokenize(text)
        hints = None
        if self._hinter:
            hinted = self._hinter(template_id, text) if hinted is None else hinted
            hints = gold_tags(tokens, text, hinted, LIST_SLOT[template_id])
        return tokens, features(tokens, text, template_id, hints)

    def _train(self, path: Path) -> Path:
        import pycrfsuite

        trainer = pycrfsuite.Trainer(verbose=False)
        for template_id, text, labels in self._examples:
            tokens, rows = self._features(text, template_id)
            trainer.append(rows, gold_tags(tokens, text, labels, LIST_SLOT[template_id]))
        trainer.set_params(self.PARAMS)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(handle)
        try:
            trainer.train(tmp)
            os.chmod(tmp, 0o644)  # readable by every process that shares the folder
            os.replace(tmp, path)  # whole or absent, however many processes train at once
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    def tag(
        self, text: str, template_id: str, hinted: dict[str, Any] | None = None
    ) -> dict[str, list[str]]:
        """{"system": [...], list slot: [...], "events": [...]} as the text spells them.

        `hinted` is the hinter's reading of this text, when the caller already has it.
        """
        tokens, rows = self._features(text, template_id, hinted)
        if not tokens:
            return {}
        tagger, lock = self._load()
        with lock:
            tags = tagger.tag(rows)
        slot_of = {SYSTEM: "system", ITEM: LIST_SLOT[template_id], EVENT: "events"}
        found: dict[str, list[str]] = {}
        start = end = None
        kind = ""
        for index, (token, tag) in enumerate([*zip(tokens, tags, strict=True), (None, OUTSIDE)]):
            ends = token is None or not tag.startswith("I-") or tag[2:] != kind
            if start is not None and ends:
                found.setdefault(slot_of[kind], []).append(text[start:end])
                start = None
            if token is not None and tag != OUTSIDE and start is None:
                start, end, kind = token.start, token.end, tag[2:]
                if kind == SYSTEM and index and tokens[index - 1].text.lower() in _DETERMINERS:
                    start = tokens[index - 1].start  # "a food ordering API" reads as written
            elif token is not None and start is not None:
                end = token.end
        return {slot: list(dict.fromkeys(values)) for slot, values in found.items()}
