"""Extractive answers read as a whole: the list a colon promises, no dangling openings."""

import json

import pytest

from bot.answers_eval import balanced, check
from bot.retrieval.chunking import DANGLING, split_sentences, split_units
from tests.conftest import student
from tests.test_cli import call

PASSAGE = """The breaker has three states:

- Closed: calls flow. The breaker counts failures.
- Open: calls fail fast.
1. First step of the procedure here.

| state | calls |
|---|---|
| open | none |

Outside these cases, it is overkill."""


def test_a_passage_splits_into_sentences_items_steps_and_whole_tables():
    kinds = [(unit.kind, unit.continues) for unit in split_units(PASSAGE)]
    assert kinds == [
        ("sentence", False),
        ("item", False),
        ("item", True),  # the item's second sentence stays with it
        ("item", False),
        ("step", False),
        ("table", False),
        ("sentence", False),
    ]
    # ingest embeds the sentences, and each table row with its header, in reading order
    units = split_units(PASSAGE)
    assert split_sentences(PASSAGE) == [
        *(unit.text for unit in units[:5] if unit.embedded),
        "state: open; calls: none",
        *(unit.text for unit in units[6:] if unit.embedded),
    ]


def test_a_run_in_head_stays_with_the_sentence_it_heads():
    passage = "Two techniques help.\n\nSnapshots. Replaying every event gets slow. So store state."
    texts = [unit.text for unit in split_units(passage)]
    assert texts == [
        "Two techniques help.",
        "Snapshots. Replaying every event gets slow.",  # never an answer's last "sentence"
        "So store state.",
    ]


def test_a_table_right_under_its_lead_in_is_one_table_and_its_rows_are_embedded():
    passage = "Targets per service:\n| Service | SLO |\n|---|---|\n| Login | 99.9% |\nThat is all."
    assert [unit.kind for unit in split_units(passage)] == ["sentence", "table", "sentence"]
    assert "Service: Login; SLO: 99.9%" in split_sentences(passage)


def test_a_question_about_one_bullet_gets_the_list_with_its_lead_in(app):
    body = app.assistant.ask(
        student("in CQRS, can a read model be dropped and rebuilt later?")
    ).body
    assert "Benefits and trade-offs:\n- " in body
    assert "- A read model can be dropped and rebuilt by replaying events" in body


def test_a_list_promised_by_a_colon_comes_with_it(app):
    body = app.assistant.ask(student("Explain how a circuit breaker works.")).body
    assert "The breaker has three states:\n- Closed" in body
    assert "- Open" in body and not body.rstrip().endswith(":")  # capped to fit, not cut


def test_a_window_never_opens_on_a_sentence_that_points_back(app):
    body = app.assistant.ask(student("what should I keep in etcd or zookeeper?")).body
    assert not DANGLING.match(body)
    assert "These services are meant" not in body or body.index("etcd uses Raft") < body.index(
        "These services are meant"
    )  # the list they point back to comes first


def test_citations_name_the_lesson_and_the_section_only(app):
    reply = app.assistant.ask(student("Explain how a circuit breaker works."))
    assert (
        reply.citations[0]
        == "Fault tolerance › Circuit breakers: closed, open and half-open states"
    )
    assert reply.to_json()["sources"][0]["path"] == "06-fault-tolerance.md"  # the path stays


@pytest.mark.parametrize(
    ("body", "failed"),
    [
        ("This is why. " + "word " * 40 + ".", {"no dangling reference opening a window"}),
        ("Ends on a colon, " + "word " * 40 + "as follows:", {"no trailing colon"}),
        ('Unclosed "quote ' + "word " * 40 + ".", {"balanced quotes, backticks and brackets"}),
        ("Too short.", {"40-180 words"}),
    ],
)
def test_the_answer_checks_catch_what_reads_badly(body, failed):
    verdict = check(body, ["Fault tolerance › Retries"])
    assert {name for name, ok in verdict.items() if not ok} == failed


def test_brackets_must_close_in_order():
    assert balanced("a (b [c] d) `e`") and not balanced("a (b]") and not balanced("“open")
    assert DANGLING.match("Outside these cases, it is overkill.")
    assert not DANGLING.match("Retrying with jitter spreads load.")


@pytest.mark.slow  # every eval question through the core
def test_eval_answers_passes_every_check_on_the_bundled_course(cli_redis_env, capsys):
    code, out, err = call(capsys, "eval", "--answers", "--json")
    assert code == 0, err
    report = json.loads(out)[0]
    assert report["answered"] >= 70
    assert all(rate == 1.0 for rate in report["pass_rate"].values()), report["failures"]


def test_a_table_cut_between_two_chunks_is_shown_once_with_every_row(app):
    body = app.assistant.ask(student("is mysql repeatable read safe against lost updates?")).body
    rows = [line for line in body.splitlines() if line.startswith("|")]
    assert len(rows) == len(set(rows)) >= 5  # header, rule and the rows, each once
    assert any("SQL Server" in row for row in rows) and any("PostgreSQL" in row for row in rows)
