"""Read course files (.md, .txt, .html, .pdf) into Markdown text plus front matter."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.core.text import clean_text

SUPPORTED_SUFFIXES = {".md", ".markdown", ".txt", ".html", ".htm", ".pdf"}
MAX_FILE_BYTES = 20 * 1024 * 1024


class LoadError(Exception):
    """A file that cannot be ingested; the message says why, briefly."""


@dataclass(frozen=True)
class LoadedDocument:
    """A file's text as Markdown, with what its front matter says about it."""

    markdown: str
    title: str
    lesson: str = ""
    concepts: tuple[str, ...] = field(default_factory=tuple)


def load_document(path: Path) -> LoadedDocument:
    """Load one file, or raise LoadError with a short reason."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(exc.strerror or str(exc)) from exc
    if len(data) > MAX_FILE_BYTES:
        raise LoadError(f"too large ({len(data) // 1024 // 1024} MiB; limit 20 MiB)")
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        document = _load_pdf(data, path)
    else:
        text = _decode(data)
        if suffix in {".md", ".markdown"}:
            document = _load_markdown(text, path)
        elif suffix in {".html", ".htm"}:
            document = _load_html(text, path)
        else:
            document = LoadedDocument(markdown=text, title=_title_from_name(path))
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


def _load_markdown(text: str, path: Path) -> LoadedDocument:
    import frontmatter
    import yaml

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
    return LoadedDocument(
        markdown=post.content,
        title=clean_text(str(meta.get("title") or _title_from_name(path))).strip(),
        lesson=clean_text(str(meta.get("lesson") or "")).strip(),
        concepts=tuple(str(c).strip().lower() for c in concepts if str(c).strip()),
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
    # Each page becomes a section so citations can say which page.
    body = "\n\n".join(
        f"## Page {number}\n\n{clean_text(text)}"
        for number, text in enumerate(pages, start=1)
        if text.strip()
    )
    if not body:
        raise LoadError("no extractable text (a scanned PDF?)")
    return LoadedDocument(markdown=body, title=clean_text(str(title)))
