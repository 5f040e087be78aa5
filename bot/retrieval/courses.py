"""Which courses exist, and indexing a bundled course on first use."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bot.core.errors import NotFoundError
from bot.quiz.bank import BankReport, QuizBank, load_bank, sync_bank
from bot.retrieval.index import VectorIndex, validate_course
from bot.retrieval.ingest import Ingestor, IngestReport, Progress


class CourseCatalog:
    """Courses are folders under the knowledge dir, plus any collection already indexed."""

    def __init__(
        self,
        index: VectorIndex,
        ingestor: Callable[[], Ingestor],
        knowledge_dir: Path,
        default_course: str,
    ) -> None:
        self._index = index
        self._ingestor = ingestor
        self.knowledge_dir = knowledge_dir
        self.default_course = default_course
        self._banks: dict[str, QuizBank] = {}
        # Asked on every question: remember the answer briefly rather than list
        # Chroma's collections each time; an ingest elsewhere shows up within seconds.
        self._known: tuple[float, list[str]] = (0.0, [])
        self._indexed: set[str] = set()

    def bundled(self) -> list[str]:
        """Course folders shipped in the knowledge dir."""
        if not self.knowledge_dir.is_dir():
            return []
        return sorted(
            p.name
            for p in self.knowledge_dir.iterdir()
            if p.is_dir() and not p.name.startswith(".")
        )

    KNOWN_TTL = 5.0

    def known(self, fresh: bool = False) -> list[str]:
        """Every course a student can ask about."""
        checked_at, courses = self._known
        if fresh or time.monotonic() - checked_at > self.KNOWN_TTL:
            courses = sorted(set(self.bundled()) | set(self._index.courses()))
            self._known = (time.monotonic(), courses)
        return courses

    def resolve(self, course: str | None) -> str:
        """The course to use: the one named, else the default; unknown names are refused."""
        name = validate_course((course or self.default_course).strip().lower())
        known = self.known()
        if name not in known:
            known = self.known(fresh=True)  # a course ingested moments ago
        if name not in known:
            raise NotFoundError(f"unknown course {name!r} (known: {', '.join(known) or 'none'})")
        return name

    def ensure_indexed(self, course: str, progress: Progress | None = None) -> IngestReport | None:
        """Ingest a bundled course whose index is empty (first run on a fresh machine)."""
        if course in self._indexed:
            return None
        if self._index.count(course) or course not in self.bundled():
            self._indexed.add(course)
            return None
        report = self._ingestor().ingest([self.knowledge_dir / course], course, progress)
        self.sync_quizzes(course)
        self._indexed.add(course)
        self._known = (0.0, [])
        return report

    def sync_quizzes(self, course: str) -> BankReport | None:
        """Validate the course's quiz bank against its sections and record source hashes."""
        self._banks.pop(course, None)  # re-read: the files may have changed
        bank = self.quiz_bank(course)
        return sync_bank(self._index, bank) if bank.items else None

    def quiz_bank(self, course: str) -> QuizBank:
        """The course's quiz bank, loaded once (BankError if a file is broken)."""
        if course not in self._banks:
            self._banks[course] = load_bank(self.knowledge_dir / course, course)
        return self._banks[course]
