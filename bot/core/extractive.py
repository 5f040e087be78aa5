"""Extractive answers: one coherent window of the best section, its list kept whole."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from bot.core.levels import BEGINNER, INTERMEDIATE
from bot.core.models import Chunk, Passage
from bot.retrieval.chunking import DANGLING, Unit, embedded_units, split_units, table_rows
from bot.retrieval.embedding import Embedder

MAX_ANSWER_WORDS = 150
MIN_ANSWER_WORDS = 40
MAX_WINDOW = 5  # prose sentences in the main window
MAX_LIST_ITEMS = 6  # a list the window introduces, shown up to this many items
_QUOTES = re.compile(r"[\"\u201c\u201d]")


@dataclass
class _Scored:
    unit: Unit
    score: float | None  # None: not embedded (a table, a short item)


class AnswerComposer:
    """Composes an answer from the passages without a model.

    The main window is the best run of 2-5 neighbouring sentences in the top
    section. It never opens on a sentence that points back ("This", "Outside these
    cases"), never ends on a colon without the list it introduces, and never cuts a
    list, a numbered procedure, a table or a quotation. One short supporting window
    may follow from another section, under that section's name.

    Sentence vectors come from the index (embedded at ingest); a chunk indexed
    without them is embedded on first use. Both are cached per chunk.
    """

    def __init__(
        self,
        embedder: Embedder,
        section_chunks: Callable[[Chunk], list[Chunk]],
        stored_vectors: Callable[[Chunk], np.ndarray | None],
        cache_size: int = 2048,
    ) -> None:
        self._embedder = embedder
        self._section_chunks = section_chunks
        self._stored_vectors = stored_vectors
        self._cache: OrderedDict[str, tuple[list[Unit], dict[str, np.ndarray]]] = OrderedDict()
        self._cache_size = cache_size

    def _units(self, chunk: Chunk) -> tuple[list[Unit], dict[str, np.ndarray]]:
        key = f"{chunk.id}:{chunk.content_hash}"
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        units = split_units(chunk.text)
        embedded = [text for text, _ in embedded_units(units)]
        vectors = self._stored_vectors(chunk)
        if vectors is None or len(vectors) != len(embedded):  # indexed by an older splitter
            vectors = self._embedder.embed(embedded) if embedded else np.zeros((0, 1))
        by_text = dict(zip(embedded, vectors, strict=True))
        self._cache[key] = (units, by_text)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return units, by_text

    def _section(
        self, passage: Passage, query: np.ndarray, seen: set[str], level: str = INTERMEDIATE
    ) -> list[_Scored]:
        """The section's units in reading order, scored for the level; chunk overlap read once.

        A paragraph written for one level ("In short:", "In depth:") is not scored, so
        the window stays in the body; `compose` adds the paragraph for its own level.
        """
        scored: list[_Scored] = []
        for chunk in self._section_chunks(passage.chunk) or [passage.chunk]:
            units, vectors = self._units(chunk)
            for unit in units:
                if unit.text in seen:
                    continue
                seen.add(unit.text)
                # a table scores as its best row, so a question about one row finds it
                texts = table_rows(unit.text) if unit.kind == "table" else [unit.text]
                found = [vectors[t] for t in texts if t in vectors]
                score = None
                if found and not unit.level:
                    # examples rank lower, except for beginners
                    penalty = 0.08 if unit.example and level != BEGINNER else 0.0
                    score = max(float(v @ query) for v in found) - penalty
                if _continues_table(scored, unit):
                    scored[-1] = _rejoined(scored[-1], _Scored(unit, score))
                    continue
                scored.append(_Scored(unit, score))
        return scored

    def compose(self, question: str, passages: Sequence[Passage], level: str = INTERMEDIATE) -> str:
        """The answer's text for a level: the main window, then at most one more part.

        A beginner gets the section's plain summary first and no second section; an
        advanced student gets the section's "In depth" paragraph after the window.
        """
        if not passages:
            return ""
        query = self._embedder.embed_query(question)
        seen: set[str] = set()
        units = self._section(passages[0], query, seen, level)
        main = _window(units, most=3 if level == BEGINNER else MAX_WINDOW)
        if main is None:
            return ""
        start, end = main
        own = [u for u in units[:start] + units[end:] if u.unit.level == level]
        if own:  # the level's own paragraph fits beside a window cut down to make room
            fitted = _shortened(units, start, end, MAX_ANSWER_WORDS + 20 - _words(own, 0, len(own)))
            own, (start, end) = (own, fitted) if fitted else ([], (start, end))
        window = units[start:end]
        parts = [_render(window)]
        best = max((u.score for u in window if u.score is not None), default=0.0)
        words = _words(window, 0, len(window)) + _words(own, 0, len(own))
        if own and level == BEGINNER:
            parts.insert(0, f"*In short:* {_render(own)}")
        elif own:
            parts.append(f"*In depth:* {_render(own)}")
        if level == BEGINNER:
            return "\n\n".join(parts)  # one idea at a time
        heading = passages[0].chunk.section
        for passage in passages[1:3]:
            if passage.chunk.section == heading or words >= MAX_ANSWER_WORDS - 30:
                continue
            other = self._section(passage, query, seen)
            support = _window(other, most=2, least=1)
            if support is None:
                continue
            chosen = other[support[0] : support[1]]
            top = max((u.score for u in chosen if u.score is not None), default=-1.0)
            if top >= best - 0.1 and words + sum(u.unit.words for u in chosen) <= MAX_ANSWER_WORDS:
                label = passage.chunk.section.split(" > ")[-1]
                parts.append(f"*{label}:* {_render(chosen)}")
            break
        return "\n\n".join(parts)


def _continues_table(scored: list[_Scored], unit: Unit) -> bool:
    """A headless table right after a table: its rest, cut off by the chunk splitter."""
    return (
        unit.kind == "table"
        and bool(scored)
        and scored[-1].unit.kind == "table"
        and not re.search(r"^\|?\s*:?-{3,}", unit.text, re.MULTILINE)
    )


def _rejoined(first: _Scored, second: _Scored) -> _Scored:
    """One table again from its two chunks' pieces, each overlapping row once."""
    rows = first.unit.text.splitlines()
    rows += [row for row in second.unit.text.splitlines() if row not in rows]
    scores = [s for s in (first.score, second.score) if s is not None]
    return _Scored(replace(first.unit, text="\n".join(rows)), max(scores, default=None))


def _shortened(units: list[_Scored], start: int, end: int, budget: int) -> tuple[int, int] | None:
    """The window without its last sentences until it fits the budget; None if it can't."""
    while end - start > 1 and _words(units, start, end) > budget:
        if units[end - 1].unit.kind != "sentence" or DANGLING.match(units[start].unit.text):
            return None  # a list, a table or a procedure goes whole or not at all
        end -= 1
        while end - start > 1 and units[end - 1].unit.text.endswith(":"):
            end -= 1  # the list it introduced is gone
    has_score = any(u.score is not None for u in units[start:end])
    return (start, end) if has_score and _words(units, start, end) <= budget else None


def _window(units: list[_Scored], most: int = MAX_WINDOW, least: int = 2) -> tuple[int, int] | None:
    """The [start, end) of the best coherent window around the best-scoring sentence."""
    candidates = [i for i, u in enumerate(units) if u.score is not None]
    if not candidates:
        return None
    anchor = max(candidates, key=lambda i: units[i].score or 0.0)
    start, end = anchor, anchor + 1
    floor = (units[anchor].score or 0.0) - 0.15
    while end - start < most and _words(units, start, end) < MIN_ANSWER_WORDS:
        after = units[end].score if end < len(units) else None
        before = units[start - 1].score if start > 0 else None
        if after is None and before is None:
            break
        if before is None or (after is not None and after >= before - 0.05):
            end += 1  # reading on is the natural way; back only when clearly better
        else:
            start -= 1
    while end - start < most and end < len(units):
        after = units[end]
        close = after.score is not None and after.score >= floor
        # "The breaker has three states:" brings the states along (see _whole)
        near = units[end : end + 2]
        lead_in = any(u.unit.text.endswith(":") for u in near) and _words(units, start, end) < 80
        if not (close or lead_in) or _words(units, start, end + 1) > MAX_ANSWER_WORDS:
            break
        end += 1
    if end - start < least and end < len(units):
        end += 1
    start, end = _whole(units, start, end)
    # Overfull: first drop opening sentences a list follows (the list is the answer),
    # then whole items, then sentences, from the end.
    while (
        _words(units, start, end) > MAX_ANSWER_WORDS + 20
        and start + 1 < end
        and units[start].unit.kind == units[start + 1].unit.kind == "sentence"
        and not units[start].unit.text.endswith(":")
        and not DANGLING.match(units[start + 1].unit.text)
        and any(u.unit.kind != "sentence" for u in units[start:end])
    ):
        start += 1
    while end - start > least and _words(units, start, end) > MAX_ANSWER_WORDS + 20:
        end -= 1
        while end - start > least and units[end].unit.continues:
            end -= 1  # what was dropped continued an item: the item goes whole
    if end - start > 1 and units[end - 1].unit.text.endswith(":"):
        end -= 1  # its list no longer fits
    return start, end


def _whole(units: list[_Scored], start: int, end: int) -> tuple[int, int]:
    """Widen the window until nothing in it is cut or left dangling."""
    for _ in range(3):  # each widening may expose another need; three is plenty
        before = (start, end)
        # A list or a procedure is whole, with the sentence that introduces it.
        while (
            start > 0
            and units[start].unit.kind != "sentence"
            and (units[start - 1].unit.kind == units[start].unit.kind)
        ):
            start -= 1
        if start > 0 and units[start].unit.kind != "sentence":
            start -= 1  # the lead-in
        if units[end - 1].unit.text.endswith(":") or units[end - 1].unit.kind != "sentence":
            end = _through_list(units, start, end)
        if units[end - 1].unit.text.endswith(":"):  # introduces nothing we can show
            end = end + 1 if end < len(units) else end - (end - start > 1)
        # Never open on "This ..."; never leave a quotation open.
        while start > 0 and DANGLING.match(units[start].unit.text):
            start -= 1
        while end < len(units) and len(_QUOTES.findall(_text(units, start, end))) % 2:
            end += 1
        if (start, end) == before:
            break
    return start, end


def _through_list(units: list[_Scored], start: int, end: int) -> int:
    """The window's end once the list, procedure or table it introduces is in.

    A list is shown up to MAX_LIST_ITEMS items; a procedure or a table that does not
    fit whole is left out, with the sentence that introduces it.
    """
    if end >= len(units) or units[end].unit.kind == "sentence":
        return end
    kind, stop, shown = units[end].unit.kind, end, 0
    while stop < len(units) and units[stop].unit.kind == kind and kind != "table":
        shown += not units[stop].unit.continues
        if kind == "item" and shown > MAX_LIST_ITEMS:
            break
        stop += 1
    if kind == "table":
        stop += 1
    if _words(units, start, stop) <= MAX_ANSWER_WORDS + 20:
        return stop
    if kind == "item":  # a long list: as many items as fit
        while stop > end and _words(units, start, stop) > MAX_ANSWER_WORDS + 20:
            stop -= 1
        while stop > end and units[stop].unit.continues:
            stop -= 1  # never half an item
        return stop if stop > end else end - (units[end - 1].unit.text.endswith(":"))
    return end - 1 if end - start > 1 and units[end - 1].unit.text.endswith(":") else end


def _words(units: list[_Scored], start: int, end: int) -> int:
    return sum(u.unit.words for u in units[start:end])


def _text(units: list[_Scored], start: int, end: int) -> str:
    return " ".join(u.unit.text for u in units[start:end])


def _render(units: list[_Scored]) -> str:
    """Prose joined, items and steps as a Markdown list, a table as it was written."""
    lines: list[str] = []
    step = 0
    for scored in units:
        unit = scored.unit
        if unit.continues and lines:
            lines[-1] += " " + unit.text  # the item's second sentence, on its line
        elif (
            unit.kind == "sentence"
            and lines
            and not lines[-1].startswith(("- ", "|"))
            and (not re.match(r"\d+\. ", lines[-1]))
        ):
            lines[-1] += " " + unit.text
        elif unit.kind == "step":
            step += 1
            lines.append(f"{step}. {unit.text}")
        elif unit.kind == "item":
            lines.append(f"- {unit.text}")
        else:
            lines.append(unit.text)
    return "\n".join(lines)
