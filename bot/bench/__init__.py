"""`studybot bench`: every scenario in one run, as percentiles, ratios and goals."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path

from bot.bench import alternative, scenarios
from bot.bench.measure import EVAL_FILE, Row, Sizes, ms_row, row
from bot.config import Settings
from bot.core.errors import InputError
from bot.core.text import clean_query

# Modules of the `bench` extra: the alternative, the profiler, process memory.
BENCH_EXTRA = ("langchain_chroma", "langchain_huggingface", "pyinstrument", "psutil")


@dataclass
class Goal:
    """A measured value against the target it must not exceed."""

    name: str
    value: float
    target: float
    unit: str  # "x" for ratios

    @property
    def met(self) -> bool:
        """Whether the value is within the target."""
        return self.value <= self.target

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {**asdict(self), "met": self.met}


@dataclass
class BenchReport:
    """One run: where, when, at which sizes, and what it measured."""

    size: str
    rows: list[Row]
    quality: dict[str, dict[str, float]]
    goals: list[Goal] = field(default_factory=list)
    profile: str | None = None  # path of the ask profile, when one was taken
    date: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    machine: dict[str, object] = field(default_factory=lambda: machine())

    def get(self, scenario: str) -> Row | None:
        """The row of a scenario, if it ran."""
        return next((r for r in self.rows if r.scenario == scenario), None)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "date": self.date,
            "size": self.size,
            "machine": self.machine,
            "rows": [r.as_dict() for r in self.rows],
            "quality": self.quality,
            "goals": [g.as_dict() for g in self.goals],
            "profile": self.profile,
        }


def machine() -> dict[str, object]:
    """Cores, CPU model, memory and Python: the numbers mean little without them."""
    import psutil

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or platform.machine(),
    ) if Path("/proc/cpuinfo").exists() else platform.machine()  # fmt: skip
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30),
        "python": platform.python_version(),
    }


def run_bench(
    settings: Settings,
    sizes: Sizes,
    size: str = "custom",
    course: str | None = None,
    profile_dir: Path | None = None,
) -> BenchReport:
    """Run every scenario against a scratch copy of the course index and its own Redis keys."""
    from bot.bench.slack_e2e import slack_rows
    from bot.retrieval.evaluation import load_questions
    from bot.wiring import Container

    missing = [name for name in BENCH_EXTRA if find_spec(name) is None]
    if missing:
        raise InputError(
            f"studybot bench needs {', '.join(missing)}: pip install 'studybot[bench]'"
        )
    course = course or settings.default_course
    questions = load_questions(EVAL_FILE)[: sizes.max_queries]
    queries = [clean_query(q.question, 100_000) for q in questions]
    with tempfile.TemporaryDirectory(prefix="studybot-bench-") as folder:
        scratch = Path(folder)
        prefix = f"bench-{os.getpid()}-{time.time_ns()}"
        bench_settings = settings.model_copy(
            update={
                "data_dir": scratch,
                "models_path": settings.models_dir,
                "redis": settings.redis.model_copy(update={"key_prefix": prefix}),
                "llm_model": None,
            }
        )
        container = Container(bench_settings)
        try:
            container.embedder.embed_query("warm up")
            rows = scenarios.ingest_rows(
                container, bench_settings.knowledge_dir / course, course, min(sizes.cold_runs, 3)
            )
            report = BenchReport(size, rows, scenarios.quality(container, questions, course))
            passes = queries * sizes.query_repeats
            rows += scenarios.search_rows(container, passes, course)
            rows += scenarios.floor_rows(container, passes, course)
            rows.append(scenarios.ask_row(container, passes, course))
            rows += scenarios.template_rows(container, course, sizes.query_repeats)
            if profile_dir is not None:
                target = profile_dir / "ask-profile.txt"
                report.profile = str(scenarios.profile_ask(container, passes, course, target))
            if scenarios.multiple_choice_items(container, course):
                rows.append(scenarios.quiz_row(container, course, sizes.quiz_answers))
                rows.append(scenarios.fanout_row(container, course, scratch, sizes.fanout_channels))
                rows.append(scenarios.redis_memory_row(container, course, sizes.students))

            env = _child_env(bench_settings)
            rows += _cold_rows(env, course, sizes.cold_runs)
            rows += slack_rows(env, sizes, scratch)
            chunks = list(container.index.chunks(course))
            vectors = container.index.embeddings(course, [c.id for c in chunks])
            rows += alternative.alternative_rows(chunks, vectors, queries, sizes, scratch)
            report.goals = goals(report, sizes)
        finally:
            _drop_keys(container, prefix)
            if not settings.redis.url:
                # The embedded server lives in the scratch dir: stop it before the dir goes.
                container.redis.shutdown(nosave=True)
    return report


def _child_env(settings: Settings) -> dict[str, str]:
    """Environment for `python -m bot` children: the scratch index and this run's keys."""
    env = {
        **os.environ,
        "STUDYBOT_DATA_DIR": str(settings.data_dir),
        "STUDYBOT_MODELS_PATH": str(settings.models_dir),
        "STUDYBOT_KNOWLEDGE_DIR": str(settings.knowledge_dir),
        "REDIS_KEY_PREFIX": settings.redis.key_prefix,
    }
    env.pop("STUDYBOT_LLM", None)
    return env


