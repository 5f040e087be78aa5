"""What a message does to a template the bot is still filling: answer, correct, resume or not."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.core.call_edits import with_calls
from bot.core.calls import snap_calls
from bot.core.classifier import Prediction
from bot.core.corrections import edit_items
from bot.core.intent import EXPLAIN, Intent, named_templates
from bot.core.lists import without_article
from bot.core.slot_reader import SlotReader
from bot.core.slots import labelled_slots
from bot.core.spelling import fix_frame_typos
from bot.core.system_name import SYSTEM_NOUN, clean_system, name_and_description
from bot.core.turns import TurnKind
from bot.state.conversations import PendingTemplate
from bot.templates import PromptTemplate


class PendingDecision(StrEnum):
    """How a message relates to the pending template."""

    SLOT_ANSWER = "slot answer"  # it fills what the bot asked for
    CORRECTION = "correction"  # "no, the system is a hotel chain"
    RESUME = "resume"  # "continue the CAP analysis"
    SWITCH = "switch"  # the same system, another template
    ASIDE = "aside"  # a concept question in between, explained; the pending fill waits
    NEW_QUESTION = "new question"  # a request of its own (maybe another template)
    ABANDON = "abandon"  # "never mind the analysis": the pending fill is dropped


@dataclass(frozen=True)
class Decision:
    """The decision and, unless it is a new question, the template's slots after the message."""

    kind: PendingDecision
    slots: dict[str, Any] = field(default_factory=dict)
    switch_to: str | None = None  # the other template, for SWITCH


_RESUME = re.compile(
    r"^\s*(?:ok(?:ay)?,?\s+|now\s+|let'?s\s+|please\s+)?(?:continue|resume|back to|go on|"
    r"carry on|finish)\b",
    re.IGNORECASE,
)
_SURE, _SURER = 0.8, 0.9
_EDIT_REQUEST = re.compile(
    r"\b(?:renam\w*|call|remove|drop|delete|replace|swap|merge|scratch|add)\b", re.I
)
_LISTED = re.compile(r"(?m)^[ \t]*(?:\|.*\|[ \t]*$|[-*\u2022][ \t]+\S|\d+[.)][ \t]+\S)")
_COLON_LABEL = re.compile(r"(?m)(?:^|[.;!]\s+)[^\w\n]*[\w ]{2,25}[*_]*\s*:\s*\S")
_DROPS = re.compile(r"\b(?:drop|remove|delete|scratch|not|without)\b", re.IGNORECASE)
_NEEDS = re.compile(r"\b(?:can'?t|cannot|can not) (?:work|run|do anything) without\b", re.I)
_CLAUSE_END = re.compile(r"[.!\n;:\u2014]|\s-\s")
_CORRECTION = re.compile(
    r"^\s*(?:no|nope|not quite|actually|sorry|correction|wait|oops|i meant|change)\b"
    r"|(?:\b(?:the|our|my)\s+|^\s*)(?:system|app|data(?: types?)?|operations|ops|entities|"
    r"events|services|dependencies|calls)\s+(?:is|are|should be|would be)\b",
    re.IGNORECASE,
)
# A new name for the system: "refer to the system as X", "it's actually called X" (read
# only once no item was renamed: "not tap in, it's called validate card" renames an item).
_SYSTEM_RENAME = re.compile(
    r"\b(?:(?:please\s+)?(?:refer to|call|name|rename)\s+(?:the|our|my)\s+(?:system|app)"
    r"\s+(?:as|to)?\s*|the\s+(?:(?:system|project|app|product)'?s?\s+)?name"
    r"(?:\s+of\s+(?:the|our|my)\s+(?:system|app))?\s+is\s+|(?:it'?s|it\s+is|(?:the|our|my)\s+(?:system|app|project)\s+is)\s+"
    r"(?:actually\s+|now\s+)*(?:call?e?d|named)\s+|(?:we'?re|we are|i'?m)\s+calling\s+"
    r"(?:it|ours|this|the app)\s+|"
    rf"(?:it'?s|it\s+is)\s+not\s+{SYSTEM_NOUN}\s*[,;]\s*(?:it'?s|it\s+is|but)\s+(?:for\s+)?|"
    r"(?:we|i)\s+(?:call|named?)\s+it\s+|\brenamed?\s+it\s+(?:to|as)\s+|"
    r"(?:^|[,;:.!]\s*|\band\s+)call it\s+|(?:it'?s|it\s+is)\s+(?=[\w-]+\s+now\b)|"
    r"(?:^|[.!?]\s+)(?:(?:also|and|oh|btw|ps)[,\s]+)*(?:the\s+)?"
    r"(?:(?:system|project|app|product)'?s?\s+)?name(?:'s|\s+is)\s+)"
    r"(?P<name>[^.;,!?\n(]+)",
    re.IGNORECASE,
)
_QUESTION = re.compile(
    # a question mark at the end, or before a short aside ("...? I keep mixing them up")
    r"\?(?:\s+[^?\n:,]{0,60})?\s*$|"
    r"^\s*(?:(?:ok|okay|so|also|and|but|actually|wait|hm+|btw|quick (?:one|q|question)(?: first)?)"
    r"[,!.:]?\s+)*"
    r"(?:what'?s?|whats|why|how|when|where|which|who|is|are|does|do|can|could|should|"
    r"explain|define|describe|tell me|remind me)\b"
    r"|\bi (?:don'?t|do not|didn'?t|never|still don'?t) (?:understand|get|got)\b|\bwhy not\b",
    re.IGNORECASE,
)


