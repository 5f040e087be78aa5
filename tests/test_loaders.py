"""Real-world material (issue 15, part 3): Word, PowerPoint, PDF decks, text headings, bad files."""

import json
import re
import shutil
from pathlib import Path

import docx
import pptx
import pytest
from fpdf import FPDF
from pptx.util import Inches

from bot.config import REPO_ROOT, RedisSettings
from bot.retrieval.chunking import chunk_document
from bot.retrieval.loaders import LoadError, load_document
from bot.wiring import Container
from tests.conftest import call

FOREIGN = REPO_ROOT / "tests" / "eval" / "foreign"


def sections_of(path: Path) -> list[str]:
    document = load_document(path)
    chunks = chunk_document(
        document, course="c", path=path.name, source=path, chunk_chars=1000, chunk_overlap=100
    )
    return list(dict.fromkeys(c.section for c in chunks))


def headings(markdown: str) -> list[str]:
    return re.findall(r"^#+ .*$", markdown, flags=re.MULTILINE)


# --- Word ------------------------------------------------------------------------------------


def write_docx(path: Path, title: str = "") -> Path:
    document = docx.Document()
    document.core_properties.title = title
    document.add_paragraph("Queues in Practice", style="Title")
    document.add_heading("Delivery", level=1)
    document.add_paragraph("Brokers redeliver a message until a consumer acknowledges it.")
    document.add_paragraph("Make handlers idempotent", style="List Bullet")
    document.add_paragraph("Store the message id with the result", style="List Bullet 2")
    document.add_paragraph("Park poison messages", style="List Bullet")
    document.add_heading("Setting up a dead-letter queue", level=2)
    document.add_paragraph("Create the queue", style="List Number")
    document.add_paragraph("Point the main queue at it", style="List Number")
    table = document.add_table(rows=3, cols=2)
    for row, values in zip(table.rows, [("Setting", "Value"), ("max receives", "5"),
                                        ("retention | days", "14")], strict=True):  # fmt: skip
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_paragraph("Alarm when the dead-letter queue is not empty.")
    document.save(path)
    return path


def test_docx_headings_lists_and_tables_become_markdown_in_document_order(tmp_path):
    doc = load_document(write_docx(tmp_path / "queues.docx"))

    assert doc.title == "Queues in Practice"  # no core title: the Title paragraph
    assert headings(doc.markdown) == [
        "# Queues in Practice",
        "# Delivery",
        "## Setting up a dead-letter queue",
    ]
    assert (
        "- Make handlers idempotent\n  - Store the message id with the result\n"
        "- Park poison messages" in doc.markdown
    )
    assert (
        "1. Create the queue\n2. Point the main queue at it\n\n| Setting | Value |" in doc.markdown
    )
    assert "|---|---|\n| max receives | 5 |\n| retention \\| days | 14 |\n\n" in doc.markdown
    assert doc.markdown.index("| Setting |") < doc.markdown.index("Alarm when the dead-letter")
    assert sections_of(tmp_path / "queues.docx") == [
        "Delivery",
        "Delivery > Setting up a dead-letter queue",
    ]


def test_docx_title_prefers_core_properties_then_falls_back_to_the_file_name(tmp_path):
    assert load_document(write_docx(tmp_path / "a.docx", "Messaging")).title == "Messaging"
    bare = docx.Document()
    bare.add_paragraph("Only body text here.")
    bare.save(tmp_path / "03-dead-letters.docx")
    assert load_document(tmp_path / "03-dead-letters.docx").title == "Dead letters"


# --- PowerPoint ------------------------------------------------------------------------------


