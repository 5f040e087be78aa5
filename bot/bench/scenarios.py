"""The bench scenarios that run inside the bench process, on one warm Container."""

from __future__ import annotations

import math
import subprocess
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.bench.measure import Row, measured_command, ms_row, peak_rss_mib, row, timed
from bot.core.models import Address, Incoming

ASK = "ask: warm extractive (core)"
COLD_INGEST = "ingest: cold, whole course"
FLOOR = "floor: embed + Chroma query + 3 Redis round trips"
COLD_ASK = "ask: cold start to first answer (wall)"
ASK_RSS = "ask: peak RSS of one process"
TEMPLATE_ASK = "ask: template request"
UNDERSTAND = "understand: intent + slots per message (core)"
UNDERSTAND_MEMORY = "understand: memory of the fit (example vectors + weights)"
# Requests to apply a template, in the voices students use (the bench's own, not eval cases).
TEMPLATE_REQUESTS = [
    "CAP trade-offs for our pet-sitting marketplace: bookings, sitter profiles, reviews",
    "System: a campus parking app\nData: permits, spot occupancy, fines",
    "we run a recipe site. it calls a search service, an image CDN and a payments API",
    "which consistency model fits each of these in my notes app: edit note, share note, search",
    "sketch the events for a bike repair shop with repairs, parts and customers",
    "resilience plan for our ticket kiosk: kiosk -> payments, kiosk -> seat map",
    "consistency levels for a group chat: send message, read receipts, typing indicator",
    "event-driven design for a library with loans, members and fines",
]


def ingest_rows(container: Any, folder: Path, course: str, runs: int = 1) -> list[Row]:
    """Cold ingest of the course pack, then again with nothing changed.

    With `runs` above 1, the extra cold runs go into scratch courses first (one ingest is a
    single noisy sample); their chunks are deleted afterwards.
    """
    colds = []
    for number in range(1, runs):
        scratch = f"{course}-cold-{number}"
        colds.append(container.ingestor.ingest([folder], scratch).seconds)
        container.index.delete(scratch, [c.id for c in container.index.chunks(scratch)])
    cold = container.ingestor.ingest([folder], course)
    colds.append(cold.seconds)
    again = container.ingestor.ingest([folder], course)
    return [
        ms_row(COLD_INGEST, colds, chunks=cold.chunks, runs_s=[round(s, 2) for s in colds]),
        ms_row("ingest: unchanged re-ingest", [again.seconds], re_embedded=again.embedded),
    ]


def median_interval(samples: Sequence[float]) -> tuple[float, float]:
    """A distribution-free 95% confidence interval of the median, from order statistics."""
    ordered = sorted(samples)
    half = 1.96 * math.sqrt(len(ordered)) / 2
    low = max(0, math.floor(len(ordered) / 2 - half) - 1)
    high = min(len(ordered) - 1, math.ceil(len(ordered) / 2 + half) - 1)
    return ordered[low], ordered[high]


def search_rows(container: Any, queries: Sequence[str], course: str) -> list[Row]:
    """Warm search in each mode, every query embedded afresh."""
    rows = []
    for mode in ("hybrid", "dense", "bm25"):
        container.searcher.search(queries[0], course, mode=mode)  # builds the BM25 index
        samples = []
        for query in queries:
            container.embedder.embed_query.cache_clear()  # no cache hits: honest numbers
            started = time.perf_counter()
            container.searcher.search(query, course, mode=mode)
            samples.append(time.perf_counter() - started)
        rows.append(ms_row(f"search: warm {mode}", samples))
    return rows


def floor_rows(container: Any, queries: Sequence[str], course: str) -> list[Row]:
    """The irreducible work of one question, and its two big parts on their own.

    Embedding the question, one Chroma query for the candidates, and three Redis
    round trips: read the thread, write the turns, keep the answer.
    """
    embedder, index, client = container.embedder, container.index, container.redis
    candidates = container.settings.retrieval.candidates
    key = f"{container.keys.prefix}:bench:floor"

    def one(query: str) -> None:
        vector = embedder.embed([query])[0]
        index.query(course, vector, candidates)
        client.lrange(key, 0, -1)
        client.pipeline().rpush(key, query).ltrim(key, -24, -1).expire(key, 3600).execute()
        client.set(f"{key}:answer", query, ex=3600)

    one(queries[0])
    samples = []
    for query in queries:
        started = time.perf_counter()
        one(query)
        samples.append(time.perf_counter() - started)
    vector = embedder.embed([queries[0]])[0]
    return [
        ms_row(FLOOR, samples),
        ms_row("floor: embed query (ONNX)", timed(lambda: embedder.embed([queries[1]]), 50)),
        ms_row("floor: one Chroma query", timed(lambda: index.query(course, vector, 30), 50)),
    ]


