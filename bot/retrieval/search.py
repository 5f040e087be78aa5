"""Hybrid search: dense (Chroma) and BM25 rankings fused by reciprocal rank fusion."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bot.config import RetrievalSettings
from bot.core.models import Chunk, Passage, SearchResult
from bot.retrieval.chunking import DANGLING, embedded_units, split_units
from bot.retrieval.embedding import Embedder
from bot.retrieval.index import VectorIndex
from bot.retrieval.lexical import LexicalIndex

logger = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "bm25"]


@dataclass
class _CourseCache:
    version: str | None
    checked_at: float
    lexical: LexicalIndex
    position: dict[str, int]
    sections: dict[tuple[str, str], list[Chunk]]  # (path, section) -> its chunks, in order
    sentence_vectors: dict[str, np.ndarray]  # chunk id -> vectors stored at ingest
    units: np.ndarray  # the stored vectors of every unit that reads alone, stacked
    owners: np.ndarray  # the chunk position of each row of `units`


class HybridSearcher:
    """Ranks a course's chunks for a query and decides whether the query is in scope."""

    # How long a searcher trusts its BM25 index before asking Chroma whether an
    # ingest has changed the course (a long-running bot sees new material soon).
    REFRESH_SECONDS = 5.0

    def __init__(self, index: VectorIndex, embedder: Embedder, settings: RetrievalSettings) -> None:
        self._index = index
        self._embedder = embedder
        self._settings = settings
        self._cache: dict[str, _CourseCache] = {}
        # One rebuild at a time: a burst of first questions must not make every worker
        # thread read the whole course from Chroma and build its own BM25 index.
        self._rebuild = threading.Lock()

    def _course(self, course: str) -> _CourseCache:
        cached = self._cache.get(course)
        if cached and time.monotonic() - cached.checked_at < self.REFRESH_SECONDS:
            return cached
        with self._rebuild:
            return self._refresh(course)

    def _refresh(self, course: str) -> _CourseCache:
        now = time.monotonic()
        cached = self._cache.get(course)
        if cached and now - cached.checked_at < self.REFRESH_SECONDS:
            return cached  # another thread refreshed it while this one waited
        version = self._index.version(course)
        if cached and cached.version == version:
            cached.checked_at = now
            return cached
        records = list(self._index.records(course))
        lexical = LexicalIndex([chunk for chunk, _ in records])
        position = {c.id: i for i, c in enumerate(lexical.chunks)}
        sections: dict[tuple[str, str], list[Chunk]] = defaultdict(list)
        for chunk in lexical.chunks:
            sections[chunk.path, chunk.section].append(chunk)
        vectors = {chunk.id: v for chunk, v in records if v is not None}
        units, owners = _small_units(records, position)
        self._cache[course] = _CourseCache(
            version, now, lexical, position, sections, vectors, units, owners
        )
        return self._cache[course]

    def section_chunks(self, chunk: Chunk) -> list[Chunk]:
        """Every chunk of the section a chunk belongs to, in order."""
        return self._course(chunk.course).sections.get((chunk.path, chunk.section), [])

    def sections(self, course: str) -> list[tuple[str, str]]:
        """Every section of a course as (path, its own heading), in index order."""
        return [(path, section.split(" > ")[-1]) for path, section in self._course(course).sections]

    def section_text(self, course: str, path: str, heading: str) -> str:
        """The text of the section a quiz item cites (by its own heading), or ""."""
        for (where, section), chunks in self._course(course).sections.items():
            if where == path and section.split(" > ")[-1] == heading:
                return _joined([c.text for c in chunks])
        return ""

    def sentence_vectors(self, chunk: Chunk) -> np.ndarray | None:
        """The chunk's sentence vectors as stored at ingest, if it has them."""
        return self._course(chunk.course).sentence_vectors.get(chunk.id)

    def _blended(
        self, state: _CourseCache, vector: np.ndarray, similarity: dict[int, float], n: int
    ) -> list[int]:
        """Small-to-big: chunks ranked with their best sentence, list item or table row.

        A chunk whose best unit matches better than the chunk as a whole moves up by
        `unit_weight` of the difference, so a question about one table row or one bullet
        finds the section that holds it; the answer shows the unit with its table or
        lead-in. Chunks outside Chroma's top n count their own similarity as the lowest
        of that top n.
        """
        weight = self._settings.unit_weight
        if not len(state.owners) or not weight:
            return []
        best = np.full(len(state.lexical.chunks), -np.inf, np.float32)
        np.maximum.at(best, state.owners, state.units @ np.asarray(vector, np.float32))
        ranked = np.fromiter(similarity, np.int64, len(similarity))
        own = np.full(len(best), min(similarity.values(), default=0.0), np.float32)
        own[ranked] = np.fromiter(similarity.values(), np.float32, len(similarity))
        # a chunk without units keeps its own score, if Chroma ranked it
        alone = np.full(len(best), -np.inf, np.float32)
        alone[ranked] = own[ranked]
        blended = np.where(np.isfinite(best), own + weight * np.maximum(0, best - own), alone)
        top = np.argsort(-blended, kind="stable")[:n]
        return [int(pos) for pos in top if np.isfinite(blended[pos])]

    def search(
        self, query: str, course: str, k: int | None = None, mode: Mode = "hybrid"
    ) -> SearchResult:
        """Top-k passages (one per section) for an already-cleaned query."""
        k = k or self._settings.k
        state = self._course(course)
        chunks = state.lexical.chunks
        if not chunks:
            return SearchResult(query=query, course=course, in_scope=False)
        n = min(self._settings.candidates, len(chunks))

        similarity: dict[int, float] = {}
        vector = self._embedder.embed_query(query)
        for chunk_id, sim in self._index.query(course, vector, n):
            if chunk_id in state.position:
                similarity[state.position[chunk_id]] = sim
        dense = self._blended(state, vector, similarity, n) if mode == "hybrid" else None
        dense = dense or sorted(similarity, key=similarity.__getitem__, reverse=True)
        lexical = [pos for pos, _ in state.lexical.search(query, n)]
        # Abstention asks both retrievers: a question whose words one chunk holds is the
        # course's even when the embedding doubts it.
        coverage = state.lexical.coverage(query, lexical[:5])
        lexical = lexical if mode != "dense" else []

        rankings = {"hybrid": [dense, lexical], "dense": [dense], "bm25": [lexical]}[mode]
        rrf_k = self._settings.rrf_k
        fused: dict[int, float] = {}
        for ranking in rankings:
            for rank, pos in enumerate(ranking):
                fused[pos] = fused.get(pos, 0.0) + 1.0 / (rrf_k + rank + 1)
        # Normalise so that 1.0 means "ranked first by every retriever used".
        best_possible = len(rankings) / (rrf_k + 1)

        passages: list[Passage] = []
        seen_sections: set[tuple[str, str]] = set()
        for pos in sorted(fused, key=fused.__getitem__, reverse=True):
            chunk = chunks[pos]
            # One passage per section: three chunks of one section crowd out others.
            if (chunk.path, chunk.section) in seen_sections:
                continue
            seen_sections.add((chunk.path, chunk.section))
            passages.append(Passage(chunk, fused[pos] / best_possible, similarity.get(pos)))
            if len(passages) == k:
                break
        best = max(similarity.values(), default=0.0)
        return SearchResult(
            query=query,
            course=course,
            passages=passages,
            in_scope=best >= self._settings.min_similarity
            or coverage >= self._settings.min_coverage,
            best_similarity=best,
            best_coverage=coverage,
        )


