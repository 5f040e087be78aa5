"""An instructor's own files (tests/eval/foreign/course): answered, cited, and abstaining well."""

import pytest

from bot.answers_eval import evaluate_answers
from bot.config import REPO_ROOT, RedisSettings, Settings
from bot.core.text import clean_query
from bot.retrieval.evaluation import evaluate, load_questions
from bot.wiring import Container
from tests.conftest import student

FOREIGN = REPO_ROOT / "tests" / "eval" / "foreign"
COURSE = "foreign"


@pytest.fixture(scope="module")
def foreign_data_dir(tmp_path_factory, models_dir):
    """A data dir holding only the foreign course: a .txt, HTML, PDF, Word and PowerPoint."""
    data_dir = tmp_path_factory.mktemp("foreign")
    container = Container(Settings(data_dir=data_dir, models_path=models_dir))
    report = container.ingestor.ingest([FOREIGN / "course"], COURSE)
    assert (report.files, report.skipped) == (5, [])
    return data_dir


@pytest.fixture
def foreign(foreign_data_dir, models_dir, redis_url, redis_prefix):
    return Container(
        Settings(
            data_dir=foreign_data_dir,
            models_path=models_dir,
            redis=RedisSettings(url=redis_url, key_prefix=redis_prefix),
        )
    )


def test_a_course_without_concept_labels_answers_from_its_takeaways(foreign):
    reply = foreign.assistant.ask(
        student("What is the most common failure, according to the takeaways?", course=COURSE)
    )
    assert reply.in_scope and reply.concept is None
    assert "error budget" in reply.body.lower()
    assert any(c.startswith("Site Reliability Basics › Key Takeaways") for c in reply.citations)


def test_a_question_about_one_table_row_is_answered_with_the_whole_table(foreign):
    # lesson.txt puts its pipe table right under "Here is how ... targets:", no blank line
    reply = foreign.assistant.ask(
        student("what availability target does the login service get?", course=COURSE)
    )
    assert "set its targets:\n| Service | Availability SLO |" in reply.body
    assert "| Login service | 99.9% |" in reply.body and "| Internal wiki | 98% |" in reply.body
    assert reply.citations[0] == "Site Reliability Basics › Choosing Targets Per Service"


def test_a_question_whose_words_one_chunk_holds_stays_in_scope_when_the_embedding_doubts(
    foreign,
):
    settings = foreign.settings.retrieval
    result = foreign.searcher.search(clean_query("what does N+2 mean", 4000), COURSE)
    assert result.best_similarity < settings.min_similarity
    assert result.best_coverage >= settings.min_coverage and result.in_scope
    off_topic = foreign.searcher.search(clean_query("how do I bake sourdough bread", 4000), COURSE)
    assert not off_topic.in_scope


@pytest.mark.slow  # every foreign eval question, three retrieval modes
def test_the_foreign_course_meets_the_retrieval_and_abstention_targets(foreign):
    settings = foreign.settings.retrieval
    questions = load_questions(FOREIGN / "questions.jsonl")
    report = evaluate(
        foreign.searcher, questions, COURSE, settings.min_similarity, settings.min_coverage
    )
    assert report.overall["hybrid"].recall(5) >= 0.90
    wrong = report.off_topic - report.off_topic_abstained + len(report.in_scope_abstained)
    assert 1 - wrong / len(questions) >= 0.90


@pytest.mark.slow  # every foreign eval question through the core
def test_every_composed_answer_on_the_foreign_course_reads_as_a_whole(foreign):
    report = evaluate_answers(foreign.assistant, FOREIGN / "questions.jsonl", COURSE)
    assert report.answered >= 25
    assert not report.failures, report.failures
