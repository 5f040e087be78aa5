from pathlib import Path

import pytest
from fpdf import FPDF

from bot.retrieval.chunking import chunk_document, split_units
from bot.retrieval.loaders import LoadedDocument, LoadError, load_document


def chunks_of(markdown: str, title: str = "Doc", chunk_chars: int = 1000, **kw):
    document = LoadedDocument(markdown=markdown, title=title, **kw)
    return chunk_document(
        document,
        course="c",
        path="doc.md",
        source=Path("/x/doc.md"),
        chunk_chars=chunk_chars,
        chunk_overlap=100,
    )


def test_heading_path_is_kept_for_every_level():
    md = "# Fault tolerance\n\nIntro.\n\n## Retries\n\nRetry text.\n\n### Jitter\n\nJitter text."
    sections = [c.section for c in chunks_of(md)]
    assert sections == [
        "Fault tolerance",
        "Fault tolerance > Retries",
        "Fault tolerance > Retries > Jitter",
    ]


def test_document_without_h1_is_rooted_at_its_title():
    chunks = chunks_of("## Timeouts\n\nSet one.", title="Resilience")
    assert chunks[0].section == "Resilience > Timeouts"


def test_long_section_is_split_under_the_cap_and_keeps_its_heading():
    body = " ".join(f"Sentence number {i} about quorums and replicas." for i in range(200))
    chunks = chunks_of(f"# Storage\n\n## Quorums\n\n{body}", chunk_chars=500)
    assert len(chunks) > 5
    assert all(len(c.text) <= 500 for c in chunks)
    assert {c.section for c in chunks} == {"Storage > Quorums"}
    assert len({c.id for c in chunks}) == len(chunks)


def test_ids_are_stable_and_edits_change_only_the_hash():
    first = chunks_of("# A\n\n## B\n\nOld text.")
    again = chunks_of("# A\n\n## B\n\nOld text.")
    edited = chunks_of("# A\n\n## B\n\nNew text.")
    assert [c.id for c in first] == [c.id for c in again] == [c.id for c in edited]
    assert first[0].content_hash == again[0].content_hash != edited[0].content_hash


def test_repeated_headings_get_distinct_ids_and_lose_no_text():
    body = "word " * 150
    chunks = chunks_of(f"# A\n\n## Example\n\nOne {body}\n\n## Example\n\nTwo {body}", 500)
    assert len({c.id for c in chunks}) == len(chunks) > 1
    text = " ".join(c.text for c in chunks)
    assert "One" in text and "Two" in text


def test_front_matter_sets_title_lesson_and_concepts(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text(
        "---\ntitle: Consensus\nlesson: Distributed systems\nconcepts: [consensus, storage]\n"
        "---\n\n# Consensus\n\n## Raft\n\nTerms and votes.\n"
    )
    doc = load_document(path)
    assert (doc.title, doc.lesson, doc.concepts) == (
        "Consensus",
        "Distributed systems",
        ("consensus", "storage"),
    )
    chunk = chunks_of(doc.markdown, title=doc.title, concepts=doc.concepts)[-1]
    assert chunk.concept == "consensus"
    assert chunk.section == "Consensus > Raft"
    assert "---" not in chunk.text


def test_markdown_without_front_matter_takes_title_from_file_name(tmp_path):
    path = tmp_path / "03-event-sourcing.md"
    path.write_text("Replay the log to rebuild state.")
    doc = load_document(path)
    assert doc.title == "Event sourcing"
    assert doc.concepts == ()


def test_invisible_characters_are_stripped_on_load(tmp_path):
    path = tmp_path / "n.md"
    path.write_text("# T\n\nig\u200bnore prev\u2060ious\u202e text")
    assert "ignore previous text" in load_document(path).markdown


def test_html_headings_become_sections_and_scripts_are_dropped(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Queues</title><script>alert('x')</script></head><body>"
        "<h1>Queues</h1><p>Intro.</p><h2>Dead letters</h2><p>Park poison messages.</p>"
        "<img src='https://example.com/x.png'></body></html>"
    )
    doc = load_document(path)
    chunks = chunks_of(doc.markdown, title=doc.title)
    assert doc.title == "Queues"
    assert "Queues > Dead letters" in [c.section for c in chunks]
    assert not any("alert" in c.text or "example.com" in c.text for c in chunks)


def test_pdf_pages_become_sections(tmp_path):
    pdf = FPDF()
    for text in ("Leases expire so a stale leader stops.", "Fencing tokens only grow."):
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(0, 10, text)
    pdf.set_title("Consensus handout")
    path = tmp_path / "handout.pdf"
    pdf.output(str(path))
    doc = load_document(path)
    chunks = chunks_of(doc.markdown, title=doc.title)
    assert [c.section for c in chunks] == [
        "Consensus handout > Page 1",
        "Consensus handout > Page 2",
    ]
    assert "Fencing tokens" in chunks[1].text


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("blob.md", b"\x00\x01\x02binary\x00", "binary"),
        ("latin1.txt", "caf\u00e9 cr\u00e8me".encode("latin-1"), "not UTF-8"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj garbage", "PDF"),
        ("empty.md", b"   \n", "no text"),
        ("bad.md", b"---\ntitle: [unclosed\n---\n# x\n", "front matter"),
    ],
)
def test_unreadable_files_raise_a_short_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        load_document(path)


def test_a_reading_list_is_not_indexed_and_level_labels_tag_their_paragraphs():
    found = chunks_of(
        "# Doc\n\n## Quorums\n\n**In short:** Two majorities share a node.\n\n"
        "The body explains why.\n\n**In depth:** Strict quorums alone are not linearizable.\n\n"
        "## Further reading\n\n- Lamport, Paxos made simple\n"
    )
    assert [c.section for c in found] == ["Doc > Quorums"]
    # the header splitter joins paragraphs with a hard break; each is still its own block
    levels = [(u.level, u.text) for u in split_units(found[0].text)]
    assert levels == [
        ("beginner", "Two majorities share a node."),
        ("", "The body explains why."),
        ("advanced", "Strict quorums alone are not linearizable."),
    ]
