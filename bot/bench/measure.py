"""What a bench scenario reports: rows of percentiles, the sizes it runs at, and timing helpers."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bot.config import REPO_ROOT

# The retrieval eval set: the bench's questions in every scenario.
EVAL_FILE = REPO_ROOT / "tests" / "eval" / "questions.jsonl"


@dataclass
class Row:
    """One measured scenario: percentiles of its samples in `unit` (ms, s or MiB)."""

    scenario: str
    n: int
    median: float
    p95: float
    p99: float
    unit: str = "ms"
    notes: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class Sizes:
    """How much each scenario does: `full`, `quick` (under 2 minutes) or `tiny` (the CI smoke)."""

    query_repeats: int  # passes over the eval questions for warm search and ask
    quiz_answers: int
    fanout_channels: int
    cold_runs: int  # process starts per cold-start scenario
    slack_events: int  # events per Slack replica setup
    slack_concurrency: int
    students: int  # students whose cards fill Redis for the memory scenario
    max_queries: int | None = None  # cap on eval questions per pass (tiny runs)

    @classmethod
    def full(cls) -> Sizes:
        """The README's numbers."""
        return cls(5, 300, 1000, 5, 400, 50, 10_000)

    @classmethod
    def quick(cls) -> Sizes:
        """Every scenario, fewer repetitions."""
        return cls(1, 50, 1000, 1, 100, 50, 2_000)

    @classmethod
    def tiny(cls) -> Sizes:
        """Every scenario once or twice: checks the bench runs, not how fast."""
        return cls(1, 3, 5, 1, 4, 2, 20, max_queries=6)


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 1]."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(scenario: str, values: Sequence[float], unit: str = "ms", **notes: object) -> Row:
    """A row from raw values already in `unit`."""
    return Row(
        scenario,
        len(values),
        round(statistics.median(values), 2),
        round(percentile(values, 0.95), 2),
        round(percentile(values, 0.99), 2),
        unit,
        notes,
    )


def ms_row(scenario: str, seconds: Sequence[float], **notes: object) -> Row:
    """A row of durations measured in seconds, reported in milliseconds."""
    return row(scenario, [s * 1000 for s in seconds], "ms", **notes)


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    """Seconds each of `repeat` calls of `action` took."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


# A forked child's ru_maxrss starts at its parent's RSS (Linux keeps the high-water mark
# across exec), so children started by the bench would report the bench's memory. A small
# launcher in between keeps that out: it runs the command and writes the peak RSS it saw.
_LAUNCHER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "with open(sys.argv[1], 'w') as out:\n"
    "    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def measured_command(command: Sequence[str], rss_file: Path) -> list[str]:
    """`command` run through the launcher, which writes its peak RSS (KiB) to `rss_file`."""
    return [sys.executable, "-S", "-c", _LAUNCHER, str(rss_file), *command]


def peak_rss_mib(rss_file: Path) -> float:
    """The peak RSS a launcher wrote, in MiB."""
    return int(rss_file.read_text()) / 1024  # KiB on Linux
