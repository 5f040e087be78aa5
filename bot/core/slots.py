"""Slot extraction for every template: labelled lines, prose lists, the system and its calls."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from bot.core.calls import dependencies
from bot.core.lists import ARTICLE as _ARTICLE
from bot.core.lists import MAX_ITEMS, clean_item, looks_like_events, split_list
from bot.core.system_name import clean_system, find_system, stated_system
from bot.templates import PromptTemplate

_PROSE_LIST_SLOT = ("data_types", "operations", "entities", "services")

# Label words for each slot, as students write them ("Data:", "Ops -", "Calls:").
_LABELS = {
    "system": r"system|app|application|product|project|platform|context|use case|domain",
    "data_types": r"data(?:[ _-]?types?)?|kinds? of data|types? of data|data we (?:store|keep)|"
    r"stored data|records|information|info",
    "operations": r"ops|operations?|reads?(?: (?:and|&|/) writes?)?|writes?|actions|"
    r"endpoints|use cases|features|queries|requests",
    "entities": r"entit(?:y|ies)|(?:main |domain |core )?objects|(?:main )?things|models|nouns|"
    r"aggregates|tables|resources|domain|core data|tracks|keeps track of|things it tracks",
    "events": r"events?|things that happen|happenings|triggers|domain events",
    "services": r"(?:micro)?services?|components|parts|pieces|modules|systems|deps|"
    r"dependencies|downstreams?|integrations",
    "dependencies": r"calls|call graph|dependenc(?:y|ies)|deps|flows?|talks to|connections|"
    r"call chain|wiring",
}
_LABEL_LINE = re.compile(
    r"^\s*(?:[-*\u2022>]+\s*)?[*_`]*(?P<label>[a-z][a-z /&_'-]{1,30}?)[*_`]*\s*"
    r"(?:[:=\u2013\u2014]|\s-\s)\s*(?P<value>.*)$",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*(?:[-*\u2022\u25e6+>]|\d+[.)]|[a-z][.)])\s+(?P<item>.+)$", re.I)
_INLINE_LABELS = (
    r"data[ _-]?types?|kinds? of data|types? of data|data|operations|ops|reads and writes|"
    r"entities|main objects|main things|events|services|svcs|microservices|components|"
    r"dependencies|calls"
)
_INLINE_LABEL = re.compile(
    rf"\b(?P<label>{_INLINE_LABELS})"
    r"(?:\s+(?:are|is|r|include|includes|would be|will be|could be)\s*:?\s*"
    r"(?:basically\s+|mainly\s+|mostly\s+|just\s+)?|\s*[:=]\s*|\s+-\s+)"
    rf"(?P<value>[^.?!\n;]+(?:;(?!\s*(?:{_INLINE_LABELS})\b)[^.?!\n;]+)*)",
    re.IGNORECASE,
)
_INLINE_SLOT = {
    "data": "data_types",
    "kind": "data_types",
    "type": "data_types",
    "oper": "operations",
    "ops": "operations",
    "read": "operations",
    "enti": "entities",
    "main": "entities",  # "main objects", "main things"
    "even": "events",
    "serv": "services",
    "svcs": "services",
    "micr": "services",
    "comp": "services",
    "depe": "dependencies",
    "call": "dependencies",
}
# -- labelled lists and prose lists ------------------------------------------------------------


_LABEL_KEYWORDS = {  # a longer label naming its slot: "Core entities", "Events emitted today"
    "dependencies": r"calls|dependencies",
    "events": r"events",
    "entities": r"entities|aggregates",
    "operations": r"operations|ops",
    "data_types": r"data types|data",
    "services": r"services|components",
}


def _slot_of_label(label: str) -> str | None:
    label = " ".join(label.lower().replace("_", " ").split())
    for slot in ("system", "dependencies", "events", "entities", "operations", "data_types"):
        if re.fullmatch(rf"(?:{_LABELS[slot]})", label):
            return slot
    if re.fullmatch(rf"(?:{_LABELS['services']})", label):
        return "services"
    # "Events for my library system - ..." is a request, not a label.
    if len(label.split()) <= 5 and not re.search(r"\b(?:for|of|in) (?:my|our|a|an|the)\b", label):
        for slot, keywords in _LABEL_KEYWORDS.items():
            if re.search(rf"\b(?:{keywords})\b", label):
                return slot
    return None


# A labelled value ends with its sentence: "ops: a, b. wait not b, remove it" (a call after
# the full stop still counts: "calls: a -> b. oh and also c -> d").
_VALUE_END = re.compile(
    r"(?<=[.!?])\s+(?=[A-Z]|(?:wait|and|but|oh|ok|okay|actually|sorry|nvm|hmm|no|so)\b"
    r"(?![^.\n]*(?:->|\u2192)))"
)


_HEADING = re.compile(r"[#>*_\s]*(?P<label>[A-Za-z][A-Za-z ]{2,24}?)[*_\s]*")


def _labelled_lines(text: str) -> dict[str, str]:
    """Slot -> raw value for "Label: value" lines; bullets under an empty label join it."""
    found: dict[str, str] = {}
    current: str | None = None
    bare = False  # under an empty label ("services:"), plain lines are its items too
    under_heading = False  # under "Entities" alone, indented lines and bullets are its items
    # A label may also open a sentence inside a paragraph: "... platform. Entities: a, b."
    # ("consistency design. system: course registration. ops: ..." in lower case too).
    for line in re.split(r"\n|(?<=[.!?])\s+(?=[A-Z*]|[\w ]{2,20}:\s)", text):
        label = _LABEL_LINE.match(line)
        slot = _slot_of_label(label.group("label")) if label else None
        heading = _HEADING.fullmatch(line)
        if not label and heading and (named := _slot_of_label(heading["label"])):
            # "Entities" on a line of its own, its items indented or bulleted below it
            current, bare, under_heading = named, True, True
            continue
        if under_heading and current and not label:
            if line[:1] not in (" ", "\t") and not _BULLET.match(line):
                if line.strip():  # prose after the heading ends its list
                    current, under_heading = None, False
                continue
            line = re.split(r"\s{2,}|\t", line.strip())[0]  # "  Elevator    serial no": a column
        if label and slot:
            current, under_heading = slot, False
            value = _VALUE_END.split(label.group("value").strip())[0]
            joined = slot in found and value and slot != "system"  # a system is said once
            found[slot] = f"{found[slot]}\n{value}" if joined else value or found.get(slot, "")
            bare = not value
        elif (
            current
            and current != "system"
            and (bullet := _BULLET.match(line) or (bare and line.strip() and not label))
        ):
            item = bullet.group("item") if isinstance(bullet, re.Match) else line.strip()
            found[current] = f"{found.get(current, '')}\n{item}".strip()
        elif line.strip():
            current = None
    return {slot: value for slot, value in found.items() if value.strip()}


def labelled_slots(text: str) -> set[str]:
    """The slots a message names with a label ("System: ...", "the data types are ...").

    A pasted table's first column counts too: "| Aggregate | Notes |" heads entities.
    """
    headers = (_cells(table[0].strip().splitlines()[0])[0] for table in _TABLE.finditer(text))
    in_tables = {
        slot
        for header in headers
        if (slot := _slot_of_label(header) or _slot_of_label(f"{header}s"))
    }
    return set(_labelled_lines(text)) | set(_inline_labels(text)) | in_tables


def _inline_labels(text: str) -> dict[str, str]:
    """Labels inside a sentence: "the data types are A, B and C", "services: a, b"."""
    found: dict[str, str] = {}
    for match in _INLINE_LABEL.finditer(text):
        slot = _INLINE_SLOT[match.group("label").lower()[:4]]
        found.setdefault(slot, match.group("value"))
    return found


_PROSE_CUES = re.compile(
    r"\b(?:with|such as|like|think|including|includes|include|handles?|handling|stores?|storing|"
    r"tracks?|tracking|keeps? track of|manages?|consists? of|made (?:up )?of|covering|"
    r"has|have|involving|involves|e\.g\.|namely|featuring|supports?|offers?|"
    r"(?:main|key|important|core) ones (?:are|r)|"
    r"(?:users?|customers?|agents?|readers?|buyers?|sellers?|people|players?|members?|"
    r"students?|admins?|moderators?|drivers?|riders?|guests?|hosts?|staff|teachers?|"
    r"patients?) (?:can|could|will|may|should be able to|need to|want to)|"
    r"(?:does|do|needs to do|lets users|lets people|allows users to|users can))\s*:?\s+"
    r"(?P<value>[^.?!\n]+)",
    re.IGNORECASE,
)
_BARE_LIST = re.compile(r"(?:^|:\s*)(?P<value>[^.?!\n:]*,[^.?!\n:]*\b(?:and|&|or)\b[^.?!\n:]+)")


_COLON_LIST = re.compile(
    r"(?:[:\u2013\u2014]|\s-)\s+(?P<value>[^.?!\n:]*(?:,|\band\b|&)[^.?!\n:]+)", re.IGNORECASE
)


_SUBJECT_VERB = re.compile(
    r"^.*\b(?:can|could|is|are|sends?|stores?|saves?|is saving|keeps?|tracks?|handles?|holds?)\s+",
    re.IGNORECASE,
)


def _without_subject(items: list[str]) -> list[str]:
    """The first item without its subject: "our system is saving truck GPS positions"."""
    if items and len(items[0].split()) > 3 and (head := _SUBJECT_VERB.match(items[0])):
        return [items[0][head.end() :], *items[1:]]
    return items


def _prose_lists(text: str) -> Iterator[list[str]]:
    """Lists in prose, in order of trust: after a colon, after a cue word, then bare ones."""
    for match in _COLON_LIST.finditer(text):
        if len(items := split_list(match.group("value"))) >= 2:
            yield _without_subject(items)
    for match in _PROSE_CUES.finditer(text):
        value = re.split(
            rf"\s+(?:for|in|so|to|where|which|that|because|when|during|but)\s+(?:{_ARTICLE}\s+)?",
            match.group("value"),
            maxsplit=1,
        )[0]
        if len(items := split_list(value)) >= 2:
            yield _without_subject(items)
    for match in _BARE_LIST.finditer(text):
        if len(items := split_list(match.group("value"))) >= 3:
            yield _without_subject(items)


def tables_as_bullets(text: str) -> str:
    """A pasted Markdown table as bullets of its first column (its header row dropped)."""

    def bullets(table: re.Match[str]) -> str:
        rows = [_cells(row) for row in table[0].strip().splitlines()]
        firsts = [cells[0] for cells in rows if not re.fullmatch(r"[\s:-]*", "".join(cells))]
        return "\n".join(f"- {cell}" for cell in firsts[1:] if cell) + "\n"

    text = _SQL_TABLE.sub(lambda said: f"- {said['name']}", text)  # a pasted schema.sql
    return _TABLE.sub(bullets, text)


_SQL_TABLE = re.compile(
    r"(?im)^[ \t]*create[ \t]+table[ \t]+(?:if[ \t]+not[ \t]+exists[ \t]+)?[`\"\[]?"
    r"(?P<name>[\w.]+)[`\"\]]?.*$"
)
_TABLE = re.compile(r"(?m)(?:^[ \t]*(?:>[ \t]*)?\|.*\|[ \t]*(?:\n|$)){2,}")  # "> |" quoted too


def _cells(row: str) -> list[str]:
    """A table row's cells: "> | a | b |" (quoted, outer pipes optional) is ["a", "b"]."""
    return [cell.strip() for cell in row.strip().lstrip(">").strip().strip("|").split("|")]


