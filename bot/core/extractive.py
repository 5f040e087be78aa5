"""Extractive answers: the most relevant sentences of the top passages, with citations."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from bot.core.models import Chunk, Passage
from bot.retrieval.chunking import split_sentences
from bot.retrieval.embedding import Embedder

MAX_ANSWER_WORDS = 110
MAX_SENTENCES = 4


class SentenceSelector:
    """Picks the sentences of the top passages that best answer a question.

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
        self._cache: OrderedDict[str, tuple[list[tuple[str, bool]], np.ndarray]] = OrderedDict()
        self._cache_size = cache_size

    def _sentences(self, chunk: Chunk) -> tuple[list[tuple[str, bool]], np.ndarray]:
        key = f"{chunk.id}:{chunk.content_hash}"
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        sentences = split_sentences(chunk.text)
        vectors = self._stored_vectors(chunk)
        if vectors is None or len(vectors) != len(sentences):  # indexed by an older splitter
            vectors = self._embedder.embed([s for s, _ in sentences])
        self._cache[key] = (sentences, vectors)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return sentences, vectors

    def select(self, question: str, passages: Sequence[Passage]) -> list[str]:
        """Up to MAX_SENTENCES sentences, in reading order, about MAX_ANSWER_WORDS words."""
        query = self._embedder.embed_query(question)
        scored: list[tuple[float, int, int, str]] = []
        seen: set[str] = set()
        for rank, passage in enumerate(passages[:3]):
            # The whole section, not just the chunk that matched: its opening
            # sentences usually state the principle the question is after.
            position = 0
            for chunk in self._section_chunks(passage.chunk) or [passage.chunk]:
                sentences, vectors = self._sentences(chunk)
                if not sentences:
                    continue
                for (sentence, example), score in zip(sentences, vectors @ query, strict=True):
                    position += 1
                    if sentence in seen:  # chunk overlap repeats sentences
                        continue
                    seen.add(sentence)
                    # Prefer the best passage and principles over worked examples.
                    bonus = 0.06 * (2 - rank) - (0.08 if example else 0.0)
                    scored.append((float(score) + bonus, rank, position, sentence))
        scored.sort(reverse=True)
        chosen: list[tuple[int, int, str]] = []
        words = 0
        for score, rank, position, sentence in scored:
            if chosen and score < scored[0][0] - 0.25:
                break
            count = len(sentence.split())
            if chosen and words + count > MAX_ANSWER_WORDS:
                continue
            chosen.append((rank, position, sentence))
            words += count
            if len(chosen) == MAX_SENTENCES or words >= MAX_ANSWER_WORDS:
                break
        return [sentence for _, _, sentence in sorted(chosen)]
