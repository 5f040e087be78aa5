"""The Chroma vector index: one collection per course, embedded or on a Chroma server."""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import httpx
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from bot.core.errors import INDEX_UNAVAILABLE, IndexUnavailableError, InputError
from bot.core.models import Chunk
from bot.resilience import Breaker, BreakerOpenError
from bot.retrieval.embedding import DIMENSION, Embedder

T = TypeVar("T")
# What a Chroma server that is down, hung or restarting raises through its HTTP client.
_UNREACHABLE = (httpx.TransportError, OSError)

logger = logging.getLogger(__name__)

COURSE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$")
_COLLECTION_PREFIX = "course-"
_QUIZ_PREFIX = "quiz-"
_PAGE = 500
# Metadata key of a chunk's sentence vectors (float32, base64), for extractive answers.
_SENTENCE_VECTORS = "sentence_vectors"


def validate_course(course: str) -> str:
    """Return the course name if it is a valid slug, else raise InputError."""
    if not COURSE_NAME.match(course or ""):
        raise InputError(
            f"invalid course name {course[:60]!r}: use lowercase letters, digits and dashes"
        )
    return course


@register_embedding_function
class StudybotEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma-facing wrapper around the bot's embedder.

    Chroma rebuilds the embedding function from its config on many calls, so
    build_from_config hands back the live instance instead of loading a model.
    """

    _live: StudybotEmbeddingFunction | None = None

    def __init__(self, embedder: Callable[[], Embedder]) -> None:
        # A provider, not the model: commands that never embed never load it.
        self._embedder = embedder
        StudybotEmbeddingFunction._live = self

    def __call__(self, input: Documents) -> Embeddings:
        return list(self._embedder().embed(list(input)))

    @staticmethod
    def name() -> str:
        return "studybot-minilm"

    def get_config(self) -> dict[str, Any]:
        return {"model": "all-MiniLM-L6-v2"}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> StudybotEmbeddingFunction:
        if StudybotEmbeddingFunction._live is None:
            raise ValueError("the studybot embedding function has not been created yet")
        return StudybotEmbeddingFunction._live

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"


class VectorIndex:
    """Course collections in Chroma; the only module that talks to Chroma.

    Every call goes through a breaker: a Chroma server that stops answering costs one
    timeout, then IndexUnavailableError at once until a probe finds it back.
    """

    def __init__(
        self,
        client: Callable[[], ClientAPI],
        embedder: Callable[[], Embedder],
        breaker: Breaker | None = None,
    ) -> None:
        # A factory: a Chroma server's client talks to it as it is built, so it is built on
        # first use, under the breaker, and a server down at start-up is found later.
        self._make_client = client
        self._built: ClientAPI | None = None
        self._lock = threading.Lock()
        self._function = StudybotEmbeddingFunction(embedder)
        self._open: dict[str, Collection] = {}
        self._breaker = breaker or Breaker(
            "Chroma", 1, 5.0, counts=lambda exc: isinstance(exc, _UNREACHABLE)
        )

    @property
    def _client(self) -> ClientAPI:
        if self._built is None:
            with self._lock:
                if self._built is None:
                    self._built = self._make_client()
        return self._built

    def heartbeat(self) -> None:
        """Raise IndexUnavailableError unless Chroma answers (the readiness check)."""
        self._call(lambda: self._client.heartbeat())

    def _call(self, action: Callable[[], T]) -> T:
        """Run one Chroma request under the breaker; unreachable means IndexUnavailableError."""
        try:
            with self._breaker.attempt():
                return action()
        except (BreakerOpenError, *_UNREACHABLE) as exc:
            logger.warning("Chroma unreachable: %s", type(exc).__name__)
            raise IndexUnavailableError(INDEX_UNAVAILABLE) from exc

    def courses(self) -> list[str]:
        """Courses that have a collection."""
        listed = self._call(lambda: self._client.list_collections())
        names = (c if isinstance(c, str) else c.name for c in listed)
        return sorted(
            n[len(_COLLECTION_PREFIX) :] for n in names if n.startswith(_COLLECTION_PREFIX)
        )

    def _collection(
        self, course: str, create: bool = False, fresh: bool = False
    ) -> Collection | None:
        """Open a course's collection; handles are cached unless `fresh` metadata is needed."""
        if not fresh and course in self._open:
            return self._open[course]
        name = _COLLECTION_PREFIX + validate_course(course)
        if create:
            collection = self._call(
                lambda: self._client.get_or_create_collection(
                    name,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={"version": "0"},
                    embedding_function=self._function,  # type: ignore[arg-type]
                )
            )
        else:
            try:
                collection = self._call(
                    lambda: self._client.get_collection(name, embedding_function=self._function)  # type: ignore[arg-type]
                )
            except IndexUnavailableError:
                raise
            except Exception:  # chromadb raises NotFoundError or ValueError by version/mode
                return None
        self._open[course] = collection
        return collection

    def count(self, course: str) -> int:
        """Number of chunks indexed for a course (0 if it has no collection)."""
        collection = self._collection(course)
        return self._call(collection.count) if collection else 0

    def version(self, course: str) -> str | None:
        """A stamp that changes whenever an ingest changes the course's chunks."""
        collection = self._collection(course, fresh=True)
        return str((collection.metadata or {}).get("version")) if collection else None

    def chunks(self, course: str) -> Iterator[Chunk]:
        """Every chunk of a course, paged."""
        return (chunk for chunk, _ in self.records(course))

    def records(self, course: str) -> Iterator[tuple[Chunk, np.ndarray | None]]:
        """Every chunk of a course with its sentence vectors (None if indexed without them)."""
        collection = self._collection(course)
        if collection is None:
            return
        offset = 0
        while True:
            # The same course filter as `query`: BM25 is built from these chunks.
            page = self._call(
                lambda start=offset: collection.get(
                    where={"course": course},
                    include=["documents", "metadatas"],
                    limit=_PAGE,
                    offset=start,
                )
            )
            for chunk_id, text, meta in zip(
                page["ids"], page["documents"] or [], page["metadatas"] or [], strict=True
            ):
                encoded = meta.get(_SENTENCE_VECTORS)
                vectors = (
                    np.frombuffer(base64.b64decode(encoded), np.float32).reshape(-1, DIMENSION)
                    if isinstance(encoded, str)
                    else None
                )
                yield Chunk.from_record(chunk_id, text or "", dict(meta)), vectors
            if len(page["ids"]) < _PAGE:
                return
            offset += _PAGE

    def embeddings(self, course: str, ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of some chunks, in the order asked."""
        collection = self._collection(course)
        if collection is None or not ids:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        found = self._call(lambda: collection.get(ids=list(ids), include=["embeddings"]))
        by_id = dict(zip(found["ids"], found["embeddings"], strict=True))  # type: ignore[arg-type]
        return np.asarray([by_id[i] for i in ids], dtype=np.float32)

    def upsert(
        self,
        course: str,
        chunks: Sequence[Chunk],
        embeddings: np.ndarray,
        sentence_vectors: Sequence[np.ndarray],
    ) -> None:
        """Insert or replace chunks with their precomputed embeddings and sentence vectors.

        The sentence vectors travel in the chunk's own metadata, so a chunk and its
        sentences are always written together and read in the same page.
        """
        collection = self._collection(course, create=True)
        assert collection is not None
        metadatas = [
            {
                **chunk.metadata(),
                _SENTENCE_VECTORS: base64.b64encode(
                    np.ascontiguousarray(vectors, np.float32).tobytes()
                ).decode(),
            }
            for chunk, vectors in zip(chunks, sentence_vectors, strict=True)
        ]
        self._call(
            lambda: collection.upsert(
                ids=[c.id for c in chunks],
                embeddings=embeddings,
                documents=[c.text for c in chunks],
                metadatas=metadatas,  # type: ignore[arg-type]
            )
        )

    def delete(self, course: str, ids: Sequence[str]) -> None:
        """Remove chunks by id."""
        collection = self._collection(course)
        if collection is not None and ids:
            self._call(lambda: collection.delete(ids=list(ids)))

    def bump_version(self, course: str) -> None:
        """Mark the course as changed so searchers rebuild their lexical index."""
        collection = self._collection(course, create=True)
        assert collection is not None
        self._call(lambda: collection.modify(metadata={"version": f"{time.time_ns()}"}))

    def query(self, course: str, embedding: np.ndarray, n: int) -> list[tuple[str, float]]:
        """Nearest chunks to a query vector: (chunk id, cosine similarity), best first."""
        collection = self._collection(course)
        if collection is None:
            return []
        result = self._call(
            lambda: collection.query(
                query_embeddings=[embedding],
                n_results=n,
                # One collection per course already isolates courses; the filter inside
                # the query is the second wall, so a mislabelled chunk can never leak.
                where={"course": course},
                include=["distances"],
            )
        )
        distances = (result["distances"] or [[]])[0]
        return [(i, 1.0 - float(d)) for i, d in zip(result["ids"][0], distances, strict=True)]

    def _quiz_collection(self, course: str) -> Collection:
        return self._call(
            lambda: self._client.get_or_create_collection(
                _QUIZ_PREFIX + validate_course(course),
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=self._function,  # type: ignore[arg-type]
            )
        )

    def quiz_records(self, course: str) -> dict[str, dict[str, Any]]:
        """Quiz items as last ingested: id -> metadata (source hash, item hash)."""
        collection = self._quiz_collection(course)
        page = self._call(lambda: collection.get(include=["metadatas"]))
        return {i: dict(m) for i, m in zip(page["ids"], page["metadatas"] or [], strict=True)}

    def upsert_quiz(
        self, course: str, ids: list[str], texts: list[str], metadatas: list[dict[str, Any]]
    ) -> None:
        """Store quiz items (embedded, so related items can be found by meaning)."""
        if ids:
            collection = self._quiz_collection(course)
            self._call(lambda: collection.upsert(ids=ids, documents=texts, metadatas=metadatas))

    def delete_quiz(self, course: str, ids: list[str]) -> None:
        """Forget quiz items that left the bank."""
        if ids:
            collection = self._quiz_collection(course)
            self._call(lambda: collection.delete(ids=ids))


def http_chroma_client(build: Callable[[], ClientAPI], timeout: float) -> ClientAPI:
    """Build a Chroma server's client within `timeout`, and give its requests that timeout.

    chromadb's HTTP client has no timeout (httpx timeout=None) and already talks to the
    server while it is built, so a hung server would hold the question forever. The build
    runs in a daemon thread that is abandoned if it hangs; the session gets the timeout.
    """
    built: list[ClientAPI] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            built.append(build())
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run, name="chroma-connect", daemon=True)
    thread.start()
    thread.join(timeout)
    if failed:
        cause: BaseException | None = failed[0]
        while cause is not None and not isinstance(cause, httpx.TransportError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None or "Could not connect" in str(failed[0]):
            # chromadb wraps a refused connection in a ValueError: say it is unreachable.
            raise httpx.ConnectError(f"Chroma unreachable: {failed[0]}") from failed[0]
        raise failed[0]
    if not built:
        raise httpx.ConnectTimeout(f"Chroma did not answer within {timeout} s")
    session = getattr(getattr(built[0], "_server", None), "_session", None)
    if session is not None:  # the one place chromadb keeps it
        session.timeout = httpx.Timeout(timeout, connect=min(timeout, 1.0))
    return built[0]