def tabled_items(text: str) -> list[str]:
    """The items a pasted table or schema lists: its rows' first cells, its tables' names."""
    bulleted = {item.lower() for item in _bullets(text)}
    return [item for item in _bullets(tables_as_bullets(text)) if item.lower() not in bulleted]


def _bullets(text: str) -> list[str]:
    items = [
        clean_item(m.group("item")) for line in text.splitlines() if (m := _BULLET.match(line))
    ]
    return split_list("\n".join(i for i in items if not _LABEL_LINE.match(i)))


# -- all together ------------------------------------------------------------------------------


def extract_slots(
    template: PromptTemplate, text: str, answering: str | None = None
) -> dict[str, Any]:
    """Slot values the text states.

    `answering` names the slot the bot just asked for, so an unlabelled reply
    like "messages, presence and read receipts" fills it.
    """
    names = [s.name for s in template.slots]
    values: dict[str, Any] = {}
    pasted, text = text, tables_as_bullets(text)
    lines = _labelled_lines(text)
    inline = _inline_labels(text)
    # A reply with labels ("events: ...") says what it is; the asked-for system is not in it.
    guess = answering and not (answering == "system" and (lines or inline))
    if guess and answering == "system":
        values.update(_answer_to(template, answering, text))
    if "system" in names and "system" not in values:
        system = clean_system(lines["system"]) if "system" in lines else None
        if system := system or find_system(text):
            values["system"] = system
    if system := values.get("system"):
        # "... follow a user for a twitter clone": the system is not part of any item.
        end = r"(?=\s*(?:[.,;?!\n]|$))"
        text = re.sub(rf"\s+(?:for|of|in)\s+{re.escape(system)}{end}", "", text, flags=re.I)
        lines, inline = _labelled_lines(text), _inline_labels(text)
    if "dependencies" in names:
        calls, services = dependencies(
            "\n".join(v for k, v in lines.items() if k == "dependencies") or pasted,
            values.get("system"),
        )
        if calls:
            values["dependencies"] = calls
            if "services" in names:
                values["services"] = services
    for name in names:
        if name == "system" or name == "dependencies":
            continue
        raw = lines.get(name) or inline.get(name)
        if raw and (items := split_list(raw)):
            values[name] = items
    prose = next((n for n in _PROSE_LIST_SLOT if n in names), None)
    if prose and prose not in values:
        candidates = [_bullets(text)] if not lines else []
        for items in [*candidates, *_prose_lists(text)]:
            if not items:
                continue
            if "events" in names and looks_like_events(items):
                values.setdefault("events", items)  # "order placed, payment failed"
            elif prose not in values:
                values[prose] = items
    if values.get(prose) and "events" in names and looks_like_events(values[prose]):
        values.setdefault("events", values.pop(prose))
    if "services" in lines and "dependencies" in values:
        _named_as_listed(values, split_list(lines["services"]))
    if guess and answering not in values:
        values.update(_answer_to(template, answering, text))
    return values


