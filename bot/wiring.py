"""The composition root: the one place that picks concrete Chroma, embedding and search classes."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.retrieval.courses import CourseCatalog
from bot.retrieval.embedding import (
    Embedder,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    onnx_model_path,
)
from bot.retrieval.index import VectorIndex
from bot.retrieval.ingest import Ingestor
from bot.retrieval.search import HybridSearcher

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

logger = logging.getLogger(__name__)


class Container:
    """Builds each component on first use, from one Settings object."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def embedder(self) -> Embedder:
        """ONNX by default; sentence-transformers when asked for, or if ONNX cannot load."""
        cfg = self.settings.embedding
        if cfg.backend == "onnx":
            try:
                return OnnxEmbedder(
                    onnx_model_path(self.settings.models_dir), cfg.threads, cfg.batch_size
                )
            except Exception as exc:  # a broken export must not take the bot down
                logger.warning("ONNX embedder unavailable (%s); using sentence-transformers", exc)
        return SentenceTransformerEmbedder(cfg.batch_size)

    @cached_property
    def chroma_client(self) -> ClientAPI:
        """A Chroma server client when CHROMA_HOST is set, else the embedded store."""
        import chromadb
        from chromadb.config import Settings as ChromaClientSettings

        client_settings = ChromaClientSettings(anonymized_telemetry=False)
        chroma = self.settings.chroma
        if chroma.host:
            return chromadb.HttpClient(host=chroma.host, port=chroma.port, settings=client_settings)
        self.settings.chroma_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(
            path=str(self.settings.chroma_dir), settings=client_settings
        )

    @cached_property
    def index(self) -> VectorIndex:
        """Course collections."""
        return VectorIndex(self.chroma_client, self.embedder)

    @cached_property
    def ingestor(self) -> Ingestor:
        """Files into the index."""
        return Ingestor(self.index, self.embedder, self.settings.retrieval)

    @cached_property
    def searcher(self) -> HybridSearcher:
        """Hybrid retrieval."""
        return HybridSearcher(self.index, self.embedder, self.settings.retrieval)

    @cached_property
    def catalog(self) -> CourseCatalog:
        """Known courses."""
        return CourseCatalog(
            self.index, self.ingestor, self.settings.knowledge_dir, self.settings.default_course
        )
