"""BM25 keyword index over a course's chunks (bm25s with English stemming)."""

from __future__ import annotations

import logging
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
        self._tokenizer = Tokenizer(stemmer=Stemmer.Stemmer("english"), stopwords="en")
        self._bm25 = bm25s.BM25()
        if self.chunks:
            tokens = self._tokenizer.tokenize(
                [c.embedding_text for c in self.chunks], return_as="ids", show_progress=False
            )
            self._bm25.index(tokens, show_progress=False)

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
