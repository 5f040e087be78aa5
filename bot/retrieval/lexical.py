"""BM25 keyword index over a course's chunks (bm25s with English stemming)."""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence

from bot.core.models import Chunk


class LexicalIndex:
    """An in-memory BM25 index; built from the chunks Chroma holds for one course."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        import bm25s
        import Stemmer
        from bm25s.tokenization import Tokenizer

        # bm25s sets its own logger to DEBUG on import, which floods stderr.
        logging.getLogger("bm25s").setLevel(logging.WARNING)

        self.chunks = list(chunks)
        self._stemmer = Stemmer.Stemmer("english")
        self._tokenizer = Tokenizer(stemmer=self._stemmer, stopwords="en")
        self._bm25 = bm25s.BM25()
        self._words: list[set[int]] = []
        self._document_frequency: Counter[int] = Counter()
        if self.chunks:
            tokens = self._tokenizer.tokenize(
                [c.embedding_text for c in self.chunks], return_as="ids", show_progress=False
            )
            self._bm25.index(tokens, show_progress=False)
            self._words = [set(ids) for ids in tokens]
            self._document_frequency.update(word for words in self._words for word in words)

    def search(self, query: str, n: int) -> list[tuple[int, float]]:
        """Best matches as (chunk position, BM25 score), best first; zero scores dropped."""
        if not self.chunks:
            return []
        tokens = self._tokenizer.tokenize(
            [query], update_vocab=False, return_as="ids", show_progress=False
        )
        if not any(tokens[0]):  # every word unknown or a stopword
            return []
        positions, scores = self._bm25.retrieve(
            tokens, k=min(n, len(self.chunks)), show_progress=False
        )
        return [(int(p), float(s)) for p, s in zip(positions[0], scores[0], strict=True) if s > 0]

    def coverage(self, query: str, positions: Sequence[int]) -> float:
        """How much of the query the best of these chunks contains, weighted by rarity.

        The share of the query's content words (stemmed, stopwords dropped) found in the
        chunk, each weighted by its inverse document frequency; a word the course never
        uses weighs most and is never found. Unlike a BM25 score it is 0 to 1 on any
        course, so one threshold serves every course.
        """
        if not self.chunks or not positions:
            return 0.0
        from bm25s.stopwords import STOPWORDS_EN

        vocabulary = self._tokenizer.get_vocab_dict()
        words = {
            self._stemmer.stemWord(word)
            for word in re.findall(r"(?u)\b\w\w+\b", query.lower())
            if word not in STOPWORDS_EN
        }
        if not words:
            return 0.0
        total = len(self.chunks)

        def rarity(word_id: int | None) -> float:
            seen = self._document_frequency.get(word_id, 0) if word_id is not None else 0
            return math.log(1 + (total - seen + 0.5) / (seen + 0.5))

        ids = [vocabulary.get(word) for word in words]
        weights = [rarity(word_id) for word_id in ids]
        return max(
            sum(w for word_id, w in zip(ids, weights, strict=True) if word_id in self._words[p])
            / sum(weights)
            for p in positions
        )