def decide(
    template: PromptTemplate,
    pending: PendingTemplate,
    text: str,
    intent: Intent,
    turn: Prediction,
    reader: SlotReader,
    others: Sequence[PromptTemplate] = (),
) -> Decision:
    """Resume, correct, or fill the pending template, or leave it for a new question.

    `turn` is the learned reading of the message (answer, question, resume, abandon);
    the rules below then say what an answer changes.
    """
    resumed, text = False, fix_frame_typos(text)
    if match := _RESUME.search(text):
        boundary = _CLAUSE_END.search(text, match.end())
        rest = text[boundary.end() :].strip() if boundary else ""
        if len(rest.split()) < 2:
            return Decision(PendingDecision.RESUME, dict(pending.slots))
        # "ok continue. it keeps track of players, games and moves": resume, read the rest
        text, resumed = rest, True
    asks = bool(_QUESTION.search(text))
    # "gym class booker" just after "which system?" answers it, whatever its topic.
    bare = pending.missing and not asks and len(text.split()) <= 6
    # A pasted table or list (two rows or more) with no question is material, not an aside.
    listed = not asks and len(_LISTED.findall(text)) >= 2
    # "replace *browse events* with *search events*": the emphasis is no part of a name
    plain = re.sub(r"[*_`]+", "", text)
    # "could you call 'applicants' 'candidates'?" edits the fill, though it asks
    edited = edit_items(template, pending.slots, plain) if _EDIT_REQUEST.search(text) else None
    edits = bool(edited)
    aside = turn.label == TurnKind.QUESTION and intent.label in (EXPLAIN, template.id)
    # "entities: a, b. events: c" labels this template's slots: material, not an aside
    labels_own = (
        not asks
        and _COLON_LABEL.search(text) is not None
        and bool(labelled_slots(text) & {s.name for s in template.slots})
    )
    if aside and not resumed and not bare and not listed and not edits and not labels_own:
        return Decision(PendingDecision.ASIDE)
    if asks and intent.label == EXPLAIN and turn.label != TurnKind.ANSWER and not edits:
        return Decision(PendingDecision.ASIDE)
    answering = pending.missing[0] if pending.missing else None
    foreign = labelled_slots(text) - {slot.name for slot in template.slots}
    if foreign and not asks and (target := _template_with(foreign, others, intent)):
        # "entities: ..., events: ..." while a resilience design waits: the student wants
        # the other template for the same system.
        return Decision(PendingDecision.SWITCH, _system_of(pending), target)
    # Asked which service calls which, "booking can't work without payment" is a call.
    needs = _NEEDS.sub(" calls ", text)
    wants_calls = answering == "dependencies" and not asks and not _DROPS.search(needs)
    if wants_calls and (calls := reader.read(template, text, answering).get(answering)):
        calls = snap_calls(calls, list(pending.slots.get("services") or []))
        answered = {**pending.slots, **with_calls(pending.slots, calls)}
        return Decision(PendingDecision.SLOT_ANSWER, answered)
    if edited is None:
        edited = edit_items(template, pending.slots, plain)
    if edited:
        # "not trainers, coaches", "scratch X", "also Y", "a hostel, not a hotel": in place.
        renamed = _SYSTEM_RENAME.search(text)
        item_named = renamed and re.search(r"called|call it", renamed[0], re.I)
        if renamed and not item_named and (name := clean_system(renamed["name"])):
            edited["system"] = name  # "refer to the system as X, and remove Y"
        # "- system: ParcelTrail\n- drivers should be couriers": the missing slot too
        named, found = labelled_slots(text), reader.read(template, text)
        # "The system is a crowdfunding site. Also add refund backers": the system too
        said = named | {"system"}
        filled = {k: v for k, v in found.items() if k in pending.missing and k in said}
        # "For events I'm thinking A and B. Oh and drop kennels": a list never given before
        filled |= {
            k: v
            for k, v in found.items()
            if k not in pending.slots and k not in edited and k != "system" and len(v) >= 2
        }
        filled.update(_beside_rename(template, text, answering, {**edited, **filled}, reader))
        return Decision(PendingDecision.CORRECTION, _renamed(pending.slots, {**edited, **filled}))
    if not resumed and turn.confidence >= _SURE:
        # Only a sure reading drops the fill or skips reading it: "nvm" may start a fix.
        if turn.label == TurnKind.ABANDON:
            return Decision(PendingDecision.ABANDON)
        if turn.label == TurnKind.RESUME:
            return Decision(PendingDecision.RESUME, dict(pending.slots))
    if _CORRECTION.search(text) or _SYSTEM_RENAME.search(text):
        rewritten = _without_correction_words(text)
        named = labelled_slots(rewritten)
        found = reader.read(template, rewritten, answering=answering)
        # Only what the correction names changes ("the system is ..."), else the slot asked for.
        changed = {k: v for k, v in found.items() if k in named or (not named and k == answering)}
        if changed:
            # "Services is: a, b. A call B": the calls stated beside it fill what is missing
            stated = reader.read(template, rewritten) if len(changed) < len(found) else {}
            missing = set(pending.missing) - set(changed)
            changed |= {k: v for k, v in stated.items() if k in missing and k in found}
            if calls := changed.get("dependencies"):
                services = list(changed.get("services") or pending.slots.get("services") or [])
                changed |= with_calls({"services": services}, snap_calls(calls, services))
            changed.update(_beside_rename(template, text, answering, changed, reader))
            return Decision(PendingDecision.CORRECTION, _renamed(pending.slots, changed))
    found = reader.read(template, text, answering=None if asks else answering)
    if any(name in found for name in pending.missing):
        # An answer fills what was missing; what the student said before stays.
        return Decision(PendingDecision.SLOT_ANSWER, {**found, **pending.slots})
    sure_answer = turn.label == TurnKind.ANSWER and turn.confidence >= _SURER
    if asks and not sure_answer and intent.label in (EXPLAIN, template.id):
        # Shaped like a question, filling nothing missing: "side q: why not call directly?"
        return Decision(PendingDecision.ASIDE)
    same_system = _same(found.get("system"), pending.slots.get("system"))
    answers = turn.label == TurnKind.ANSWER or intent.label in (template.id, EXPLAIN)
    # "..., 'request a seat'. Could you update that?" asks about the fill, not a new question
    if found and same_system and (not asks or sure_answer) and answers:
        # More about the same system ("the main things are tools, members and tickets"):
        # what it states replaces what was read before, which may have been a guess.
        return Decision(PendingDecision.SLOT_ANSWER, _merged(pending.slots, found))
    if resumed:
        return Decision(PendingDecision.RESUME, dict(pending.slots))
    other = intent.template_id not in (None, template.id)
    if other and found and same_system and intent.confidence < _SURE and not named_templates(text):
        # "oh and we also keep soil moisture readings, can you add those?": the other
        # template is only the classifier's doubtful guess; the message adds to this one.
        return Decision(PendingDecision.SLOT_ANSWER, _merged(pending.slots, found))
    if not other and not asks and not _new_request(found, pending, text):
        # The same template again, or a sure answer: never start over and lose the fill.
        # Slots still missing, or named outright ("events: ..."), take the new reading;
        # a message it cannot read leaves the fill as it was (the read-back shows it).
        named = labelled_slots(text)
        kept = {k: v for k, v in found.items() if k in named or k not in pending.slots}
        if kept or intent.label == template.id or sure_answer:
            return Decision(PendingDecision.SLOT_ANSWER, _merged(pending.slots, kept))
    return Decision(PendingDecision.NEW_QUESTION)


