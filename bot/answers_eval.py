"""`studybot eval --answers`: whether each composed answer reads as a whole."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from bot.core.assistant import Assistant
from bot.core.models import Address, Incoming
from bot.retrieval.chunking import DANGLING

MIN_WORDS, MAX_WORDS = 40, 180
CHECKS = (
    "no trailing colon",
    "balanced quotes, backticks and brackets",
    "no dangling reference opening a window",
    f"{MIN_WORDS}-{MAX_WORDS} words",
    "at least one citation",
    "no repeated sentence",
)
_LABEL = re.compile(r"^\*[^*\n]{1,80}:\*\s*")  # a supporting window's "*Section:*"
_PAIRS = {")": "(", "]": "[", "}": "{"}


def balanced(text: str) -> bool:
    """Straight and curly quotes paired, backticks even, brackets closed in order."""
    if text.count('"') % 2 or text.count("`") % 2 or text.count("\u201c") != text.count("\u201d"):
        return False
    stack: list[str] = []
    for char in text:
        if char in "([{":
            stack.append(char)
        elif char in _PAIRS and (not stack or stack.pop() != _PAIRS[char]):
            return False
    return not stack


def check(body: str, citations: list[str]) -> dict[str, bool]:
    """Each check's verdict on one answer's body."""
    windows = [_LABEL.sub("", w).strip() for w in body.split("\n\n") if w.strip()]
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", body) if len(s.split()) >= 4]
    words = len(re.findall(r"[\w'-]+", body))
    return dict(
        zip(
            CHECKS,
            (
                not body.rstrip().endswith(":"),
                balanced(body),
                not any(DANGLING.match(w) for w in windows),
                MIN_WORDS <= words <= MAX_WORDS,
                bool(citations),
                len(sentences) == len(set(sentences)),
            ),
            strict=True,
        )
    )


@dataclass
class AnswerReport:
    """Pass counts per check over one question file, with the failures."""

    file: str
    answered: int = 0
    abstained: int = 0
    passed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHECKS, 0))
    failures: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of `studybot eval --answers --json`."""
        rates = {c: self.passed[c] / max(1, self.answered) for c in CHECKS}
        return {
            "file": self.file,
            "answered": self.answered,
            "abstained": self.abstained,
            "pass_rate": rates,
            "failures": self.failures,
        }


def evaluate_answers(assistant: Assistant, path: Path, course: str) -> AnswerReport:
    """Ask every question of a retrieval eval file and check the answer composed for it."""
    report = AnswerReport(path.name)
    run = uuid.uuid4().hex[:8]
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        question = json.loads(line)["question"]
        incoming = Incoming(
            Address("eval", f"answers-{run}", ""), "student", question, f"a{number}-{run}", course
        )
        reply = assistant.ask(incoming)
        if not reply.in_scope or reply.template is not None:
            report.abstained += not reply.in_scope
            continue  # an abstention or a filled template has no composed answer
        report.answered += 1
        verdict = check(reply.body, reply.citations)
        for name, ok in verdict.items():
            report.passed[name] += ok
        if failed := [name for name, ok in verdict.items() if not ok]:
            report.failures.append({"question": question, "failed": failed, "answer": reply.body})
    return report


def render(reports: list[AnswerReport]) -> Table:
    """Pass rate per check, one column per question file."""
    table = Table(title="Composed answers (studybot eval --answers)")
    table.add_column("check")
    for report in reports:
        table.add_column(f"{report.file} ({report.answered} answered)", justify="right")
    for name in CHECKS:
        table.add_row(
            name, *(f"{r.passed[name] / r.answered:.0%}" if r.answered else "n/a" for r in reports)
        )
    return table
