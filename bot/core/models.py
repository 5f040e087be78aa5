"""Plain data shared by the core, retrieval and adapters: no SDK objects, plain ids only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Chunk:
    """One retrievable piece of course material, as stored in the index."""

    id: str
    course: str
    path: str  # relative to the ingested folder, e.g. "06-fault-tolerance.md"
    source: str  # absolute file path, so re-ingest knows which chunks a folder owns
    title: str
    lesson: str
    section: str  # heading path, e.g. "Fault tolerance > Retries with ..."
    concepts: tuple[str, ...]
    text: str
    content_hash: str

    @property
    def concept(self) -> str | None:
        """The primary concept: the first one the document lists."""
        return self.concepts[0] if self.concepts else None

    @property
    def embedding_text(self) -> str:
        """What gets embedded and BM25-indexed: the heading path gives the body context."""
        return f"{self.section}\n\n{self.text}"

    def metadata(self) -> dict[str, Any]:
        """Flat metadata for the vector store."""
        return {
            "course": self.course,
            "path": self.path,
            "source": self.source,
            "title": self.title,
            "lesson": self.lesson,
            "section": self.section,
            "concepts": ",".join(self.concepts),
            "content_hash": self.content_hash,
        }

    @classmethod
    def from_record(cls, chunk_id: str, text: str, metadata: dict[str, Any]) -> Chunk:
        """Rebuild a chunk from what the vector store returns."""
        concepts = tuple(c for c in str(metadata.get("concepts", "")).split(",") if c)
        return cls(
            id=chunk_id,
            course=str(metadata["course"]),
            path=str(metadata["path"]),
            source=str(metadata.get("source", "")),
            title=str(metadata.get("title", "")),
            lesson=str(metadata.get("lesson", "")),
            section=str(metadata.get("section", "")),
            concepts=concepts,
            text=text,
            content_hash=str(metadata.get("content_hash", "")),
        )


@dataclass(frozen=True)
class Passage:
    """A chunk returned for a query, with its fused relevance score in [0, 1]."""

    chunk: Chunk
    score: float
    similarity: float | None = None  # cosine to the query, when the dense side saw it

    def to_source(self) -> dict[str, Any]:
        """The `sources` item of the JSON contract."""
        return {
            "path": self.chunk.path,
            "title": self.chunk.title,
            "section": self.chunk.section,
            "concept": self.chunk.concept,
            "score": round(self.score, 4),
            "text": self.chunk.text,
        }


@dataclass(frozen=True)
class SearchResult:
    """Ranked passages plus the in-scope decision."""

    query: str
    course: str
    passages: list[Passage] = field(default_factory=list)
    in_scope: bool = True
    best_similarity: float = 0.0