def _merged(known: dict[str, Any], said: dict[str, Any]) -> dict[str, Any]:
    """What a message adds to the fill: one new item joins a list; a new list replaces it.

    "+ check in at door" adds an operation; "the main things are tools, members and
    tickets" states the entities (the earlier reading may have been a guess).
    """
    merged = {**known, **said}
    if said.get("system") and _same(said["system"], known.get("system")):
        # "ProctorNest" said again: the fuller "ProctorNest (exam platform)" stays
        merged["system"] = max(said["system"], known["system"], key=len)
    for name, value in said.items():
        before = known.get(name)
        grows = len(value) == 1 or name in ("services", "dependencies")  # calls add up
        if isinstance(value, list) and isinstance(before, list) and grows:
            merged[name] = list(dict.fromkeys([*before, *value]))
    return merged


def _template_with(slots: set[str], others: Sequence[PromptTemplate], intent: Intent) -> str | None:
    """The template that has the slots the message labels, the intent's if it has them."""
    fits = [t.id for t in others if slots <= {slot.name for slot in t.slots}]
    return intent.label if intent.label in fits else next(iter(fits), None)


def _system_of(pending: PendingTemplate) -> dict[str, Any]:
    return {"system": pending.slots["system"]} if pending.slots.get("system") else {}