def _cold_rows(env: dict[str, str], course: str, runs: int) -> list[Row]:
    """Process start to results of `studybot search` and `studybot ask`; ask's peak RSS."""

    def run(verb: str) -> tuple[list[float], list[float]]:
        command = [sys.executable, "-m", "bot", verb, "why add randomness to retry delays"]
        return scenarios.cold_rows(env, [*command, "--course", course], runs)

    search_walls, _ = run("search")
    ask_walls, ask_peaks = run("ask")
    return [
        ms_row("search: cold start to results (wall)", search_walls),
        ms_row(scenarios.COLD_ASK, ask_walls),
        row(scenarios.ASK_RSS, ask_peaks, "MiB"),
    ]


def goals(report: BenchReport, sizes: Sizes) -> list[Goal]:
    """The issue's targets, checked against this run's rows (skipped if a row is missing)."""
    found: list[Goal] = []

    def ratio(name: str, top: Row | None, bottom: Row | None, target: float) -> None:
        if top and bottom and bottom.median:
            found.append(Goal(name, round(top.median / bottom.median, 2), target, "x"))

    def limit(name: str, scenario: str, target: float, stat: str = "median") -> None:
        if measured := report.get(scenario):
            found.append(Goal(name, getattr(measured, stat), target, measured.unit))

    ask = report.get(scenarios.ASK)
    ratio("ask / floor, median", ask, report.get(scenarios.FLOOR), 1.2)
    ratio("ask / alternative, warm median", ask, report.get(alternative.WARM), 0.5)
    ratio("ask / alternative, cold start median", report.get(scenarios.COLD_ASK),
          report.get(alternative.COLD), 0.5)  # fmt: skip
    # Like for like: our one-answer process against the alternative's, when it ran one.
    if rss := report.get(alternative.RSS):
        one_answer = float(rss.notes.get("after_one_answer_mib", rss.median))  # type: ignore[arg-type]
        rss = row(rss.scenario, [one_answer], "MiB")
    ratio("ask / alternative, peak RSS", report.get(scenarios.ASK_RSS), rss, 0.5)
    concurrent = sizes.slack_concurrency
    for replicas in ("1 replica", "2 replicas"):
        limit(f"Slack ack p99, {replicas}, {concurrent} concurrent",
              f"slack: ack, {replicas}, {concurrent} concurrent", 100, "p99")  # fmt: skip
    limit("understanding added to an ask, median", scenarios.UNDERSTAND, 3)
    limit("understanding's memory", scenarios.UNDERSTAND_MEMORY, 50)
    limit("cold ingest, whole course", scenarios.COLD_INGEST, 20_000)
    limit("unchanged re-ingest", "ingest: unchanged re-ingest", 2000)
    limit("serving process RSS after warm-up", "slack: replica RSS after warm-up", 600)
    return found


def _drop_keys(container: object, prefix: str) -> None:
    client = container.redis  # type: ignore[attr-defined]
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)
