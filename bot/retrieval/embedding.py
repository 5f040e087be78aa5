"""Sentence embeddings for all-MiniLM-L6-v2 on the serving path: onnxruntime, no torch."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from bot.retrieval.model_export import (
    ONNX_FILE,
    TOKENIZER_FILE,
    ModelUnavailableError,
    check_export_tools,
    export_onnx,
    packaged_model_dir,
)

logger = logging.getLogger(__name__)

DIMENSION = 384
MAX_TOKENS = 256  # the model's max_seq_length; longer text is truncated


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch of texts; returns an array of shape (len(texts), DIMENSION)."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query, cached: students repeat questions and follow-ups."""
        ...


class QueryCache:
    """Gives an embedder a per-instance LRU cache for single queries."""

    def __init__(self) -> None:
        self.embed_query = lru_cache(maxsize=1024)(self._embed_one)

    def _embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]  # type: ignore[attr-defined]


class OnnxEmbedder(QueryCache):
    """The model exported to ONNX, run by onnxruntime with the packaged tokenizer."""

    name = "onnx"

    def __init__(self, model_path: Path, threads: int = 2, batch_size: int = 32) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_path(model_path)))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        # Pad to the longest text of each batch, not to MAX_TOKENS.
        self._tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._batch_size = batch_size
        super().__init__()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in batches."""
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        parts = []
        for start in range(0, len(texts), self._batch_size):
            encodings = self._tokenizer.encode_batch(list(texts[start : start + self._batch_size]))
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            parts.append(self._session.run(None, feeds)[0])
        return np.vstack(parts).astype(np.float32, copy=False)


def tokenizer_path(model_path: Path) -> Path:
    """The tokenizer saved next to the export; an older export uses the weights package's."""
    beside = model_path.with_name(TOKENIZER_FILE)
    if beside.exists():
        return beside
    try:
        return packaged_model_dir() / TOKENIZER_FILE
    except ModelUnavailableError:
        raise ModelUnavailableError(
            f"no {TOKENIZER_FILE} next to {model_path}: export the model again with "
            "`studybot model export --force` (needs pip install 'studybot[export]')"
        ) from None


def onnx_model_path(models_dir: Path, export_if_missing: bool = True) -> Path:
    """Path of the exported ONNX model, exporting it on first need (which needs torch)."""
    path = models_dir / ONNX_FILE
    if not path.exists() and export_if_missing:
        check_export_tools(path)  # no torch: say so in one line, before announcing an export
        logger.warning("exporting the embedding model to ONNX (one time, a few seconds)")
        export_onnx(path)
    return path
