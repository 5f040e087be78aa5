"""Write slides.pdf, handout.docx and deck.pptx from their JSON content specs, byte for byte.

Run from the repository root: `.venv/bin/python tests/eval/foreign/build_binaries.py`.
Needs fpdf2 (the dev extra), python-docx and python-pptx. The output depends only on the
JSON and the library versions: fixed dates in the metadata, fixed timestamps in the zips.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
WHEN = datetime(2024, 9, 2, 9, 0, tzinfo=UTC)
AUTHOR = "studybot eval (issue 15)"
# Typography a core PDF font (Latin-1) cannot encode, and what stands in for it.
_PLAIN = {"\u2014": "-", "\u2013": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"',
          "\u201d": '"', "\u2026": "...", "\u2022": "-", "\u2192": "->"}  # fmt: skip


def latin1(text: str) -> str:
    """Text a core font can print: known typography replaced, anything else as '?'."""
    text = "".join(_PLAIN.get(ch, ch) for ch in text)
    return text.encode("latin-1", "replace").decode("latin-1")


def build_pdf(spec: dict, target: Path) -> None:
    """A 16:9 slide deck, one slide per page: a bold title, then its bullets."""
    from fpdf import FPDF

    pdf = FPDF(orientation="landscape", unit="pt", format=(540, 960))
    pdf.set_margins(48, 40, 48)
    pdf.set_auto_page_break(False)
    pdf.set_title(latin1(spec["title"]))
    pdf.set_author(AUTHOR)
    pdf.set_creation_date(WHEN)
    for slide in spec["slides"]:
        pdf.add_page()
        pdf.set_font("Helvetica", style="B", size=30)
        pdf.multi_cell(0, 38, latin1(slide["title"]))
        pdf.ln(18)
        pdf.set_font("Helvetica", size=20)
        for bullet in slide["bullets"]:
            pdf.multi_cell(0, 26, latin1(f"- {bullet}"))
            pdf.ln(10)
    pdf.output(str(target))


def build_docx(spec: dict, target: Path) -> None:
    """A Word handout: a Title paragraph, Heading 1/2, body paragraphs, List Bullet, a table."""
    import docx

    document = docx.Document()
    document.add_paragraph(spec["title"], style="Title")
    for block in spec["blocks"]:
        if "heading" in block:
            document.add_heading(block["heading"], level=block["level"])
        elif "paragraph" in block:
            document.add_paragraph(block["paragraph"])
        elif "bullets" in block:
            for item in block["bullets"]:
                document.add_paragraph(item, style="List Bullet")
        elif "table" in block:
            header, *rows = block["table"]
            table = document.add_table(rows=0, cols=len(header), style="Table Grid")
            for values in (header, *rows):
                for cell, value in zip(table.add_row().cells, values, strict=True):
                    cell.text = value
            for cell in table.rows[0].cells:
                cell.paragraphs[0].runs[0].bold = True
        else:
            raise ValueError(f"unknown block: {sorted(block)}")
    _set_core(document.core_properties, spec["title"])
    buffer = io.BytesIO()
    document.save(buffer)
    target.write_bytes(_fixed_zip(buffer.getvalue()))


def build_pptx(spec: dict, target: Path) -> None:
    """A 16:9 PowerPoint deck: Title and Content slides, bullets in the body, speaker notes."""
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    deck.slide_width, deck.slide_height = Inches(13.333), Inches(7.5)
    layout = deck.slide_layouts.get_by_name("Title and Content")
    for spec_slide in spec["slides"]:
        slide = deck.slides.add_slide(layout)
        slide.shapes.title.text = spec_slide["title"]
        body = slide.placeholders[1]
        body.left, body.top, body.width, body.height = (
            Inches(0.6), Inches(1.6), Inches(12.1), Inches(5.4),
        )  # fmt: skip
        body.text_frame.text = spec_slide["bullets"][0]
        for bullet in spec_slide["bullets"][1:]:
            body.text_frame.add_paragraph().text = bullet
        if spec_slide.get("notes"):
            slide.notes_slide.notes_text_frame.text = spec_slide["notes"]
    _set_core(deck.core_properties, spec["title"])
    buffer = io.BytesIO()
    deck.save(buffer)
    target.write_bytes(_fixed_zip(buffer.getvalue()))


def _set_core(props: object, title: str) -> None:
    """Title, author and fixed dates in a docx or pptx CoreProperties."""
    props.title = title
    props.author = props.last_modified_by = AUTHOR
    props.created = props.modified = WHEN.replace(tzinfo=None)
    props.revision = 1


def _fixed_zip(data: bytes) -> bytes:
    """The same Office zip with every entry's timestamp fixed, so a rebuild is identical."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            target.writestr(fixed, source.read(entry))
    return out.getvalue()


def main(folder: Path = HERE) -> None:
    """Build the three files into the course folder beside their specs; say what was written."""
    builds = {"slides": ("pdf", build_pdf), "handout": ("docx", build_docx),
              "deck": ("pptx", build_pptx)}  # fmt: skip
    for name, (suffix, build) in builds.items():
        spec = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        target = folder / "course" / f"{name}.{suffix}"
        build(spec, target)
        print(f"wrote {target} ({target.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