def _timed_asks(container: Any, texts: Sequence[str], course: str, who: str) -> list[float]:
    """Seconds per warm `Assistant.ask`, each question embedded afresh, a thread each."""
    address = Address("bench", "local", "bench")
    samples = []
    for number, text in enumerate(texts):
        container.embedder.embed_query.cache_clear()
        incoming = Incoming(address, f"{who}-{number % 50}", text, f"{who}{number}", course)
        started = time.perf_counter()
        container.assistant.ask(incoming)
        samples.append(time.perf_counter() - started)
    return samples


def ask_row(container: Any, queries: Sequence[str], course: str) -> Row:
    """The full core ask path, warm, as the chat REPL runs it (extractive mode)."""
    address = Address("bench", "local", "bench")
    container.assistant.ask(Incoming(address, "warmup", queries[0], "warmup", course))
    samples = _timed_asks(container, queries, course, "student")
    low, high = median_interval(samples)
    return ms_row(ASK, samples, median_ci95_ms=[round(low * 1000, 2), round(high * 1000, 2)])


def template_rows(container: Any, course: str, rounds: int) -> list[Row]:
    """Warm asks that open a template, and the understanding step alone (intent + slots).

    Memory counts the two classifiers' weights (intent, and the turn while a template
    waits), the example vectors they were fitted on, and the slot tagger's model. The
    timing includes reading the turn, which only a message to a waiting template needs.

    The question's embedding is the one retrieval computes anyway, so understanding is
    timed with it cached: what it adds to an ask is the classifier and the extractor.
    """
    from bot.core.intent import load_examples
    from bot.core.turns import load_turn_examples

    requests = TEMPLATE_REQUESTS * rounds
    asks = _timed_asks(container, requests, course, "templater")
    container.turns.prepare()  # a serving process fits it at start-up, as it does the intents
    understood = []
    for text in requests:
        flat = " ".join(text.split())
        container.embedder.embed_query(flat)  # retrieval's embedding of the question
        started = time.perf_counter()
        intent = container.intents.predict(flat, text)
        container.turns.predict(flat, text)
        if intent.template_id:
            container.assistant.slots.read(container.prompts.template(intent.template_id), text)
        understood.append(time.perf_counter() - started)
    prompts = container.settings.prompts_dir
    examples = sum(len(v) for v in load_examples(prompts / "intents.yaml").values())
    examples += sum(len(v) for v in load_turn_examples(prompts / "turn-examples.yaml").values())
    memory = examples * 384 * 4  # float32 MiniLM vectors
    memory += container.intents.memory_bytes() + container.turns.memory_bytes()
    memory += container.assistant.slots.memory_bytes()
    return [
        ms_row(TEMPLATE_ASK, asks),
        ms_row(UNDERSTAND, understood),
        row(UNDERSTAND_MEMORY, [memory / 2**20], "MiB"),
    ]


def profile_ask(container: Any, queries: Sequence[str], course: str, target: Path) -> Path:
    """Profile the warm ask path with pyinstrument and write the call tree as text."""
    from pyinstrument import Profiler

    address = Address("bench", "local", "bench")
    profiler = Profiler(interval=0.0002)
    with profiler:
        for number, query in enumerate(queries):
            container.embedder.embed_query.cache_clear()
            incoming = Incoming(address, f"profiled-{number % 50}", query, f"p{number}", course)
            container.assistant.ask(incoming)
    target.write_text(profiler.output_text(unicode=True, show_all=False))
    return target


def quality(container: Any, questions: Sequence[Any], course: str) -> dict[str, dict[str, float]]:
    """recall@5 and MRR per retrieval mode on the eval set: speed must not cost quality."""
    from bot.retrieval.evaluation import evaluate

    retrieval = container.settings.retrieval
    report = evaluate(
        container.searcher,
        list(questions),
        course,
        retrieval.min_similarity,
        retrieval.min_coverage,
    )
    return {
        mode: {"recall@5": round(scores.recall(5), 3), "mrr": round(scores.mrr, 3)}
        for mode, scores in report.overall.items()
    }


