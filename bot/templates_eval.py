"""`studybot eval --templates`: intent accuracy, false templates and slot F1 on labelled cases."""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from bot.config import REPO_ROOT
from bot.core.assistant import Assistant
from bot.core.models import Address, Incoming
from bot.core.system_name import name_and_description

TEMPLATE_EVAL_DIR = REPO_ROOT / "tests" / "eval" / "templates"
EXPLAIN = "explain"
_ARTICLES = re.compile(r"^(?:a|an|the|our|my|their|its|this|some)\s+")


@dataclass(frozen=True)
class Case:
    """One labelled conversation: its turns, the intent of the first, the final slots."""

    id: str
    voice: str
    turns: list[dict[str, str]]  # {"text": ..., "expect": template id | "explain" | "slot-answer"}
    intent: str
    slots: dict[str, Any]

    @property
    def multi_turn(self) -> bool:
        """Whether the case is a conversation rather than one message."""
        return len(self.turns) > 1


def load_cases(path: Path) -> list[Case]:
    """Cases from a JSON Lines file (see tests/eval/templates/README.md)."""
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            turns = [t if isinstance(t, dict) else {"text": t} for t in raw["turns"]]
            if len(turns) == 1:
                turns[0].setdefault("expect", raw["intent"])
            cases.append(Case(raw["id"], raw["voice"], turns, raw["intent"], raw["slots"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path.name}:{number}: not a case ({exc})") from exc
    return cases


def normalise(item: str) -> str:
    """Lower case, no markdown or edge punctuation, no leading article or possessive."""
    text = re.sub(r"[*_`~]+", "", item.lower()).strip(" \t'\".,:;!?()[]")
    if "->" in text:
        return " -> ".join(normalise(side) for side in text.split("->"))
    text = " ".join(text.split())
    while (stripped := _ARTICLES.sub("", text)) != text:
        text = stripped
    return text


def _items(value: Any) -> set[str]:
    values = value if isinstance(value, list) else [value] if value else []
    return {normalise(str(v)) for v in values} - {""}


def _system_matches(predicted: set[str], gold: set[str]) -> set[str]:
    """The gold system when the prediction names it with up to two more qualifiers.

    "regional airline reservation system" names the "airline reservation system": the
    head of the phrase is what a filled prompt needs, so that counts as found. A product
    given with what it is, "flocklog (bird sighting app)", names "flocklog" and the app:
    writers label one or the other.
    """
    if len(predicted) == 1 and len(gold) == 1:
        said, meant = next(iter(predicted)), next(iter(gold)).split()
        for part in name_and_description(said) or (said,):
            short, long = sorted((part.split(), meant), key=len)
            if long[len(long) - len(short) :] == short and len(long) - len(short) <= 2:
                return gold
    return predicted


@dataclass
class Counts:
    """True positives, false positives and false negatives of one slot."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: set[str], gold: set[str]) -> None:
        """Count one case's items for this slot."""
        self.tp += len(predicted & gold)
        self.fp += len(predicted - gold)
        self.fn += len(gold - predicted)

    def scores(self) -> dict[str, float]:
        """Precision, recall and F1 (1.0 when there was nothing to find and nothing found)."""
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1}


@dataclass
class HalfReport:
    """What one file of cases measured."""

    name: str
    cases: int = 0
    intent_correct: int = 0
    intent_total: int = 0
    explain_total: int = 0
    false_templates: int = 0
    multi_total: int = 0
    multi_completed: int = 0
    slots: dict[str, dict[str, Counts]] = field(default_factory=lambda: defaultdict(dict))
    misses: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The numbers, for --json."""
        return {
            "file": self.name,
            "cases": self.cases,
            "intent_accuracy": self.intent_correct / max(1, self.intent_total),
            "false_template_rate": self.false_templates / max(1, self.explain_total),
            "multi_turn_completion": self.multi_completed / max(1, self.multi_total),
            "slots": {
                template: {
                    **_micro(per_slot).scores(),
                    "per_slot": {name: c.scores() for name, c in per_slot.items()},
                }
                for template, per_slot in sorted(self.slots.items())
            },
            "misses": self.misses,
        }


def _micro(per_slot: dict[str, Counts]) -> Counts:
    total = Counts()
    for counts in per_slot.values():
        total.tp, total.fp, total.fn = (
            total.tp + counts.tp,
            total.fp + counts.fp,
            total.fn + counts.fn,
        )
    return total


def evaluate(assistant: Assistant, cases: list[Case], name: str, course: str) -> HalfReport:
    """Run every case through `Assistant.ask`, each in a thread of its own, and score it."""
    report = HalfReport(name)
    run = uuid.uuid4().hex[:8]
    for case in cases:
        report.cases += 1
        address = Address("eval", f"eval-{run}", "")
        fill, opened = None, None
        for number, turn in enumerate(case.turns):
            incoming = Incoming(address, "student", turn["text"], f"{case.id}-{run}", course)
            reply = assistant.ask(incoming)
            got = reply.template.id if reply.template else EXPLAIN
            expect = turn.get("expect", case.intent)
            if expect == "slot-answer":
                expect = case.intent
            report.intent_total += 1
            report.intent_correct += got == expect
            if expect == EXPLAIN:
                report.explain_total += 1
                report.false_templates += got != EXPLAIN
            if got != expect:
                report.misses.append(f"{case.id} turn {number + 1}: expected {expect}, got {got}")
            if reply.template and reply.template.id == case.intent:
                fill = reply.template
            if opened is None and expect != EXPLAIN:
                opened = got  # the turn that asks for the template (an aside may come first)
        if case.intent == EXPLAIN:
            continue
        template = assistant.prompts.template(case.intent)
        predicted = fill.slots if fill else {}
        for slot in template.slots:
            said, meant = _items(predicted.get(slot.name)), _items(case.slots.get(slot.name))
            if slot.name == "system":
                said = _system_matches(said, meant)
            report.slots[case.intent].setdefault(slot.name, Counts()).add(said, meant)
            if said != meant:
                report.misses.append(
                    f"{case.id} {slot.name}: expected {sorted(meant)}, got {sorted(said)}"
                )
        if case.multi_turn:
            report.multi_total += 1
            completed = bool(fill and not fill.missing and opened == case.intent)
            report.multi_completed += completed
            if not completed:
                missing = ", ".join(fill.missing) if fill else "no fill"
                report.misses.append(
                    f"{case.id}: conversation not completed (opened {opened}; missing {missing})"
                )
    return report


def evaluate_files(
    assistant: Assistant, cases: dict[Path, list[Case]], course: str
) -> list[HalfReport]:
    """One report per file (the dev half and the test half)."""
    return [evaluate(assistant, loaded, path.name, course) for path, loaded in cases.items()]


def render(reports: list[HalfReport]) -> Table:
    """Intent, false-template, multi-turn and per-template slot scores, one column per file."""
    table = Table(title="Template understanding (studybot eval --templates)")
    table.add_column("measure")
    data = [r.to_dict() for r in reports]
    for report in data:
        table.add_column(f"{report['file']} ({report['cases']})", justify="right")
    rows = [
        ("intent accuracy", lambda d: d["intent_accuracy"]),
        ("false-template rate", lambda d: d["false_template_rate"]),
        ("multi-turn completion", lambda d: d["multi_turn_completion"]),
    ]
    for label, pick in rows:
        table.add_row(label, *(f"{pick(d):.3f}" for d in data))
    templates = sorted({t for d in data for t in d["slots"]})
    for template in templates:
        table.add_row(
            f"slot F1 {template}",
            *(f"{d['slots'].get(template, {}).get('f1', 0):.3f}" for d in data),
        )
    return table
