"""Read course files (.md, .txt, .html, .pdf, .docx, .pptx) into Markdown plus front matter."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.text import clean_text

SUPPORTED_SUFFIXES = {".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx", ".pptx"}
DEFAULT_MAX_FILE_MB = 20  # RetrievalSettings.max_file_mb sets it for ingest
_MIB = 1024 * 1024


class LoadError(Exception):
    """A file that cannot be ingested; the message says why, briefly."""


@dataclass(frozen=True)
class LoadedDocument:
    """A file's text as Markdown, with what its front matter says about it."""

    markdown: str
    title: str
    lesson: str = ""
    concepts: tuple[str, ...] = field(default_factory=tuple)
    url: str = ""  # the page a citation links to (front matter `url:`), or none


def load_document(path: Path, max_file_mb: int = DEFAULT_MAX_FILE_MB) -> LoadedDocument:
    """Load one file, or raise LoadError with a short reason."""
    try:
        size = path.stat().st_size
        if size > max_file_mb * _MIB:
            shown = f"{math.ceil(size * 10 / _MIB) / 10:g}"  # never rounds down to the limit
            raise LoadError(f"too large ({shown} MiB; limit {max_file_mb} MiB)")
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(exc.strerror or str(exc)) from exc
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        document = _load_pdf(data, path)
    elif suffix in {".docx", ".pptx"}:
        from bot.retrieval import office

        read = office.load_docx if suffix == ".docx" else office.load_pptx
        document = read(data, _title_from_name(path))
    else:
        text = _decode(data)
        if suffix in {".md", ".markdown"}:
            document = _load_markdown(text, path)
        elif suffix in {".html", ".htm"}:
            document = _load_html(text, path)
        else:
            document = _load_text(text, path)
    if not document.markdown.strip():
        raise LoadError("no text in it")
    return document


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise LoadError("binary file, not text")
    try:
        return clean_text(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise LoadError(f"not UTF-8 text (bad byte at offset {exc.start})") from exc


def _title_from_name(path: Path) -> str:
    stem = path.stem.lstrip("0123456789-_ ") or path.stem
    return stem.replace("-", " ").replace("_", " ").strip().capitalize()


# Plain-text headings: a line on its own (first, or after a blank line), short, no
# sentence ending, and Title Case / ALL CAPS, emoji-led or a summary phrase. The line
# under it may be text: notes pasted from a document rarely leave a blank line there.
_SUMMARY = re.compile(r"(key takeaways?|summary|in short|tl; ?dr|conclusions?|recap)\s*:?", re.I)
_NOT_HEADING = re.compile(r"^(?:[#>*+\u2022-]|\d+[.)]\s)|\|")  # Markdown, items, table rows
_SMALL_WORDS = {"a", "an", "and", "as", "at", "but", "by", "for", "from", "in", "into", "of"}
_SMALL_WORDS |= {"on", "or", "per", "the", "to", "via", "vs", "with"}


def _load_text(text: str, path: Path) -> LoadedDocument:
    """Plain text: heading-like lines become `##` headings; a heading-like first line, the title."""
    original, lines = text.splitlines(), text.splitlines()
    title = _title_from_name(path)
    for number, line in enumerate(original):
        on_its_own = number == 0 or not original[number - 1].strip()
        heading = _text_heading(line) if on_its_own else None
        if heading and number == 0 and len(lines) > 1:
            title, lines[0] = heading, ""
        elif heading and number:
            lines[number] = f"## {heading}\n"
    return LoadedDocument(markdown="\n".join(lines).strip("\n"), title=title)


def _text_heading(line: str) -> str | None:
    """The heading a plain-text line reads as, or None for text."""
    text = line.strip()
    if not text or len(text) > 60 or _NOT_HEADING.search(text):
        return None
    if _SUMMARY.fullmatch(text):
        return text.rstrip(" :")
    if text[-1] in ".,;:!":
        return None
    words = [word.lstrip("(\"'\u201c\u2018") for word in text.split()]
    title_case = any(ch.isalpha() for ch in text) and not any(
        word[:1].islower() and (i == 0 or word.lower() not in _SMALL_WORDS)
        for i, word in enumerate(words)
    )
    emoji_led = unicodedata.category(text[0]) == "So"
    return text if title_case or emoji_led else None


def _load_markdown(text: str, path: Path) -> LoadedDocument:
    import frontmatter
    import yaml

    from bot.core.links import check_url

    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        raise LoadError(f"bad front matter: {str(exc).splitlines()[0]}") from exc
    meta = post.metadata
    concepts = meta.get("concepts") or []
    if isinstance(concepts, str):
        concepts = [c.strip() for c in concepts.split(",")]
    if not isinstance(concepts, list):
        raise LoadError("bad front matter: 'concepts' must be a list")
    try:
        url = check_url(meta.get("url"))
    except ValueError as exc:
        raise LoadError(f"bad front matter: 'url' {exc}") from exc
    return LoadedDocument(
        markdown=post.content,
        title=clean_text(str(meta.get("title") or _title_from_name(path))).strip(),
        lesson=clean_text(str(meta.get("lesson") or "")).strip(),
        concepts=tuple(str(c).strip().lower() for c in concepts if str(c).strip()),
        url=url,
    )


def _load_html(text: str, path: Path) -> LoadedDocument:
    from bs4 import BeautifulSoup
    from markdownify import markdownify

    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "iframe"]):
        tag.decompose()
    title_tag = soup.find("title") or soup.find("h1")
    title = title_tag.get_text(" ", strip=True) if title_tag else _title_from_name(path)
    markdown = markdownify(str(soup), heading_style="ATX", strip=["img", "a"])
    return LoadedDocument(markdown=clean_text(markdown), title=clean_text(title))


def _load_pdf(data: bytes, path: Path) -> LoadedDocument:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        title = (reader.metadata.title if reader.metadata else None) or _title_from_name(path)
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise LoadError(f"unreadable PDF ({type(exc).__name__})") from exc
    # Each page becomes a section, titled by its first line when that reads as a slide title.
    sections = []
    for number, text in enumerate(pages, start=1):
        lines = [line.strip() for line in clean_text(text).splitlines() if line.strip()]
        if not lines:
            continue
        heading = lines.pop(0) if len(lines) > 1 and _slide_title(lines[0]) else f"Page {number}"
        sections.append(f"## {heading}\n\n{_unwrap(lines)}")
    if not sections:
        raise LoadError("no extractable text (a scanned PDF?)")
    return LoadedDocument(markdown="\n\n".join(sections), title=clean_text(str(title)))


def _slide_title(line: str) -> bool:
    """Whether a page's first line reads as its title: short, not a sentence or a list item."""
    return len(line) <= 80 and line[-1] not in ".,;:" and not line.startswith(("-", "*", "\u2022"))


def _unwrap(lines: list[str]) -> str:
    """Join the lines a PDF wrapped: a line in lower case continues an unfinished one."""
    joined: list[str] = []
    for line in lines:
        if joined and line[:1].islower() and not joined[-1].endswith((".", "!", "?", ":")):
            joined[-1] += " " + line
        else:
            joined.append(line)
    return "\n".join(joined)