def multiple_choice_items(container: Any, course: str) -> list[Any]:
    """The course's multiple-choice quiz items (the ones a bench can answer blind)."""
    from bot.quiz.bank import MultipleChoice

    items = container.catalog.quiz_bank(course).items.values()
    return [item for item in items if isinstance(item, MultipleChoice)]


def quiz_row(container: Any, course: str, count: int) -> Row:
    """Answer a multiple-choice item: grading, FSRS update, review log and leaderboard write."""
    items = multiple_choice_items(container, course)
    quiz = container.quiz
    samples = []
    for number in range(count):
        student = Incoming(Address("bench", "local", "bench"), f"quizzer-{number}", "quiz", "q")
        person = quiz.person(student)
        if number:
            quiz.groups.join("bench:local", person, "bench")
        else:
            quiz.groups.create("bench:local", person, "bench", quiz.clock())
        item = items[number % len(items)]
        prompt = quiz.next_prompt(student, course, item_id=item.id)
        started = time.perf_counter()
        quiz.answer(student, prompt.prompt_id, "abcde"[prompt.options.index(item.answer)])
        samples.append(time.perf_counter() - started)
    return ms_row("quiz: answer + FSRS + leaderboard", samples)


def fanout_row(container: Any, course: str, scratch: Path, channels: int) -> Row:
    """One scheduler tick pushing to many channels through the log outbox."""
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
    return ms_row(
        f"push: tick fan-out to {channels} channels",
        [seconds],
        channels_per_second=round(len(sent) / seconds),
    )


# Students answered this many items each: a few weeks of daily quick checks.
CARDS_PER_STUDENT = 20
_TEMPLATE_STUDENTS = 50


def redis_memory_row(container: Any, course: str, students: int) -> Row:
    """Redis `used_memory` per student, with `students` students' cards in Redis.

    A few students answer through the real quiz path; their keys are then copied
    (DUMP/RESTORE, byte for byte) to the rest, which is what many real students
    would have written, minutes instead of an hour sooner.
    """
    quiz, client, keys = container.quiz, container.redis, container.keys
    items = multiple_choice_items(container, course)[:CARDS_PER_STUDENT]
    before = client.info("memory")["used_memory"]
    templates = []
    for number in range(min(students, _TEMPLATE_STUDENTS)):
        student = Incoming(Address("bench", "mem", "bench"), f"student-{number}", "quiz", "q")
        person = quiz.person(student)
        for item in items:
            prompt = quiz.next_prompt(student, course, item_id=item.id)
            quiz.answer(student, prompt.prompt_id, "abcde"[prompt.options.index(item.answer)])
        templates.append(person)
    dumps = {
        person: [
            (k, client.dump(k), client.pttl(k))
            for k in client.scan_iter(f"{keys.person(person)}:*")
        ]
        for person in templates
    }
    pipe = client.pipeline(transaction=False)
    for number in range(len(templates), students):
        source = templates[number % len(templates)]
        for key, value, ttl in dumps[source]:
            copy = key.replace(keys.person(source), keys.person(f"{source}-copy{number}"), 1)
            pipe.restore(copy, max(ttl, 0), value, replace=True)
        if len(pipe) >= 2000:
            pipe.execute()
    pipe.execute()
    used = client.info("memory")["used_memory"] - before
    per_student = used / students
    return row(
        f"redis: used_memory per student ({students:,} students)",
        [per_student / 1024],
        "KiB",
        cards_per_student=len(items),
        total_mib=round(used / 2**20, 1),
    )


def cold_rows(
    env: dict[str, str], command: list[str], runs: int
) -> tuple[list[float], list[float]]:
    """Wall seconds and peak RSS (MiB) of `runs` fresh processes running `command`."""
    walls, peaks = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            rss_file, errors = Path(folder) / "rss", Path(folder) / "stderr"
            started = time.perf_counter()
            with errors.open("wb") as stderr:
                done = subprocess.run(
                    measured_command(command, rss_file), env=env, stdout=subprocess.DEVNULL,
                    stderr=stderr, check=False,
                )  # fmt: skip
            walls.append(time.perf_counter() - started)
            if done.returncode:
                tail = errors.read_text(errors="replace")[-500:]
                raise RuntimeError(f"{' '.join(command[2:])} failed: {tail}")
            peaks.append(peak_rss_mib(rss_file))
    return walls, peaks