def _new_request(found: dict[str, Any], pending: PendingTemplate, text: str) -> bool:
    """The template asked for again, for another system ("now CAP for our ticket app")."""
    other_system = not _same(found.get("system"), pending.slots.get("system"))
    return other_system and bool(named_templates(text))


def _renamed(slots: dict[str, Any], changed: dict[str, Any]) -> dict[str, Any]:
    """The slots with the changes; a product renamed keeps what it is ("Inkwell (editor)")."""
    old, new = str(slots.get("system") or ""), str(changed.get("system") or "")
    described = name_and_description(old)
    if described and re.fullmatch(r"[A-Z][\w-]*", new):
        changed = {**changed, "system": f"{new} ({described[1]})"}
    return {**slots, **changed}


def _beside_rename(
    template: PromptTemplate,
    text: str,
    answering: str | None,
    changed: dict[str, Any],
    reader: SlotReader,
) -> dict[str, Any]:
    """The asked-for slot, read from the rest of a message that also renames the system.

    "it stores recipes and grocery lists. oh and the app is calld Forkcast btw"
    """
    if not answering or answering in changed or not _SYSTEM_RENAME.search(text):
        return {}
    parts = re.split(r"(?<=[.!?])\s+|\n", text)
    rest = "\n".join(part for part in parts if not _SYSTEM_RENAME.search(part))
    found = reader.read(template, rest, answering) if rest.strip() else {}
    return {answering: found[answering]} if found.get(answering) else {}


def _without_correction_words(text: str) -> str:
    """Turn "no, the system is a hotel chain" -> "the system: a hotel chain" for the extractor."""
    text = re.sub(
        r"^\s*(?:no|nope|not quite|actually|sorry|correction|wait|oops|i meant|change)\b[,:!.]*\s*",
        "",
        text,
        flags=re.IGNORECASE,
    )
    text, renames = _SYSTEM_RENAME.subn(lambda m: f"\nsystem: {m.group('name')}\n", text)
    # Once renamed, "the app is just a client" says no more about the system.
    system = "" if renames else "system|app|"
    return re.sub(
        rf"(?:\b(?:the|our|my)\s+|^\s*)({system}data(?: types?)?|operations|ops|entities|events|"
        r"services|dependencies|calls)\s+(?:is|are|should be|would be)\s+",
        lambda m: f"\n{m.group(1)}: ",
        text,
        flags=re.IGNORECASE,
    )


def _same(said: Any, known: Any) -> bool:
    """No system said, or the one already known.

    "our chat app" is "a chat app", and "ProctorNest" is "ProctorNest (exam platform)".
    """
    if not said:
        return True
    return bool(_system_names(str(said)) & _system_names(str(known or "")))


def _system_names(system: str) -> set[str]:
    """What a system may be called: all of it, or its name or description alone."""
    parts = [system, *(name_and_description(system) or ())]
    return {without_article(part).lower() for part in parts} - {""}
