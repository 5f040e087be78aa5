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
    assert len(bank.items) >= 130
    per_concept = Counter(item.concept for item in bank.items.values())
    assert set(per_concept) == {
        "cap", "consistency", "consensus", "event-driven", "fault-tolerance", "storage", "design"
    }  # fmt: skip
    assert min(per_concept.values()) >= 10
    kinds = Counter(type(item) for item in bank.items.values())
    assert kinds[MultipleChoice] >= 80 and kinds[QuickCheck] >= 30
    worked = [i for i in bank.items if i.startswith("calc-")]  # "work it out" items
    assert len(worked) >= 24
    assert len({bank.items[i].concept for i in worked}) == 6


def test_every_item_cites_a_real_section(indexed):
    report = sync_bank(indexed.index, load_bank(PACK, COURSE))
    assert report.items >= 130 and report.stale == []


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


@pytest.mark.slow  # loads the model and embeds the pack: `make test` also runs the lint first
def test_the_shipped_bank_lints_clean(cli_env, capsys):
    from tests.conftest import call

    code, out, _ = call(capsys, "quiz", "--lint")
    assert (code, out.strip()) == (0, f"{COURSE} quiz bank: clean"), out


BIASED = """
  - id: x-{n}
    kind: multiple-choice
    question: "Q{n}?"
    options: ["The right answer, spelled out at length {n}", "No {n}", "Nope {n}", "{fourth}"]
    answer: "The right answer, spelled out at length {n}"
    explanation: "E"
    source: {{path: 01-cap.md, section: "{section}"}}
"""


def test_lint_names_the_file_and_item_of_a_biased_duplicated_or_miscited_bank(
    tmp_path, monkeypatch, capsys
):
    from bot.quiz.lint import lint_bank
    from tests.conftest import call

    items = [
        BIASED.format(n=1, fourth="All of the above", section="Per data type"),
        BIASED.format(n=2, fourth="no  2.", section="Per data type"),
        BIASED.format(n=3, fourth="Maybe", section="No such heading"),
        BIASED.format(n=4, fourth="Perhaps", section="Per data type"),
    ]
    folder = bank_folder(tmp_path / "knowledge", "concept: cap\nitems:" + "".join(items))
    (folder / "01-cap.md").write_text("# CAP\n\n## Per data type\n\nDecide per data type.\n")
    found = [str(f) for f in lint_bank(folder, "c")]
    assert "x.yaml: x-1: an escape-hatch option: 'All of the above'" in found
    assert "x.yaml: x-2: near-duplicate options: 'No 2' / 'no  2.'" in found
    assert "x.yaml: x-3: cites a missing section: 01-cap.md > No such heading" in found
    assert any(f.startswith("x.yaml: *: 4 of 4 keys are option A (at most 1): x-1") for f in found)
    assert any(f.startswith("x.yaml: *: the key is the longest option in 4 of 4") for f in found)

    monkeypatch.setenv("STUDYBOT_KNOWLEDGE_DIR", str(tmp_path / "knowledge"))
    code, out, _ = call(capsys, "quiz", "--lint", "--course", "c")
    assert code == 2 and "x.yaml: x-3: cites a missing section" in out
