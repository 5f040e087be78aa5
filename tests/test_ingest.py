import numpy as np
import pytest

from bot.wiring import Container

COURSE = "mini"


@pytest.fixture
def container(make_settings, redis_url, redis_prefix):
    from bot.config import RedisSettings

    # The test Redis: an embedded server would outlive the test.
    return Container(make_settings(redis=RedisSettings(url=redis_url, key_prefix=redis_prefix)))


def sections(container: Container) -> set[str]:
    return {c.section for c in container.index.chunks(COURSE)}


def test_first_ingest_adds_every_chunk_with_metadata(container, course_dir):
    report = container.ingestor.ingest([course_dir], COURSE)
    assert (report.files, report.added, report.updated, report.removed) == (2, 5, 0, 0)
    assert report.chunks == container.index.count(COURSE) == 5
    chunk = next(c for c in container.index.chunks(COURSE) if "jitter" in c.section.lower())
    assert chunk.path == "06-fault-tolerance.md"
    assert chunk.section == "Resilience notes > Backoff with jitter"
    assert (chunk.title, chunk.lesson, chunk.concepts) == (
        "Resilience notes",
        "Test lesson",
        ("fault-tolerance",),
    )
    assert len(chunk.content_hash) == 32


def test_reingest_of_unchanged_files_embeds_nothing(container, course_dir):
    container.ingestor.ingest([course_dir], COURSE)
    version = container.index.version(COURSE)
    report = container.ingestor.ingest([course_dir], COURSE)
    assert (report.embedded, report.removed, report.unchanged) == (0, 0, 5)
    assert container.index.version(COURSE) == version


def test_edit_add_and_delete_are_applied_incrementally(container, course_dir):
    container.ingestor.ingest([course_dir], COURSE)
    cap = course_dir / "01-cap.md"
    cap.write_text(cap.read_text().replace("Payment balances refuse", "Bank balances refuse"))
    (course_dir / "06-fault-tolerance.md").unlink()
    (course_dir / "sub").mkdir()
    (course_dir / "sub" / "queues.txt").write_text("Park messages that keep failing.")

    report = container.ingestor.ingest([course_dir], COURSE)

    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 2, 2)
    assert sections(container) == {
        "CAP notes",
        "CAP notes > Partitions force a choice",
        "CAP notes > Per data type",
        "Queues",
    }
    texts = " ".join(c.text for c in container.index.chunks(COURSE))
    assert "Bank balances refuse" in texts and "Payment balances" not in texts
    assert {c.path for c in container.index.chunks(COURSE)} == {"01-cap.md", "sub/queues.txt"}


def test_unreadable_file_is_skipped_and_reported_and_keeps_its_old_chunks(container, course_dir):
    container.ingestor.ingest([course_dir], COURSE)
    (course_dir / "06-fault-tolerance.md").write_bytes(b"\xff\xfe\x00binary\x00")
    (course_dir / "02-new.md").write_text("# New\n\nFresh material.")

    report = container.ingestor.ingest([course_dir], COURSE)

    assert [reason for _, reason in report.skipped] == ["binary file, not text"]
    assert report.skipped[0][0].endswith("06-fault-tolerance.md")
    assert report.added == 1 and report.removed == 0
    assert "Resilience notes > Backoff with jitter" in sections(container)
    assert "New" in sections(container)


def test_ingesting_one_file_leaves_the_rest_of_the_course_alone(container, course_dir):
    container.ingestor.ingest([course_dir], COURSE)
    report = container.ingestor.ingest([course_dir / "01-cap.md"], COURSE)
    assert (report.embedded, report.removed) == (0, 0)
    assert container.index.count(COURSE) == 5


def test_interrupted_ingest_leaves_a_usable_index_and_the_next_run_finishes(
    make_settings, course_dir
):
    container = Container(make_settings(retrieval={"chunk_chars": 1000}))
    container.ingestor.ingest([course_dir], COURSE)
    for i in range(150):
        (course_dir / f"extra-{i:03}.md").write_text(f"# Extra {i}\n\nQuorum note number {i}.")
    (course_dir / "06-fault-tolerance.md").unlink()

    real_embed = container.embedder.embed
    calls = {"n": 0}

    def embed_then_die(texts):
        calls["n"] += 1
        if calls["n"] == 2:  # a step embeds its chunks and their sentences in one call
            raise KeyboardInterrupt  # what Ctrl-C or a kill does to the run
        return real_embed(texts)

    container.embedder.embed = embed_then_die
    with pytest.raises(KeyboardInterrupt):
        container.ingestor.ingest([course_dir], COURSE)
    container.embedder.embed = real_embed

    # The old chunks are all still there (deletes come last) and search works.
    assert "Resilience notes > Backoff with jitter" in sections(container)
    result = container.searcher.search("why randomise retry waits", COURSE)
    assert result.passages

    report = container.ingestor.ingest([course_dir], COURSE)
    assert report.removed == 2
    assert container.index.count(COURSE) == 3 + 150
    assert report.added == 150 - 64


