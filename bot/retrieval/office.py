"""Read Word (.docx) and PowerPoint (.pptx) files into Markdown: headings, lists, tables."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

from bot.core.text import clean_text
from bot.retrieval.loaders import LoadedDocument, LoadError

_HEADING_STYLE = re.compile(r"(?:heading (\d)|title)$", re.IGNORECASE)
_LIST_STYLE = re.compile(r"list (bullet|number)(?: (\d))?$", re.IGNORECASE)
# What a corrupt or mislabelled Office file raises inside python-docx / python-pptx.
_BROKEN = (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError, SyntaxError)


def pipe_table(rows: Iterable[Iterable[str]]) -> str:
    """A Markdown pipe table; the first row is the header."""
    cells = [
        [" ".join(clean_text(cell).split()).replace("|", "\\|") for cell in row] for row in rows
    ]
    cells = [row for row in cells if any(row)]
    if not cells:
        return ""
    width = max(len(row) for row in cells)
    lines = ["| " + " | ".join(row + [""] * (width - len(row))) + " |" for row in cells]
    lines.insert(1, "|" + "---|" * width)
    return "\n".join(lines)


def _join(blocks: list[tuple[str, str]]) -> str:
    """Blocks as (kind, text): list items stay on consecutive lines, the rest are paragraphs."""
    out: list[str] = []
    for number, (kind, text) in enumerate(blocks):
        if number:
            out.append("\n" if kind == "item" and blocks[number - 1][0] == "item" else "\n\n")
        out.append(text)
    return clean_text("".join(out))


def load_docx(data: bytes, fallback_title: str) -> LoadedDocument:
    """A Word file: Heading/Title styles as headings, list styles as items, tables in place."""
    import docx
    from docx.opc.exceptions import OpcError
    from lxml.etree import LxmlError

    try:
        document = docx.Document(io.BytesIO(data))
        blocks, first_heading = _docx_blocks(document.iter_inner_content())
        title = document.core_properties.title or first_heading or fallback_title
    except (*_BROKEN, OpcError, LxmlError) as exc:
        raise LoadError(f"unreadable Word file ({type(exc).__name__})") from exc
    return LoadedDocument(markdown=_join(blocks), title=clean_text(title).strip())


def _docx_blocks(items: Iterator[Any]) -> tuple[list[tuple[str, str]], str]:
    from docx.table import Table

    blocks: list[tuple[str, str]] = []
    first_heading = ""
    numbers: dict[int, int] = {}  # a numbered list's next number, per level
    for item in items:
        if isinstance(item, Table):
            blocks.append(("table", pipe_table([c.text for c in r.cells] for r in item.rows)))
            numbers = {}
            continue
        text = " ".join(item.text.split())
        if not text:
            continue
        style = item.style.name if item.style is not None else ""
        heading, listed = _HEADING_STYLE.match(style), _LIST_STYLE.match(style)
        if listed or (item._p.pPr is not None and item._p.pPr.numPr is not None):
            level = int(listed[2]) - 1 if listed and listed[2] else _numbering_level(item)
            marker = "-"
            if listed and listed[1].lower() == "number":
                numbers = {k: v for k, v in numbers.items() if k <= level}
                numbers[level] = numbers.get(level, 0) + 1
                marker = f"{numbers[level]}."
            blocks.append(("item", "  " * level + f"{marker} {text}"))
            continue
        numbers = {}
        if heading:
            first_heading = first_heading or (text if heading[1] in (None, "1") else "")
            blocks.append(("heading", "#" * min(int(heading[1] or 1), 4) + " " + text))
        else:
            blocks.append(("paragraph", text))
    return blocks, first_heading


def _numbering_level(paragraph: Any) -> int:
    num = paragraph._p.pPr.numPr if paragraph._p.pPr is not None else None
    return int(num.ilvl.val) if num is not None and num.ilvl is not None else 0


def load_pptx(data: bytes, fallback_title: str) -> LoadedDocument:
    """A PowerPoint deck: a `##` section per slide, its text, tables and speaker notes."""
    import pptx
    from lxml.etree import LxmlError
    from pptx.exc import PythonPptxError

    try:
        deck = pptx.Presentation(io.BytesIO(data))
        slides = [_slide(slide, number) for number, slide in enumerate(deck.slides, start=1)]
        title = deck.core_properties.title or (slides[0][0] if slides else "") or fallback_title
    except (*_BROKEN, PythonPptxError, LxmlError) as exc:
        raise LoadError(f"unreadable PowerPoint file ({type(exc).__name__})") from exc
    markdown = "\n\n".join(f"## {heading}\n\n{body}" for heading, body in slides if body)
    return LoadedDocument(markdown=clean_text(markdown), title=clean_text(title).strip())


def _slide(slide: Any, number: int) -> tuple[str, str]:
    """(the slide's title, its body as Markdown)."""
    title_shape = slide.shapes.title
    blocks: list[tuple[str, str]] = []
    for shape in _shapes(slide.shapes):
        kind = shape.placeholder_format.type.name if shape.is_placeholder else "TEXT_BOX"
        if shape == title_shape or kind in _SKIPPED:
            continue
        if shape.has_table:
            rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
            blocks.append(("table", pipe_table(rows)))
        elif shape.has_text_frame:
            for paragraph in shape.text_frame.paragraphs:
                text = " ".join(paragraph.text.split())
                if text and _bulleted(paragraph, default=kind in _BULLETED):
                    blocks.append(("item", "  " * paragraph.level + f"- {text}"))
                elif text:
                    blocks.append(("paragraph", text))
    title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
    if not title and blocks and blocks[0][0] != "table":
        title = blocks.pop(0)[1].lstrip(" -")
    if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
        notes = " ".join(slide.notes_slide.notes_text_frame.text.split())
        if notes:
            blocks.append(("paragraph", f"Notes: {notes}"))
    return title or f"Slide {number}", _join(blocks)


# Placeholders whose paragraphs are bullets in the usual layouts, and ones that are noise.
_BULLETED = {"BODY", "OBJECT", "VERTICAL_BODY", "VERTICAL_OBJECT"}
_SKIPPED = {"FOOTER", "DATE", "SLIDE_NUMBER", "HEADER"}


def _shapes(shapes: Any) -> Iterator[Any]:
    """Every shape in reading order, group members included."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    for shape in shapes:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _bulleted(paragraph: Any, default: bool) -> bool:
    """Whether a paragraph shows a bullet: its own bu* setting, else its placeholder's habit."""
    props = paragraph._p.pPr
    for child in () if props is None else props:
        if child.tag.endswith("}buNone"):
            return False
        if child.tag.endswith(("}buChar", "}buAutoNum")):
            return True
    return default
