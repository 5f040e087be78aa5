"""Heading-aware chunking: split Markdown by headings, then cap each piece's size."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

from bot.core.models import Chunk
from bot.retrieval.loaders import LoadedDocument

_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4")]
# A paragraph's first "sentence" of one or two words is its run-in head ("Snapshots.").
_RUN_IN_HEAD = re.compile(r"[\w()/-]+(?: [\w()/-]+)?\.")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(*-])|\n+")
_MARKUP = re.compile(r"\*\*|__|`")
# A sentence that leans on the one before it: never the first of an answer's window, and
# never retrieved alone ("That trade-off is what PACELC describes" only names PACELC).
DANGLING = re.compile(
    r"^(?:this|these|that|those|it|its|they|them|their|such|both|either|neither|"
    r"however|but|so|thus|hence|therefore|instead(?! of)|also|then|otherwise|likewise|"
    r"outside (?:these|those|this|that)|in (?:this|that|these|those|such) \w+|"
    r"for (?:this|that|these|those) \w+|the (?:former|latter|same)|[\w ]{1,40}, (?:though|however)|"
    r"\w+ (?:them|these|those|this|it)(?! \w+ (?:is|are|was|were)\b))\b",
    re.IGNORECASE,
)
_ITEM = re.compile(r"^\s*([-*\u2022+]|\d{1,2}[.)])\s+")
_LABEL = re.compile(
    r"^\s*(?:[-*]\s+)?\*{0,2}(example|note|in short|in depth)\*{0,2}:\s*", re.IGNORECASE
)
# A paragraph written for one level: the plain summary, or the expert's detail.
LEVEL_OF_LABEL = {"in short": "beginner", "in depth": "advanced"}
# A lesson's reading list is for people reading the file; the bot does not index it.
_READING_LIST = re.compile(r"(further reading|references|bibliography)$", re.IGNORECASE)


def chunk_document(
    document: LoadedDocument,
    *,
    course: str,
    path: str,
    source: Path,
    chunk_chars: int,
    chunk_overlap: int,
) -> list[Chunk]:
    """Split a document into chunks that keep their heading path and get stable ids."""
    # Imported here: it pulls in langchain-core, which only ingestion needs.
    from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

    by_heading = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=True)
    by_size = RecursiveCharacterTextSplitter(chunk_size=chunk_chars, chunk_overlap=chunk_overlap)
    seen: Counter[str] = Counter()
    chunks = []
    for piece in by_heading.split_text(document.markdown):
        headings = [piece.metadata[key] for _, key in _HEADERS if key in piece.metadata]
        if "h1" not in piece.metadata:
            headings.insert(0, document.title)
        section = " > ".join(h.strip() for h in headings if h.strip())
        if _READING_LIST.match(section.split(" > ")[-1]):
            continue  # titles and authors answer no question; they crowded out real sources
        for text in by_size.split_text(piece.page_content):
            text = text.strip()
            if not text:
                continue
            # The id depends on where the text sits, not on what it says, so an edit
            # replaces the chunk in place; a repeated heading gets its own ordinal.
            ordinal = seen[section]
            seen[section] += 1
            chunk_id = hashlib.sha1(f"{course}|{path}|{section}|{ordinal}".encode()).hexdigest()
            fields = {
                "course": course,
                "path": path,
                "title": document.title,
                "lesson": document.lesson,
                "section": section,
                "concepts": document.concepts,
                "text": text,
            }
            if document.url:  # only when set: files without one keep their hashes
                fields["url"] = document.url
            content_hash = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
            chunks.append(
                Chunk(
                    id=chunk_id[:24],
                    course=course,
                    path=path,
                    source=str(source),
                    title=document.title,
                    lesson=document.lesson,
                    section=section,
                    concepts=document.concepts,
                    text=text,
                    content_hash=content_hash[:32],
                    url=document.url,
                )
            )
    return chunks


@dataclass(frozen=True)
class Unit:
    """A sentence, a list item, a numbered step or a whole table, as the passage reads."""

    text: str
    example: bool  # inside a worked example ("Example: ...")
    kind: str  # "sentence" | "item" | "step" | "table"
    continues: bool = False  # the item's second or later sentence
    level: str = ""  # "beginner" in an "In short:" paragraph, "advanced" in "In depth:"

    @property
    def words(self) -> int:
        """How many words it has."""
        return len(self.text.split())

    @property
    def embedded(self) -> bool:
        """Whether ingest embeds it (split_sentences keeps it)."""
        return self.kind != "table" and self.words >= 5


def _blocks(text: str) -> list[str]:
    """Paragraphs, with a table that follows its lead-in line without a blank line apart.

    The header splitter keeps a paragraph break as a Markdown hard break: two spaces, a newline.
    """
    blocks: list[str] = []
    for paragraph in re.split(r"\n\s*\n|(?<=\S  )\n", text):
        run: list[str] = []
        for line in paragraph.splitlines():
            if run and line.lstrip().startswith("|") != run[-1].lstrip().startswith("|"):
                blocks.append("\n".join(run))
                run = []
            run.append(line)
        blocks.append("\n".join(run))
    return blocks


def split_units(text: str) -> list[Unit]:
    """A passage in reading order: sentences, list items and steps, tables kept whole.

    Markdown emphasis is removed.
    """
    units: list[Unit] = []
    for paragraph in _blocks(text):
        lines = [line for line in paragraph.splitlines() if line.strip()]
        if len(lines) >= 2 and all(line.lstrip().startswith("|") for line in lines):
            units.append(Unit(paragraph.strip(), False, "table"))
            continue
        label = _LABEL.match(paragraph)
        name = label[1].lower() if label else ""
        example, level = name in {"example", "note"}, LEVEL_OF_LABEL.get(name, "")
        for line in _LABEL.sub("", paragraph).splitlines():
            marker = _ITEM.match(line)
            kind = "sentence" if not marker else "step" if marker[1][0].isdigit() else "item"
            pieces = _SENTENCE_END.split(line[marker.end() :] if marker else line)
            lead, headed = "", False
            for number, raw in enumerate(pieces):
                sentence = _MARKUP.sub("", raw).strip(" -*\t")
                sentence = f"{lead} {sentence}" if lead else sentence
                if not number and len(pieces) > 1 and _RUN_IN_HEAD.fullmatch(sentence):
                    lead = sentence  # "Snapshots. Replaying ...": a run-in head, not a sentence
                    headed = True
                    continue
                lead = ""
                if sentence and not sentence.startswith("|"):
                    # an item's second sentence continues it: "- Locks: ... Two can't ..."
                    continues = bool(marker) and number > int(headed)
                    units.append(Unit(sentence, example, kind, continues, level))
    return units


_SEPARATOR_CELL = re.compile(r":?-{2,}:?")


def table_rows(table: str) -> list[str]:
    """Each data row of a pipe table with its header: "Data: balances; Choice: CP"."""
    cells = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in table.splitlines()
        if line.strip()
    ]
    rows = [row for row in cells if not all(_SEPARATOR_CELL.fullmatch(c) or not c for c in row)]
    if len(rows) < 2:
        return []
    header, *data = rows
    return [
        "; ".join(
            f"{name}: {cell}" if name else cell
            for name, cell in zip_longest(header, row, fillvalue="")  # ragged rows too
            if cell
        )
        for row in data
    ]


def embedded_units(units: list[Unit]) -> list[tuple[str, str]]:
    """What ingest embeds of a passage, in order, with each one's kind.

    Sentences and list items of five words or more, and each table row ("row") with its
    header, so a question about one row finds it; the answer still shows the table whole.
    """
    embedded: list[tuple[str, str]] = []
    for unit in units:
        if unit.kind == "table":
            embedded.extend((row, "row") for row in table_rows(unit.text))
        elif unit.embedded:
            embedded.append((unit.text, unit.kind))
    return embedded


def split_sentences(text: str) -> list[str]:
    """The texts of a passage that ingest embeds (see `embedded_units`)."""
    return [text for text, _ in embedded_units(split_units(text))]