def write_pptx(path: Path) -> Path:
    deck = pptx.Presentation()
    deck.core_properties.title = ""
    slide = deck.slides.add_slide(deck.slide_layouts.get_by_name("Title and Content"))
    slide.shapes.title.text = "Leader Election"
    body = slide.placeholders[1].text_frame
    body.text = "One leader per term"
    sub = body.add_paragraph()
    sub.text, sub.level = "Votes are granted once per term", 1
    slide.notes_slide.notes_text_frame.text = "Draw the term numbers on the board."

    # No title placeholder: the first line of text titles the slide.
    blank = deck.slides.add_slide(deck.slide_layouts.get_by_name("Blank"))
    box = blank.shapes.add_textbox(Inches(1), Inches(1), Inches(6), Inches(2)).text_frame
    box.text = "Timeouts Compared"
    box.add_paragraph().text = "Election timeouts are randomised to avoid split votes."
    rows = [("Timeout", "Typical"), ("heartbeat", "50 ms"), ("election", "150-300 ms")]
    shape = blank.shapes.add_table(3, 2, Inches(1), Inches(3), Inches(6), Inches(2))
    for row, values in zip(shape.table.rows, rows, strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    deck.save(path)
    return path


def test_pptx_slides_become_sections_with_bullets_tables_and_notes(tmp_path):
    path = write_pptx(tmp_path / "raft.pptx")
    doc = load_document(path)

    assert doc.title == "Leader Election"  # no core title: the first slide's
    assert headings(doc.markdown) == ["## Leader Election", "## Timeouts Compared"]
    first, second = doc.markdown.split("## Timeouts Compared")
    assert (
        "- One leader per term\n  - Votes are granted once per term\n\n"
        "Notes: Draw the term numbers on the board." in first
    )
    assert "Election timeouts are randomised to avoid split votes.\n\n" in second
    assert "- Election timeouts" not in second  # a plain text box is not a list
    assert "| Timeout | Typical |\n|---|---|\n| heartbeat | 50 ms |" in second
    assert sections_of(path) == [
        "Leader Election > Leader Election",
        "Leader Election > Timeouts Compared",
    ]


# --- PDF -------------------------------------------------------------------------------------


def test_pdf_pages_are_titled_by_their_first_line_unless_it_is_long(tmp_path):
    pdf = FPDF(orientation="landscape")
    pages = [
        ("Quorum Reads", "- Read from R replicas and write to W, with R + W > N\n- Sloppy quorums"
         " trade this guarantee for availability during a partition"),
        ("A first line that runs on and on, far longer than any slide title would ever be in"
         " practice", "so it is text."),
        ("- A page that opens with a bullet", "- and goes on with another"),
    ]  # fmt: skip
    for first, rest in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=14)
        pdf.multi_cell(0, 8, f"{first}\n{rest}")
    pdf.set_title("Replication deck")
    path = tmp_path / "deck.pdf"
    pdf.output(str(path))

    doc = load_document(path)

    assert headings(doc.markdown) == ["## Quorum Reads", "## Page 2", "## Page 3"]
    # A bullet the page wrapped is one line again.
    assert (
        "- Sloppy quorums trade this guarantee for availability during a partition\n"
        in doc.markdown + "\n"
    )
    assert sections_of(path) == [
        "Replication deck > Quorum Reads",
        "Replication deck > Page 2",
        "Replication deck > Page 3",
    ]


# --- Plain text ------------------------------------------------------------------------------

NOTES = """\
Caching Basics

Read this before Friday.

Why Cache at All
Reads are cheap when they come from memory.

🔥 Hot keys
One key can take most of the traffic.

This part is short

| Layer | Hit ratio |
|---|---|
| CDN | 90% |

WRITE POLICIES
Write-through updates the cache and the store together.

- Key Takeaways
- Invalidate Early

Key Takeaways
- Cache what is read often.
The Title Case Line Inside a Paragraph
stays text.
"""


def test_txt_headings_are_detected_and_ordinary_lines_are_not(tmp_path):
    path = tmp_path / "caching.txt"
    path.write_text(NOTES)
    doc = load_document(path)

    assert doc.title == "Caching Basics"
    assert headings(doc.markdown) == [
        "## Why Cache at All",
        "## 🔥 Hot keys",
        "## WRITE POLICIES",
        "## Key Takeaways",
    ]
    assert "This part is short\n\n| Layer |" in doc.markdown
    assert "Caching Basics" not in doc.markdown  # it became the title, not a duplicate line
    assert sections_of(path)[:2] == ["Caching Basics", "Caching Basics > Why Cache at All"]


def test_a_txt_file_of_one_sentence_keeps_its_file_name_title(tmp_path):
    path = tmp_path / "queues.txt"
    path.write_text("Park messages that keep failing.")
    assert (load_document(path).title, load_document(path).markdown) == (
        "Queues",
        "Park messages that keep failing.",
    )


# --- The foreign eval course -----------------------------------------------------------------


