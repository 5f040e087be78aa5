"""Plain data shared by the core, retrieval and adapters: no SDK objects, plain ids only."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from bot.core.safety import safe_text


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
    url: str = ""  # the file's page (front matter `url:`); citations link to it

    @property
    def concept(self) -> str | None:
        """The primary concept: the first one the document lists."""
        return self.concepts[0] if self.concepts else None

    @property
    def location(self) -> str:
        """Where the chunk is, as plain text: the file's path, then its page if it names one."""
        return f"{self.path} \u00b7 {self.url}" if self.url else self.path

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
            "url": self.url,
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
            url=str(metadata.get("url") or ""),  # chunks indexed before urls have none
        )


@dataclass(frozen=True)
class Passage:
    """A chunk returned for a query, with its fused relevance score in [0, 1]."""

    chunk: Chunk
    score: float
    similarity: float | None = None  # cosine to the query, when the dense side saw it

    @property
    def citation(self) -> str:
        """Where the passage comes from, as people read it: "Fault tolerance › Retries".

        The file's title and the section's own heading; the course and the lesson name
        are the same on every source of a course, so they say nothing (the path is in
        `to_source`).
        """
        title = self.chunk.title or self.chunk.lesson
        section = self.chunk.section.split(" > ")[-1]
        return title if section.lower() == title.lower() else f"{title} \u203a {section}"

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
class Citation:
    """A source as a face shows it: its label, the file's path and the page to link, if any."""

    label: str  # as in `Reply.citations`: "Fault tolerance › Retries"
    path: str = ""
    url: str | None = None


@dataclass(frozen=True)
class SearchResult:
    """Ranked passages plus the in-scope decision."""

    query: str
    course: str
    passages: list[Passage] = field(default_factory=list)
    in_scope: bool = True
    best_similarity: float = 0.0
    best_coverage: float = 0.0  # share of the query's weighted words in the best BM25 match


@dataclass(frozen=True)
class Address:
    """Where a message came from: platform, tenant (workspace or server) and channel ids."""

    platform: str  # "slack" | "discord" | "console" | "cli"
    tenant: str  # workspace / guild id
    channel: str = ""

    @property
    def tenant_key(self) -> str:
        """The tenant as it scopes Redis keys, e.g. "slack:T123"."""
        return f"{self.platform}:{self.tenant}"


@dataclass(frozen=True)
class Incoming:
    """A student's message, already translated out of any platform's payload."""

    address: Address
    user: str
    text: str
    thread: str = "default"
    course: str | None = None  # an explicit choice (CLI --course) beats channel settings
    is_admin: bool = False
    display_name: str = ""  # for leaderboards; never a mention


@dataclass(frozen=True)
class TemplateFill:
    """A prompt template chosen for a question, its slots so far, and the result."""

    id: str
    slots: dict[str, Any]
    missing: list[str]
    prompt: str | None  # the filled prompt once no required slot is missing

    def to_json(self) -> dict[str, Any]:
        """The `template` object of the JSON contract."""
        return {"id": self.id, "slots": self.slots, "missing": self.missing, "prompt": self.prompt}

    def strip_from(self, question: str) -> str:
        """The question minus the student's own system and lists, to explain the concept itself."""
        for value in self.slots.values():
            for item in value if isinstance(value, list) else [value]:
                question = question.replace(str(item), " ")
        return " ".join(question.split()) or question


@dataclass(frozen=True)
class Turn:
    """One message of a conversation as kept in Redis."""

    role: str  # "student" | "bot"
    text: str
    concept: str | None = None


@dataclass
class Reply:
    """Everything an adapter needs to render an answer."""

    answer: str
    mode: str  # "llm" | "extractive"
    in_scope: bool
    concept: str | None
    passages: list[Passage] = field(default_factory=list)
    template: TemplateFill | None = None
    followups: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. "history unavailable"
    citations: list[str] = field(default_factory=list)
    id: str = field(default_factory=lambda: secrets.token_hex(6))  # for feedback buttons
    body: str = ""  # the answer without the template section (adapters show that apart)

    def cited(self) -> list[Citation]:
        """`citations` with each one's path and url, from the first passage it names.

        Derived rather than stored, so the strings stay the one list every contract reads.
        """
        found: dict[str, Chunk] = {}
        for passage in self.passages:
            found.setdefault(safe_text(passage.citation), passage.chunk)
        return [
            Citation(c, found[c].path, found[c].url or None) if c in found else Citation(c)
            for c in self.citations
        ]

    def markdown(self) -> str:
        """The whole answer as Markdown: body, notes, then sources."""
        parts = [self.answer]
        parts += [f"_{note}_" for note in self.notes]
        if self.citations:
            parts.append("**Sources**\n" + "\n".join(f"- {c}" for c in self.citations))
        return "\n\n".join(parts)

    def to_json(self) -> dict[str, Any]:
        """The `studybot ask --json` contract."""
        sources = [p.to_source() for p in self.passages]
        for source in sources:
            source["text"] = safe_text(source["text"])
        return {
            "answer": self.markdown(),
            "mode": self.mode,
            "in_scope": self.in_scope,
            "concept": self.concept,
            "sources": sources,
            "template": self.template.to_json() if self.template else None,
        }