def _named_as_listed(values: dict[str, Any], listed: list[str]) -> None:
    """Calls name services as the "Services:" line does ("the orders service" is "orders")."""
    by_stem = {
        re.sub(r"\s+(?:service|api)$", "", name, flags=re.I).lower(): name for name in listed
    }

    def named(name: str) -> str:
        return by_stem.get(re.sub(r"\s+(?:service|api)$", "", name, flags=re.I).lower(), name)

    calls = [
        " -> ".join(named(side) for side in call.split(" -> ")) for call in values["dependencies"]
    ]
    values["dependencies"] = list(dict.fromkeys(calls))
    called = [named(side) for call in calls for side in call.split(" -> ")]
    values["services"] = list(dict.fromkeys([*listed, *called]))[:MAX_ITEMS]


_CHATTER_WORD = (
    r"(?:ok(?:ay)?|k|sure|right|yes|yeah|yep|oh|ah|thanks?|thank you|thx|ty|cool|great|nice|"
    r"makes sense|got it|i see|sorry|hmm+|lol|haha|certainly|of course|absolutely|alright|"
    r"all right|sure thing|no problem|honestly|well)"
)
_CHATTER = re.compile(rf"^\W*{_CHATTER_WORD}(?:\W+{_CHATTER_WORD})*\W*$", re.IGNORECASE)


