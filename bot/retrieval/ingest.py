"""Incremental ingestion: files -> chunks -> Chroma, re-embedding only what changed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.config import RetrievalSettings
from bot.core.errors import NotFoundError
from bot.core.models import Chunk
from bot.retrieval.chunking import chunk_document, split_sentences
from bot.retrieval.embedding import DIMENSION, Embedder
from bot.retrieval.index import VectorIndex, validate_course
from bot.retrieval.loaders import SUPPORTED_SUFFIXES, LoadError, load_document

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (chunks embedded so far, chunks to embed)."""

# Chunks per embed-and-upsert step (with their sentences, about 450 texts of the course).
_STEP = 64


@dataclass
class IngestReport:
    """What one ingest run did."""

    course: str
    files: int = 0
    chunks: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def embedded(self) -> int:
        """Chunks that went through the embedding model."""
        return self.added + self.updated

    def summary(self) -> str:
        """One line for humans."""
        line = (
            f"{self.course}: {self.files} files, {self.chunks} chunks "
            f"({self.added} added, {self.updated} updated, {self.removed} removed, "
            f"{self.unchanged} unchanged) in {self.seconds:.1f} s"
        )
        if self.skipped:
            line += f"; {len(self.skipped)} file(s) skipped"
        return line


def find_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into the supported files below them, in a stable order."""
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise NotFoundError(f"no such file or folder: {path}")
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and p.suffix.lower() in SUPPORTED_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            files.append(path)
    return files


class Ingestor:
    """Keeps a course's collection in step with its files."""

    def __init__(self, index: VectorIndex, embedder: Embedder, settings: RetrievalSettings) -> None:
        self._index = index
        self._embedder = embedder
        self._settings = settings

    def ingest(
        self, paths: list[Path], course: str, progress: Progress | None = None
    ) -> IngestReport:
        """Ingest files and folders into a course; unchanged chunks are not re-embedded.

        Order matters for interruption: new and changed chunks are upserted in
        batches first, stale ones deleted last, so a run that dies midway leaves
        an index that still answers, and the next run finishes the job.
        """
        started = time.perf_counter()
        validate_course(course)
        roots = [p.resolve() for p in paths]
        files = find_files(roots)
        report = IngestReport(course=course)
        chunks: list[Chunk] = []
        failed_sources: set[str] = set()
        for file in files:
            root = next((r for r in roots if r.is_dir() and file.is_relative_to(r)), file.parent)
            try:
                document = load_document(file, self._settings.max_file_mb)
            except LoadError as exc:
                report.skipped.append((str(file), str(exc)))
                failed_sources.add(str(file))
                logger.warning("skipped %s: %s", file, exc)
                continue
            chunks.extend(
                chunk_document(
                    document,
                    course=course,
                    path=file.relative_to(root).as_posix(),
                    source=file,
                    chunk_chars=self._settings.chunk_chars,
                    chunk_overlap=self._settings.chunk_overlap,
                )
            )
            report.files += 1
        report.chunks = len(chunks)

        records = list(self._index.records(course))
        existing = {c.id: c for c, _ in records}
        # A chunk indexed without its sentence vectors, or by an older splitter (another
        # count of sentences and table rows), gets them on its next ingest.
        stored = {c.id: len(vectors) for c, vectors in records if vectors is not None}
        to_embed = [
            c
            for c in chunks
            if c.id not in stored
            or existing[c.id].content_hash != c.content_hash
            or stored[c.id] != len(split_sentences(c.text))
        ]
        report.added = sum(1 for c in to_embed if c.id not in existing)
        report.updated = len(to_embed) - report.added
        report.unchanged = len(chunks) - len(to_embed)
        wanted = {c.id for c in chunks}
        stale = [
            c.id
            for c in existing.values()
            if c.id not in wanted
            and c.source not in failed_sources
            and _owned_by(Path(c.source), roots)
        ]
        report.removed = len(stale)

        # Each step embeds its chunks and their sentences in one call, so the embedder can
        # sort them all by length, then upserts them: progress, and an interrupted run keeps
        # every finished step.
        previous: dict[str, np.ndarray] = {}  # the last step's sentences, and their vectors
        for start in range(0, len(to_embed), _STEP):
            part = to_embed[start : start + _STEP]
            vectors, sentence_vectors, previous = self._embed(part, previous)
            self._index.upsert(course, part, vectors, sentence_vectors)
            if progress:
                progress(start + len(part), len(to_embed))
        self._index.delete(course, stale)
        if to_embed or stale:
            self._index.bump_version(course)
        report.seconds = time.perf_counter() - started
        logger.info(report.summary())
        return report

    def _embed(
        self, chunks: list[Chunk], previous: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray], dict[str, np.ndarray]]:
        """Chunk vectors, and each chunk's sentence vectors, so no answer waits to embed them.

        Overlapping chunks repeat sentences: one repeated within the step, or found in
        `previous` (the step before, whose last chunk the first one here overlaps), is not
        embedded again. Only one step's sentences are kept, so memory stays flat.
        """
        sentences = [split_sentences(c.text) for c in chunks]
        new = list(dict.fromkeys(t for group in sentences for t in group if t not in previous))
        vectors = self._embedder.embed([c.embedding_text for c in chunks] + new)
        known = {**previous, **dict(zip(new, vectors[len(chunks) :], strict=True))}
        mine = {text: known[text] for group in sentences for text in group}
        grouped = [
            np.array([mine[t] for t in group], np.float32).reshape(-1, DIMENSION)
            for group in sentences
        ]
        return vectors[: len(chunks)], grouped, mine


def _owned_by(source: Path, roots: list[Path]) -> bool:
    """Whether a chunk's source file falls under what this run ingested."""
    return any(source == root or source.is_relative_to(root) for root in roots)
