import shutil

import pytest

from bot.wiring import Container
from tests.conftest import COURSE

# Student phrasings (not the headings' words) and the section that must rank first.
RANKED_FIRST = [
    ("why add randomness to retry delays", "Retries with exponential backoff and jitter"),
    ("what happens if three services all retry immediately 3 times", "Retry storm"),
    ("when should the breaker stop sending calls to a failing service", "Circuit breaker"),
    ("how does raft pick a new leader when the old one dies", "leader election"),
    ("two nodes both think they are the leader and both accept writes", "Split brain"),
    ("stop an old lock holder that woke up from a GC pause from writing", "Fencing token"),
    ("my consumer got the same payment event twice", "idempotent consumers"),
    ("where do messages go that fail processing over and over", "Dead letter queue"),
    ("should account balances stay available during a network split", "Payments"),
    ("during a partition should the news feed keep showing posts or error out", "News feeds"),
    (
        "after I update something how do I make sure I see my own change right away",
        "Read-your-writes",
    ),
    ("what does PACELC add to CAP", "PACELC"),
    ("W plus R greater than N quorum reads", "quorum"),
    ("one celebrity account overloads a single shard", "Hot keys"),
]


@pytest.mark.parametrize(("question", "expected"), RANKED_FIRST)
def test_known_questions_rank_the_right_section_first(indexed, question, expected):
    result = indexed.searcher.search(question, COURSE)
    assert result.in_scope
    top = [p.chunk.section for p in result.passages]
    assert expected.lower() in top[0].lower(), top[:3]


@pytest.mark.parametrize(
    "question",
    ["what's a good recipe for lasagna", "who painted the mona lisa", "best running shoes 2026"],
)
def test_off_topic_questions_abstain(indexed, question):
    assert not indexed.searcher.search(question, COURSE).in_scope


def test_results_are_one_per_section_best_first_with_scores_in_range(indexed):
    result = indexed.searcher.search("circuit breaker half-open probe", COURSE, k=8)
    keys = [(p.chunk.path, p.chunk.section) for p in result.passages]
    assert len(keys) == len(set(keys)) == 8
    scores = [p.score for p in result.passages]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s <= 1 for s in scores)
    source = result.passages[0].to_source()
    assert set(source) == {"path", "title", "section", "concept", "score", "text"}
    assert source["concept"] == "fault-tolerance"


def test_each_mode_returns_a_ranking(indexed):
    for mode in ("hybrid", "dense", "bm25"):
        result = indexed.searcher.search("fencing tokens and leases", COURSE, mode=mode)
        assert "Fencing" in result.passages[0].chunk.section, mode


def test_a_query_with_no_known_words_still_gets_a_dense_ranking(indexed):
    result = indexed.searcher.search("zyxwv qwert", COURSE)
    assert not result.in_scope
    assert result.passages  # dense side always ranks something; the caller abstains


def test_courses_never_see_each_others_chunks(
    make_settings, course_dir, indexed_data_dir, tmp_path
):
    # The full course is already in the session's index: copy it, add a second course.
    data_dir = shutil.copytree(indexed_data_dir, tmp_path / "data")
    container = Container(make_settings(data_dir=data_dir))
    container.ingestor.ingest([course_dir], "mini")
    mini = container.searcher.search("Raft leader election terms", "mini", k=10)
    assert {p.chunk.course for p in mini.passages} == {"mini"}
    assert all(p.chunk.path in {"01-cap.md", "06-fault-tolerance.md"} for p in mini.passages)
    full = container.searcher.search("backoff with jitter", COURSE, k=10)
    assert {p.chunk.course for p in full.passages} == {COURSE}


def test_searcher_sees_a_new_ingest_without_restart(make_settings, course_dir):
    container = Container(make_settings())
    container.ingestor.ingest([course_dir], "mini")
    assert "Sagas" not in str(container.searcher.search("saga compensation", "mini").passages)
    (course_dir / "sagas.md").write_text("# Sagas\n\nCompensate each step of a saga.")
    other = Container(container.settings)  # another process's ingest, same store
    other.ingestor.ingest([course_dir], "mini")
    container.searcher.REFRESH_SECONDS = 0
    top = container.searcher.search("saga compensation", "mini").passages[0]
    assert top.chunk.section == "Sagas"