# How a reply leads up to the system's name: "let's say an X", "oh its for our X".
_LEAD_IN = re.compile(
    r"^(?:(?:oh|ah|ok(?:ay)?|so|well|um+|hm+)[,\s]+)*(?:(?:let'?s\s+(?:say|use|go with|do|pick)|"
    r"say|it'?s|its|it is|this is|that'?s|that is|is|we(?:'re| are)\s+(?:building|making|doing)|"
    r"i(?:'m| am)\s+(?:building|making|doing)|for|about|just)\s+)*(?:a|an|the|our|my|r)\s+",
    re.IGNORECASE,
)
_TRAILING_CHATTER = re.compile(
    r"\s+(?:as (?:the|an|my|our) example|lol|lmao|haha|pls|please|thanks|thx)$", re.IGNORECASE
)


def _answer_to(template: PromptTemplate, answering: str, text: str) -> dict[str, Any]:
    """An unlabelled reply to the slot the bot asked for."""
    slot = template.slot(answering)
    reply = text.strip()
    if answering == "dependencies":
        # Asked "which service calls which?", "uploader needs transcoder" is a call too;
        # a reply naming no call fills nothing (the bot asks again).
        reply = re.sub(
            r"\b(?:needs?|call|use|requires?|(?:can'?t|cannot) (?:work|run|do anything) without)\b",
            "calls",
            reply,
            flags=re.I,
        )
        calls, _ = dependencies(reply, None)
        return {answering: calls} if calls else {}
    if slot.type == "list":
        items = _bullets(reply) or split_list(reply)
        return {answering: items} if items else {}
    if stated := stated_system(reply):
        return {answering: stated}  # "Certainly. The system in question is an X used by Y"
    # "zoo management system. move feedings to events", "ok makes sense. it's a bird app"
    clauses = [
        clause
        for clause in re.split(r"\s+[\u2013\u2014-]+\s+|[.;!?](?:\s|$)|,\s|\n", reply)
        if clause.strip() and not _CHATTER.match(clause) and ":" not in clause
    ]
    reply = clauses[0] if clauses else ""
    if len(reply.split()) <= 12:
        value = _TRAILING_CHATTER.sub("", _LEAD_IN.sub("", reply))
        if value := clean_system(value):
            return {answering: value}
    return {}
