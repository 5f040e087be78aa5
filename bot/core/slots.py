"""Rule-based slot extraction: pull a system, lists and call dependencies out of free text."""

from __future__ import annotations

import re
from typing import Any

from bot.templates import PromptTemplate

MAX_ITEMS = 15
MAX_ITEM_CHARS = 80

# Words that introduce each slot's values, e.g. "Data types: a, b and c".
_LABELS = {
    "data_types": r"data[ _-]?types?|kinds? of data|types? of data",
    "services": r"(?:micro)?services?(?! calls?)",
    "dependencies": r"dependenc(?:y|ies)|call graph",
    "operations": r"operations?|reads and writes",
    "entities": r"entit(?:y|ies)|(?:main )?objects",
    "events": r"events?",
}
_ALL_LABELS = "|".join(f"(?:{p})" for p in _LABELS.values())
_LABEL_VALUE = (
    r"(?:\s+(?:are|is|include|includes|would be)\s+|\s*[:=]\s*|\s+-\s+)"
    r"(?P<value>.+?)(?=\.\s|\.$|[?!\n]|$|\s(?:{}){})"
)
_LIST_SPLIT = re.compile(
    r"\s*(?:,|;|\band\b|&|\bplus\b|\bas well as\b|/|\n|\u2022)\s*", re.IGNORECASE
)
_LEADING_FILLER = re.compile(
    r"^(?:also|then|maybe|like|e\.g\.|i\.e\.|the|a|an|some|our|my)\s+", re.I
)

_SYSTEM_PATTERNS = [
    # "for a ride-sharing app", "for our checkout service"
    re.compile(
        r"\b(?:for|of|in|on)\s+"
        r"(?P<system>(?:a|an|the|our|my|this|their)\s+[\w'&-]+(?:\s+[\w'&-]+){0,5}?)"
        r"(?=\s*(?:[.,;:?!()]|$)|\s+-\s|\s+(?:the\s+|its\s+)?(?:with|where|that|which|who|data|services|"
        r"operations|entities|events|dependencies|using|in which|to|so|when|if|and|calls?)\b)",
        re.IGNORECASE,
    ),
    # "our checkout service calls ...", "my chat app"
    re.compile(
        r"\b(?P<system>(?:our|my)\s+[\w'&-]+(?:\s+[\w'&-]+){0,3}?\s+"
        r"(?:app|application|service|system|platform|site|website|api|backend|product|game|"
        r"store|shop|marketplace|bank|startup|tool|gateway|server|cluster|pipeline|engine))\b",
        re.IGNORECASE,
    ),
]
_NOT_A_SYSTEM = re.compile(
    r"^(?:(?:a|an|the|our|my|this|their)\s+)?(?:partition|network partition|example|instance|"
    r"me|us|it|this|that|interview|failure|system|data types?|services?|operations|entities|"
    r"events)$",
    re.IGNORECASE,
)
_CALLS = re.compile(
    r"(?P<caller>\b[\w-]+(?:\s+[\w-]+){0,2}?)\s+(?:service\s+)?"
    r"(?:calls|depends on|talks to|invokes|sends requests to|uses)\s+(?P<callees>[^.;?!\n]+)",
    re.IGNORECASE,
)
_ARROW = re.compile(r"(?P<a>[\w-]+(?:\s[\w-]+)?)\s*(?:->|\u2192|=>)\s*(?P<b>[\w-]+(?:\s[\w-]+)?)")
_CALLER_FILLER = re.compile(
    r"^(?:and|the|our|my|a|an|then|which|that|where|while|so)\s+", re.IGNORECASE
)


def split_list(text: str) -> list[str]:
    """Split "a, b and c" into items, trimmed, de-duplicated, capped."""
    items: list[str] = []
    for raw in _LIST_SPLIT.split(text):
        item = raw.strip(" \t'\"`*_.:-()[]")
        while (stripped := _LEADING_FILLER.sub("", item)) != item:
            item = stripped
        if item and item.lower() not in {i.lower() for i in items}:
            items.append(item[:MAX_ITEM_CHARS])
    return items[:MAX_ITEMS]


def find_system(text: str) -> str | None:
    """The system the student names, e.g. "ride-sharing app"."""
    for pattern in _SYSTEM_PATTERNS:
        for match in pattern.finditer(text):
            system = match.group("system").strip(" '\"")
            system = re.sub(r"\s+(?:service|services)$", " service", system)
            if system and not _NOT_A_SYSTEM.match(system) and len(system) <= MAX_ITEM_CHARS:
                return system
    return None


def _labelled(text: str, slot: str) -> list[str] | None:
    label = _LABELS.get(slot)
    if not label:
        return None
    pattern = re.compile(
        rf"\b(?:{label})\b" + _LABEL_VALUE.format(_ALL_LABELS, r"\b\s*(?:are\b|:|include|-\s)"),
        re.IGNORECASE,
    )
    match = pattern.search(text)
    return split_list(match.group("value")) if match else None


def _dependencies(text: str) -> tuple[list[str], list[str]]:
    """Calls as "caller -> callee" lines, and every service they mention."""
    calls: list[str] = []
    services: list[str] = []
    for match in _ARROW.finditer(text):
        caller = split_list(_CALLER_FILLER.sub("", match.group("a")))[-1:]
        callee = split_list(match.group("b"))[:1]
        if caller and callee:
            calls.append(f"{caller[0]} -> {callee[0]}")
            services += [caller[0], callee[0]]
    for match in _CALLS.finditer(text):
        caller = _CALLER_FILLER.sub("", match.group("caller").strip())
        caller = re.sub(r"\s+service$", "", caller, flags=re.IGNORECASE)
        for callee in split_list(match.group("callees")):
            calls.append(f"{caller} -> {callee}")
            services += [caller, callee]
    return list(dict.fromkeys(calls)), list(dict.fromkeys(services))


def extract_slots(
    template: PromptTemplate, text: str, answering: str | None = None
) -> dict[str, Any]:
    """Slot values the text states.

    `answering` names the slot the bot just asked for, so an unlabelled reply
    like "messages, presence and read receipts" fills it.
    """
    values: dict[str, Any] = {}
    names = {s.name for s in template.slots}
    if "system" in names and (system := find_system(text)):
        values["system"] = system
    if "dependencies" in names:
        calls, services = _dependencies(text)
        if calls:
            values["dependencies"] = calls
            if "services" in names:
                values["services"] = services
    for slot in template.slots:
        if slot.type == "list" and (items := _labelled(text, slot.name)):
            values[slot.name] = items
    if system := values.get("system"):
        # "... follow a user for a twitter clone": the system is not part of the item.
        tail = re.compile(rf"\s+(?:for|of|in)\s+{re.escape(system)}$", re.IGNORECASE)
        for name, value in values.items():
            if isinstance(value, list):
                values[name] = [tail.sub("", item) for item in value]
    if answering and answering not in values:
        slot = template.slot(answering)
        reply = text.strip()
        if slot.type == "list":
            if items := split_list(reply):
                values[answering] = items
        elif len(reply.split()) <= 12:
            values[answering] = re.sub(
                r"^(?:it'?s|it is|a|an|the|our|my)\s+", "", reply, flags=re.I
            )
    return values
