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
# Padded tokens per ONNX run: bigger batches spill out of cache and run slower per text.
MAX_BATCH_TOKENS = 1024


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

    def __init__(
        self,
        model_path: Path,
        threads: int = 2,
        batch_size: int = 32,
        max_batch_tokens: int = MAX_BATCH_TOKENS,
    ) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_path(model_path)))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        # Texts are tokenised once, unpadded, and padded per batch after sorting by length.
        self._tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._batch_size = batch_size
        self._max_batch_tokens = max_batch_tokens
        super().__init__()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in batches of similar length; rows come back in the order given."""
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        ids = [encoding.ids for encoding in self._tokenizer.encode_batch(list(texts))]
        vectors = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for rows in token_batches([len(i) for i in ids], self._batch_size, self._max_batch_tokens):
            width = len(ids[rows[-1]])  # the longest: rows are sorted by length
            batch = np.zeros((len(rows), width), dtype=np.int64)  # 0 is [PAD]
            mask = np.zeros_like(batch)
            for row, index in enumerate(rows):
                batch[row, : len(ids[index])] = ids[index]
                mask[row, : len(ids[index])] = 1
            feeds = {
                "input_ids": batch,
                "attention_mask": mask,
                "token_type_ids": np.zeros_like(batch),
            }
            vectors[rows] = self._session.run(None, feeds)[0]
        return vectors


def token_batches(lengths: Sequence[int], max_texts: int, max_tokens: int) -> list[list[int]]:
    """Group text indices, shortest first, into batches of at most max_texts and max_tokens.

    Sorting keeps padding small, and the token cap keeps long texts in small batches:
    on 2 cores a batch of 32 texts of 256 tokens runs slower per text than one of 4.
    A text longer than max_tokens still gets a batch of its own.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches: list[list[int]] = []
    for index in order:
        current = batches[-1] if batches else None
        # Sorted ascending, so the new text is the batch's longest and sets its width.
        if (
            current
            and len(current) < max_texts
            and lengths[index] * (len(current) + 1) <= max_tokens
        ):
            current.append(index)
        else:
            batches.append([index])
    return batches


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
