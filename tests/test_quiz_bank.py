"""The shipped quiz bank, its validation, and stale-source detection."""

import shutil
from collections import Counter

import pytest

from bot.config import REPO_ROOT
from bot.quiz.bank import BankError, MultipleChoice, QuickCheck, load_bank, sync_bank
from bot.wiring import Container
from tests.conftest import COURSE

PACK = REPO_ROOT / "knowledge" / COURSE


def test_the_bank_has_enough_items_of_both_kinds_per_concept():
    bank = load_bank(PACK, COURSE)
    assert len(bank.items) >= 80
    per_concept = Counter(item.concept for item in bank.items.values())
    assert set(per_concept) == {
        "cap", "consistency", "consensus", "event-driven", "fault-tolerance", "storage"
    }  # fmt: skip
    assert min(per_concept.values()) >= 8
    kinds = Counter(type(item) for item in bank.items.values())
    assert kinds[MultipleChoice] >= 40 and kinds[QuickCheck] >= 20


def test_every_item_cites_a_real_section(indexed):
    report = sync_bank(indexed.index, load_bank(PACK, COURSE))
    assert report.items >= 80 and report.stale == []


def bank_folder(tmp_path, text):
    folder = tmp_path / "c"
    (folder / "quizzes").mkdir(parents=True)
    (folder / "quizzes" / "x.yaml").write_text(text)
    return folder


GOOD_MC = """
  - id: x-one
    kind: multiple-choice
    question: "Q?"
    options: ["A", "B"]
    answer: "A"
    explanation: "E"
    source: {path: 01-cap.md, section: "Per data type"}
"""


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (GOOD_MC.replace('answer: "A"', 'answer: "C"'), "x.yaml: item x-one: answer must be"),
        (GOOD_MC.replace('options: ["A", "B"]', 'options: ["A"]'), "item x-one: options"),
        (GOOD_MC.replace("id: x-one", "id: X One"), "item X One: id: "),
        (GOOD_MC.replace("kind: multiple-choice", "kind: essay"), "item x-one"),
        (GOOD_MC.replace('    explanation: "E"\n', ""), "item x-one: explanation: Field required"),
        (GOOD_MC + GOOD_MC, "item x-one: duplicate id"),
        ("\n  - [unclosed", "x.yaml: not valid YAML"),
    ],
)
def test_schema_errors_name_the_file_and_the_item(tmp_path, body, error):
    with pytest.raises(BankError, match=error.replace("?", r"\?")):
        load_bank(bank_folder(tmp_path, "concept: cap\nitems:" + body), "c")


def test_changed_source_sections_are_flagged_stale_until_the_item_is_edited(
    make_settings, course_dir
):
    container = Container(make_settings())
    shutil.copytree(course_dir, course_dir.parent / "c")
    folder = course_dir.parent / "c"
    (folder / "quizzes").mkdir()
    (folder / "quizzes" / "cap.yaml").write_text("concept: cap\nitems:" + GOOD_MC)
    container.ingestor.ingest([folder], "c")
    assert sync_bank(container.index, load_bank(folder, "c")).stale == []

    missing = GOOD_MC.replace("Per data type", "No such heading")
    (folder / "quizzes" / "cap.yaml").write_text("concept: cap\nitems:" + missing)
    with pytest.raises(BankError, match="item x-one: cites a section that is not in the course"):
        sync_bank(container.index, load_bank(folder, "c"))
    (folder / "quizzes" / "cap.yaml").write_text("concept: cap\nitems:" + GOOD_MC)

    cap = folder / "01-cap.md"
    cap.write_text(cap.read_text().replace("not for the whole product", "not per product"))
    container.ingestor.ingest([folder], "c")
    assert sync_bank(container.index, load_bank(folder, "c")).stale == ["x-one"]

    edited = GOOD_MC.replace('explanation: "E"', 'explanation: "Reviewed E"')
    (folder / "quizzes" / "cap.yaml").write_text("concept: cap\nitems:" + edited)
    report = sync_bank(container.index, load_bank(folder, "c"))
    assert (report.updated, report.stale) == (1, [])