def _small_units(
    records: list[tuple[Chunk, np.ndarray | None]], position: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The stored vectors of every unit that reads alone, and the chunk of each.

    A sentence that points back ("That trade-off is what PACELC describes") only names
    its topic: it would lift its section over the one about that topic.
    """
    rows: list[np.ndarray] = []
    owners: list[int] = []
    for chunk, vectors in records:
        texts = [text for text, _ in embedded_units(split_units(chunk.text))]
        if vectors is None or len(vectors) != len(texts):  # an older splitter: no units
            continue
        alone = [i for i, text in enumerate(texts) if not DANGLING.match(text)]
        rows.extend(vectors[alone])
        owners.extend([position[chunk.id]] * len(alone))
    matrix = np.vstack(rows) if rows else np.zeros((0, 1), np.float32)
    return matrix.astype(np.float32), np.array(owners, np.int64)


def _joined(texts: list[str]) -> str:
    """A section's chunks as one Markdown text: each overlap read once, a paragraph per block.

    The splitter repeats the end of a chunk at the start of the next; a table cut between
    two chunks joins up again, because its rows meet on a plain line break.
    """
    whole = ""
    for text in texts:
        overlap = next(
            (n for n in range(min(len(whole), len(text)), 0, -1) if whole.endswith(text[:n])), 0
        )
        rest = text[overlap:]
        whole += rest if not whole or overlap else "\n" + rest
    return whole.replace("  \n", "\n\n")