def test_embeddings_stored_are_the_models(container, course_dir):
    container.ingestor.ingest([course_dir], COURSE)
    chunk = next(iter(container.index.chunks(COURSE)))
    hits = container.index.query(COURSE, container.embedder.embed([chunk.embedding_text])[0], 1)
    assert hits[0][0] == chunk.id
    assert hits[0][1] == pytest.approx(1.0, abs=1e-3)
    assert np.isclose(np.linalg.norm(container.embedder.embed_query("x")), 1.0)


def test_sentences_are_embedded_at_ingest_so_an_answer_embeds_only_the_question(
    container, course_dir
):
    from bot.core.models import Address, Incoming

    container.ingestor.ingest([course_dir], COURSE)
    container.intents.predict("warm up")  # its examples are embedded once per process
    embedded: list[list[str]] = []
    real_embed = container.embedder.embed
    container.embedder.embed = lambda texts: embedded.append(list(texts)) or real_embed(texts)
    question = "why add random jitter to retry delays"
    reply = container.assistant.ask(Incoming(Address("t", "x", "c"), "U1", question, "t", COURSE))
    assert reply.mode == "extractive" and reply.answer
    assert embedded == [[question]]


def test_an_index_without_sentence_vectors_gets_them_on_the_next_ingest(container, course_dir):
    container.ingestor.ingest([course_dir], COURSE)
    chunks = list(container.index.chunks(COURSE))
    # What an index written before sentence vectors were stored looks like.
    container.index._collection(COURSE).update(
        ids=[c.id for c in chunks], metadatas=[{"sentence_vectors": None} for _ in chunks]
    )
    assert all(v is None for _, v in container.index.records(COURSE))

    report = container.ingestor.ingest([course_dir], COURSE)
    assert (report.updated, report.unchanged) == (5, 0)
    records = list(container.index.records(COURSE))
    assert all(v is not None and v.shape[1] == 384 for _, v in records)
    again = container.ingestor.ingest([course_dir], COURSE)
    assert again.embedded == 0


def test_a_many_step_ingest_stores_for_each_text_the_vector_it_gets_alone(
    container, course_dir, monkeypatch
):
    from bot.retrieval.chunking import split_sentences

    # Enough chunks for several embed steps; texts of many lengths, so the embedder reorders
    # them, and one sentence repeated in every file, so it is embedded once for all of them.
    shared = "Every replica applies the same log in the same order."
    for i in range(80):
        body = " ".join(f"Replica {i} stores {j} entries of the quorum log." for j in range(i % 9))
        (course_dir / f"extra-{i:03}.md").write_text(f"# Extra {i}\n\n{shared} {body}")
    steps: list[tuple[int, int]] = []
    embedded: list[str] = []
    embed = container.embedder.embed
    monkeypatch.setattr(
        container.embedder, "embed", lambda texts: embedded.extend(texts) or embed(texts)
    )

    report = container.ingestor.ingest([course_dir], COURSE, lambda *step: steps.append(step))

    assert report.added == report.chunks == 85
    # Progress comes in steps while the run goes on, and ends at every chunk embedded.
    assert len(steps) > 1 and steps[-1] == (85, 85)
    assert [done for done, _ in steps] == sorted({done for done, _ in steps})
    assert embedded.count(shared) == 1 and len(embedded) == len(set(embedded))
    records = list(container.index.records(COURSE))
    assert len(records) == 85
    stored = container.index.embeddings(COURSE, [chunk.id for chunk, _ in records])
    for (chunk, sentence_vectors), vector in zip(records, stored, strict=True):
        assert float(vector @ embed([chunk.embedding_text])[0]) > 0.99999
        sentences = split_sentences(chunk.text)
        assert sentence_vectors is not None and len(sentence_vectors) == len(sentences)
        for got, text in zip(sentence_vectors, sentences, strict=True):
            assert float(got @ embed([text])[0]) > 0.99999, text


def test_a_chunk_indexed_by_an_older_splitter_gets_its_units_on_the_next_ingest(
    container, course_dir
):
    container.ingestor.ingest([course_dir], COURSE)
    chunk, units = next((c, v) for c, v in container.index.records(COURSE) if len(v) > 1)
    # as an earlier splitter would have stored it: fewer units than the text has today
    vector = container.embedder.embed([chunk.text])
    container.index.upsert(COURSE, [chunk], vector, [units[:1]])

    report = container.ingestor.ingest([course_dir], COURSE)

    assert (report.updated, report.unchanged) == (1, 4)
    stored = dict((c.id, v) for c, v in container.index.records(COURSE))
    assert len(stored[chunk.id]) == len(units)