def test_the_generated_binaries_hold_what_their_json_specs_say():
    slides = json.loads((FOREIGN / "slides.json").read_text())
    pdf = load_document(FOREIGN / "course" / "slides.pdf")
    assert pdf.title == slides["title"]
    assert headings(pdf.markdown) == [f"## {s['title']}" for s in slides["slides"]]
    assert all(f"- {b}\n" in pdf.markdown + "\n" for s in slides["slides"] for b in s["bullets"])

    handout = json.loads((FOREIGN / "handout.json").read_text())
    word = load_document(FOREIGN / "course" / "handout.docx")
    assert word.title == handout["title"]
    assert headings(word.markdown) == [f"# {handout['title']}"] + [
        "#" * b["level"] + " " + b["heading"] for b in handout["blocks"] if "heading" in b
    ]
    assert "| Root causes and trigger | The underlying weaknesses" in word.markdown

    deck = json.loads((FOREIGN / "deck.json").read_text())
    slides_md = load_document(FOREIGN / "course" / "deck.pptx")
    assert headings(slides_md.markdown) == [f"## {s['title']}" for s in deck["slides"]]
    notes = [s["notes"] for s in deck["slides"] if "notes" in s]
    assert all(f"Notes: {n}" in slides_md.markdown for n in notes) and len(notes) == 5


# --- Bad input, through ingest ---------------------------------------------------------------


@pytest.fixture
def messy_course(tmp_path):
    """Good Word, PowerPoint, PDF and text files next to broken ones."""
    folder = tmp_path / "messy"
    folder.mkdir()
    write_docx(folder / "queues.docx")
    write_pptx(folder / "raft.pptx")
    shutil.copy(FOREIGN / "course" / "slides.pdf", folder / "slides.pdf")
    (folder / "notes.txt").write_text(NOTES)
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 this zip stops here")
    (folder / "broken.pptx").write_bytes((folder / "raft.pptx").read_bytes()[:4000])
    (folder / "broken.pdf").write_bytes((FOREIGN / "course" / "slides.pdf").read_bytes()[:2000])
    (folder / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "huge.txt").write_text("Replicas agree on a value.\n" * 60_000)  # 1.55 MiB
    return folder


def test_ingest_skips_broken_huge_and_binary_files_by_name_and_indexes_the_rest(
    monkeypatch, make_settings, capsys, messy_course
):
    settings = make_settings()
    monkeypatch.setenv("STUDYBOT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("STUDYBOT_MODELS_PATH", str(settings.models_dir))
    monkeypatch.setenv("STUDYBOT_RETRIEVAL__MAX_FILE_MB", "1")

    code, out, err = call(capsys, "ingest", str(messy_course), "--course", "messy")

    assert code == 2
    skipped = dict(re.findall(r"skipped \S*/(\S+): (.*)", err))
    assert skipped == {
        "broken.docx": "unreadable Word file (BadZipFile)",
        "broken.pdf": "unreadable PDF (PdfStreamError)",
        "broken.pptx": "unreadable PowerPoint file (BadZipFile)",
        "huge.txt": "too large (1.6 MiB; limit 1 MiB)",
        "image.txt": "binary file, not text",
    }
    assert "messy: 4 files," in out
    code, out, _ = call(capsys, "search", "randomised election timeout split votes",
                        "--course", "messy", "--json")  # fmt: skip
    assert code == 0 and json.loads(out)[0]["section"] == "Leader Election > Timeouts Compared"


def test_the_size_limit_is_a_setting(make_settings, redis_url, redis_prefix, tmp_path):
    big = tmp_path / "course" / "big.txt"
    big.parent.mkdir()
    big.write_text("Leases bound how long a leader acts alone.\n" * 40_000)  # 1.7 MiB
    settings = make_settings(
        retrieval={"max_file_mb": 1}, redis=RedisSettings(url=redis_url, key_prefix=redis_prefix)
    )

    report = Container(settings).ingestor.ingest([big.parent], "big")

    assert report.skipped == [(str(big), "too large (1.7 MiB; limit 1 MiB)")]
    assert load_document(big, max_file_mb=2).title == "Big"
    with pytest.raises(LoadError, match=r"too large \(1.7 MiB; limit 1 MiB\)"):
        load_document(big, max_file_mb=1)
