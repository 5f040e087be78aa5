"""`studybot bench`: timed scenarios in one run, reported as percentiles and ratios."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.config import REPO_ROOT, Settings
from bot.core.text import clean_query

EVAL_FILE = REPO_ROOT / "tests" / "eval" / "questions.jsonl"


@dataclass
class Row:
    """One measured scenario; times in milliseconds."""

    scenario: str
    n: int
    median_ms: float
    p95_ms: float
    p99_ms: float
    notes: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return asdict(self)


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _row(scenario: str, seconds: list[float], **notes: object) -> Row:
    ms = [s * 1000 for s in seconds]
    return Row(
        scenario,
        len(ms),
        round(statistics.median(ms), 2),
        round(_percentile(ms, 0.95), 2),
        round(_percentile(ms, 0.99), 2),
        notes,
    )


def _timed(action: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def run_bench(settings: Settings, quick: bool, course: str | None = None) -> list[Row]:
    """Run every scenario against a scratch copy of the course index."""
    from bot.retrieval.evaluation import load_questions
    from bot.wiring import Container

    course = course or settings.default_course
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="studybot-bench-") as scratch:
        redis_settings = settings.redis.model_copy(
            update={"key_prefix": f"bench-{os.getpid()}-{time.time_ns()}"}
        )
        bench_settings = settings.model_copy(
            update={
                "data_dir": Path(scratch),
                "models_path": settings.models_dir,
                "redis": redis_settings,
                "llm_model": None,
            }
        )
        container = Container(bench_settings)
        container.embedder.embed_query("warm up")
        folder = [bench_settings.knowledge_dir / course]

        cold = container.ingestor.ingest(folder, course)
        rows.append(_row("ingest: cold, whole course", [cold.seconds], chunks=cold.chunks))
        again = container.ingestor.ingest(folder, course)
        rows.append(
            _row("ingest: unchanged re-ingest", [again.seconds], re_embedded=again.embedded)
        )

        queries = [clean_query(q.question, 100_000) for q in load_questions(EVAL_FILE)] * (
            1 if quick else 5
        )
        searcher = container.searcher
        for mode in ("hybrid", "dense", "bm25"):
            searcher.search(queries[0], course, mode=mode)  # builds the BM25 index
            samples = []
            for query in queries:
                container.embedder.embed_query.cache_clear()  # no cache hits: honest numbers
                started = time.perf_counter()
                searcher.search(query, course, mode=mode)
                samples.append(time.perf_counter() - started)
            rows.append(_row(f"search: warm {mode}", samples))
        vector = container.embedder.embed([queries[0]])[0]
        rows.append(
            _row(
                "floor: embed query (ONNX)",
                _timed(lambda: container.embedder.embed([queries[1]]), len(queries)),
            )
        )
        rows.append(
            _row(
                "floor: one Chroma query",
                _timed(lambda: container.index.query(course, vector, 30), len(queries)),
            )
        )

        rows.append(_ask_row(container, queries, course))
        if container.catalog.quiz_bank(course).items:
            rows.append(_quiz_row(container, course, 50 if quick else 300))
            rows.append(_fanout_row(container, course, Path(scratch), 200 if quick else 1000))

        env = {
            **os.environ,
            "STUDYBOT_DATA_DIR": scratch,
            "STUDYBOT_MODELS_PATH": str(bench_settings.models_dir),
            "STUDYBOT_KNOWLEDGE_DIR": str(bench_settings.knowledge_dir),
            "REDIS_KEY_PREFIX": redis_settings.key_prefix,
        }
        env.pop("STUDYBOT_LLM", None)
        query = "why add randomness to retry delays"
        command = [sys.executable, "-m", "bot", "search", query, "--course", course]
        repeat = 2 if quick else 5
        cold_runs = _timed(
            lambda: subprocess.run(command, env=env, capture_output=True, check=True), repeat
        )
        rows.append(_row("search: cold `studybot search` (wall)", cold_runs))
        ask_command = [sys.executable, "-m", "bot", "ask", query, "--course", course]
        cold_asks = _timed(
            lambda: subprocess.run(ask_command, env=env, capture_output=True, check=True), repeat
        )
        rows.append(_row("ask: cold `studybot ask` (wall)", cold_asks))
        _drop_keys(container, redis_settings.key_prefix)
        if not settings.redis.url:
            # The embedded server lives in the scratch dir: stop it before the dir goes.
            container.redis.shutdown(nosave=True)
    return rows


def _ask_row(container: Any, queries: list[str], course: str) -> Row:
    """The full core ask path, warm, as the chat REPL runs it (extractive mode)."""
    from bot.core.models import Address, Incoming

    address = Address("bench", "local", "bench")
    assistant = container.assistant
    assistant.ask(Incoming(address, "warmup", queries[0], "warmup", course))
    samples = []
    for number, query in enumerate(queries):
        container.embedder.embed_query.cache_clear()
        incoming = Incoming(address, f"student-{number % 50}", query, f"t{number}", course)
        started = time.perf_counter()
        assistant.ask(incoming)
        samples.append(time.perf_counter() - started)
    return _row("ask: warm extractive (core)", samples)


def _quiz_row(container: Any, course: str, count: int) -> Row:
    """Answer a multiple-choice item: grading, FSRS update, review log and leaderboard write."""
    from bot.core.models import Address, Incoming
    from bot.quiz.bank import MultipleChoice

    items = [
        i
        for i in container.catalog.quiz_bank(course).items.values()
        if isinstance(i, MultipleChoice)
    ]
    quiz = container.quiz
    samples = []
    for number in range(count):
        student = Incoming(Address("bench", "local", "bench"), f"quizzer-{number}", "quiz", "q")
        person = quiz.person(student)
        quiz.groups.join("bench:local", person, "bench") if number else quiz.groups.create(
            "bench:local", person, "bench", quiz.clock()
        )
        item = items[number % len(items)]
        prompt = quiz.next_prompt(student, course, item_id=item.id)
        started = time.perf_counter()
        quiz.answer(student, prompt.prompt_id, "abcde"[item.correct_index])
        samples.append(time.perf_counter() - started)
    return _row("quiz: answer + FSRS + leaderboard", samples)


def _fanout_row(container: Any, course: str, scratch: Path, channels: int) -> Row:
    """One scheduler tick pushing to many channels through the log outbox."""
    from datetime import UTC, datetime

    from bot.schedule.outbox import LogOutbox
    from bot.schedule.pushes import PushScheduler, Subscription

    pushes = PushScheduler(
        container.redis, container.keys, LogOutbox(scratch / "outbox.jsonl"),
        container.catalog.quiz_bank,
    )  # fmt: skip
    for number in range(channels):
        pushes.subscribe(
            Subscription("bench", "local", f"C{number:05d}", "07:00", "UTC", course=course)
        )
    started = time.perf_counter()
    sent = pushes.tick(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    seconds = time.perf_counter() - started
    return _row(
        f"push: tick fan-out to {channels} channels",
        [seconds],
        channels_per_second=round(len(sent) / seconds),
    )


def _drop_keys(container: Any, prefix: str) -> None:
    client = container.redis
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)
