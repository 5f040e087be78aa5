"""Item-level corrections to a template's lists: "not trainers, coaches", "scratch X"."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bot.core.call_edits import (
    ARROWS,
    call_instead,
    calls_renamed,
    edit_calls,
    fewer_calls,
    more_calls,
    rewired,
    with_calls,
)
from bot.core.lists import MAX_ITEMS, clean_item, mentions, split_list, without_article
from bot.core.lists import REMOVE_WORDS as _REMOVE
from bot.core.slots import labelled_slots
from bot.core.system_name import TRIM_SYSTEM
from bot.templates import PromptTemplate

_RENAME = re.compile(
    r"\bnot\b|\binstead\b|\brather\b|\bcalled\b|\bnamed\b|\bcall\b|\brename\w*\b|"
    r"\bshould be\b|\bmeant\b|->|\u2192|\bmake\s+\S.{0,60}?\s(?:just|into)\s|"
    # "replace X with Y", "swap X for Y" ("swap shifts" alone is an operation)
    r"\b(?:replac|swap)\w*\s.{1,60}?\s(?:with|by|for)\s",
    re.IGNORECASE,
)
_RESTATE = re.compile(
    r"(?:^|[,;:\u2014-])\s*(?:(?:so|ok|okay|then|now|i mean|make it)[,\s]+)*(?:just|only)\s+",
    re.IGNORECASE,
)
_FILLER_EDGES = re.compile(
    r"^(?:(?:in our (?:app|system|team)|actually|really|just|called|now|a|an|the|our|my)\s+)+",
    re.IGNORECASE,
)
# Where a rename says the new name; \0 marks where the old name was.
_NEW_NAME = [
    re.compile(p, re.IGNORECASE)
    for p in (
        # "replace X with Y", "swap X for Y", "rename X to Y": before "called", which may follow
        r"\b(?:replac|swap|chang|switch|renam)\w*\s+[\"'\u201c]?\s*\0[\s\"'\u201d]*"
        r"(?:with|by|for|to|into)\s+"
        r"[\"'\u201c]?(?P<new>[^,.;!?\n\0\"'\u201d]+)",
        r"\b(?:called|named|call (?:it|them))\s+(?!by\b)"
        r"[\"'\u201c]?(?P<new>[^,.;!?\n\0\"'\u201d]+)",
        # "could you call 'applicants' 'candidates'?"
        r"\bcall\s+[\"'\u201c\u2018]?\s*\0[\s\"'\u201d\u2019]*(?:instead\s+)?"
        r"[\"'\u201c\u2018]?(?P<new>[^,.;!?\n\0\"'\u201d\u2019]+)",
        r"\0[\s\"'\u201d\u2019]*(?:(?:->|\u2192|=>)(?:\s*renamed?\s+(?:it\s+)?(?:to|as))?|"
        r"should be|is now|becomes|(?:got|was|has been|is)\s+renamed\s+(?:to|as|into))\s+"
        r"(?P<new>[^,.;!?\n\0]+)",
        # "make 'view our feedback' just 'view feedback'"
        r"\bmake\s+[\"'\u201c\u2018]?\s*\0[\s\"'\u201d\u2019]*(?:just|simply|into)?\s*"
        r"[\"'\u201c\u2018]?(?P<new>[^,.;!?\n\0\"'\u201d\u2019]+)",
        r"\b(?:it'?s|its|it is|they'?re|theyre|they are|use|using)\s+(?!not\b)"
        r"(?P<new>[^,.;:!?\n\0\u2014]+?)\s*,?\s*(?:\bnot\b|\binstead\b|$|[.;!?\n\u2014]|\s-\s)",
        r"(?P<new>[^,.;:!?\n\0\u2014]+?)\s+(?:instead of|rather than|not)\s+[\"'\u201c]?\s*\0",
    )
]
# Words that carry the correction, never the new name ("in our app they're called coaches").
_FILLER = re.compile(
    r"\b(?:oh|ah|oops|sorry|no|nope|not|wait|actually|correction|instead|rather|of|it'?s|its|"
    r"they'?re|theyre|they are|it is|is|are|was|were|called|named|call|them|it|we|our|my|the|"
    r"a|an|in|on|i|meant|mean|should|be|rename|renamed|to|with|please|pls|"
    r"and|but|by|that|those|this|these|one|ones|item|items|also|too|just|so|use|using|yet|"
    r"any|anymore|have|has|thing|things)\b",
    re.IGNORECASE,
)


_ADD_INSIDE = re.compile(
    r"\b(?:also add|please add|add|and also|oh and|also|include|"
    r"(?:i )?forgot (?:one|something|a few|some|to (?:say|mention|add)))[\s:\u2014-]+(?P<new>.+)$",
    re.IGNORECASE,
)
_ADD_THAT_AS = re.compile(
    r"\badd (?:that|this|it|one)(?: too| as well)? as\s+[\"'\u201c\u2018]?"
    r"(?P<new>[^\"'\u201d\u2019.;!?\n]+)",
    re.IGNORECASE,
)
_SYSTEM_WORDS = re.compile(r"\b(?:app|application|system|platform|site|service)\b", re.I)
_ADD = re.compile(
    r"^\s*(?:(?:oh|ah|and|also|plus|\+|add|oh and|and also|please add|pls add|you can add|"
    r"forgot|i forgot|we also have|we also keep|there'?s also|there are also)[,:!\s]+)+",
    re.IGNORECASE,
)


_NEGATED = re.compile(
    r"\b(?:not|instead of|rather than)\s+(?:an?\s+|the\s+|our\s+|my\s+)?(?P<said>[\w' -]+)",
    re.IGNORECASE,
)
_NEW_SYSTEM = re.compile(
    r"\b(?:it'?s|its|it is|this is|that'?s|the (?:system|app) is)\s+(?!not\b)(?:for\s+)?"
    r"(?:(?:actually|really|just)\s+)?(?:an?\s+|the\s+|our\s+|my\s+)?"
    r"(?P<new>[^,.;!?\n]+?)\s*,?\s*(?:\bnot\b|$|[.;!?\n])",
    re.IGNORECASE,
)


def _rest(text: str, known: list[str], system: str) -> str:
    """What the message says besides the items it names, its filler and the system."""
    for name in sorted([*known, *system.split()], key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", " ", text, flags=re.IGNORECASE)
    text = _FILLER.sub(" ", _REMOVE.sub(" ", re.sub(r"[^\w\s'-]", " ", text)))
    return " ".join(_SYSTEM_WORDS.sub(" ", text).split())


# "renamed to BoxPlan in the latest version": when it changed is no part of the name
_WHEN = re.compile(
    r"\s+(?:(?:in|from|since|as of|for)\s+(?:the\s+)?(?:latest|new|next|current|last|this)\b.*|"
    r"now|from now on|going forward|these days)\s*$",
    re.IGNORECASE,
)


def _renamed_to(text: str, old: str) -> str | None:
    """The new name in "not X, it's called Y", "it's Y, not X", "Y instead of X", "X -> Y"."""
    # One mention at a time marks the old name: in "rename drafts -> poem drafts" the new
    # name holds the old one.
    for said in re.finditer(rf"(?<!\w){re.escape(old)}(?!\w)", text, flags=re.IGNORECASE):
        marked = f"{text[: said.start()]} \u0000 {text[said.end() :]}"
        for pattern in _NEW_NAME:
            if match := pattern.search(marked):
                new = clean_item(_FILLER_EDGES.sub("", _WHEN.sub("", match.group("new"))))
                if new and len(new.split()) <= 6 and new.lower() != old.lower():
                    return new
    return None


def _restated(text: str) -> list[str] | None:
    """The whole list said again ("so just A, B and C")."""
    for sentence in re.split(r"(?<=[.!?;])\s+|\n", text):
        if (match := _RESTATE.search(sentence)) and len(
            items := split_list(sentence[match.end() :])
        ) >= 2:
            return items
    return None


_MERGE = re.compile(
    r"\b(?:merg|combin|fold)\w*\s+(?P<a>[^,.;!?\n]+?)\s+(?:and|&|with|\+)\s+"
    r"(?P<b>[^,.;!?\n]+?)(?=\s+(?:into|to|as)\b|\s*[,.;!?\n]|\s*$)"
    r"(?:\s+(?:into|to|as)\s+(?:(?:a|one)\s+(?:single\s+)?(?:[\w-]+\s*)?[,:]?\s*)?"
    r"[\"'\u201c\u2018]?(?P<new>[^\"'\u201d\u2019.;!?\n]+))?",
    re.IGNORECASE,
)
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": -1}


def _which_item(items: list[str], said: str) -> int | None:
    """The item `said` points at: by place ("2", "#3", "the second") or by a shared stem."""
    said = re.sub(r"^(?:the|item|no\.?|number|#)\s*", "", said.strip(), flags=re.I)
    said = re.sub(r"^(?:the|item|no\.?|number|#)\s*", "", said, flags=re.I)
    numbered = re.match(r"(\d+)(?:st|nd|rd|th)?\b", said)  # "3", "the 2nd"
    place = int(numbered[1]) if numbered else _ORDINALS.get(said.split()[0].lower(), 0)
    if place:
        return place - 1 if 0 < place <= len(items) else len(items) - 1 if place < 0 else None
    stems = {word[:4].lower() for word in re.findall(r"[a-z]{4,}", said, re.I)}
    for index, item in enumerate(items):
        if stems & {word[:4].lower() for word in re.findall(r"[a-z]{4,}", item, re.I)}:
            return index
    return None


# "A and B are being merged into one service called X"
_MERGED_INTO = re.compile(
    r"(?P<a>[\w' -]+?)\s+(?:and|&)\s+(?P<b>[\w' -]+?)\s+(?:are|were|get|got|will be|have been)\s+"
    r"(?:being\s+)?(?:merged|combined|folded|joined)\s+(?:together\s+)?(?:into|as|to)\s+"
    r"(?:(?:a|one)\s+(?:single\s+)?(?:[\w-]+\s+)?(?:called|named)?\s*)?[\"'\u201c\u2018]?"
    r"(?P<new>[^\"'\u201d\u2019.,;!?\n]+)",
    re.IGNORECASE,
)
_MERGE_THEM = re.compile(
    r"\b(?:merg|combin|fold|join)\w*\s+(?:them|those|these|both|the two)(?:\s+together)?\s+"
    r"(?:into|as|to)\s+(?:(?:a|one)\s+(?:single\s+)?)?[\"'\u201c\u2018]?"
    r"(?P<new>[^\"'\u201d\u2019.;!?\n]+)",
    re.IGNORECASE,
)
_PLACE = re.compile(
    r"\b(?:the\s+)?(?:(\d+)(?:st|nd|rd|th)|(first|second|third|fourth|fifth|last))\b", re.I
)


def _merged_items(items: list[str], text: str) -> list[str] | None:
    """Two items made one: "merge 2 and 3", "we merged enrolling and waitlist into X"."""
    if them := _MERGE_THEM.search(text):
        # "A and B are the same thing, combine them into X", "the 2nd and 3rd ... merge them"
        before = text[: them.start()]
        places = [_which_item(items, m[0]) for m in _PLACE.finditer(before)]
        places += [index for index, item in enumerate(items) if mentions(before, item)]
        new = them["new"]
    elif said := _MERGE.search(text) or _MERGED_INTO.search(text):
        places = [_which_item(items, said[part]) for part in ("a", "b")]
        new = said["new"] or ""
    else:
        return None
    found = sorted({place for place in places if place is not None})
    if not found or len(found) > 2:
        return None
    new = re.sub(r"\s+(?:please|pls|plz|thanks|thx)$", "", clean_item(new), flags=re.I)
    new = new or " and ".join(items[place] for place in found)
    merged = [new if index == found[0] else item for index, item in enumerate(items)]
    return [item for index, item in enumerate(merged) if index not in found[1:]]


_QUOTED = re.compile(
    r"(?<!\w)[\"'\u201c\u2018](?P<new>[^\"'\u201d\u2019\n]{2,60})[\"'\u201d\u2019]"
)
_TO_NAME = re.compile(r"\b(?:to|into|as|->|\u2192)\s+(?P<new>[^,.;!?\n]{2,60})", re.IGNORECASE)
_RENAME_CUE = re.compile(r"\b(?:renam\w*|chang\w*|make|replace\w*|should be|now)\b|->|\u2192", re.I)


def _renamed_in_place(items: list[str], text: str) -> list[str] | None:
    """The list with an item renamed by its place, or None.

    "change the 3rd one to X", "we renamed the second one, it's "sell shares" now".
    """
    if not (place := _PLACE.search(text)) or not _RENAME_CUE.search(text):
        return None
    index = _which_item(items, place[0])
    rest = text[place.end() :]
    said = _QUOTED.search(rest) or _TO_NAME.search(rest)
    if index is None or not said or _REMOVE.search(text[: place.start()]):
        return None
    new = clean_item(_WHEN.sub("", said["new"]))
    if not new or new.lower() == items[index].lower():
        return None
    return [new if number == index else item for number, item in enumerate(items)]


_REMOVED_PART = re.compile(
    rf"{_REMOVE.pattern}\s+(?:the\s+)?(?P<said>[\w'-]+(?:\s+[\w'-]+)?)(?=\s*(?:[,.;!?\n]|$))",
    re.IGNORECASE,
)


_PRONOUN = re.compile(r"(?:it|that|this|them|those)(?: one| ones)?", re.IGNORECASE)
# "drop it", "could you remove that one", "leave that one out"
_REMOVED_IT = re.compile(
    rf"(?:{_REMOVE.pattern}\s+|\b(?:leave|take|cross)\s+)"
    r"(?P<said>it|them|those|(?:that|this)(?: one)?)\b",
    re.IGNORECASE,
)


def _named_in_part(text: str, item: str) -> bool:
    """Whether the text names the item, or its first two words ("speech scoring service")."""
    words = item.split()
    return mentions(text, item) or (len(words) > 2 and mentions(text, " ".join(words[:2])))


_REMOVALS = (_REMOVED_PART, _REMOVED_IT)


def _pointed(items: list[str], text: str) -> str | None:
    """The one item a removal points at by part of its name or its place ("drop leaderboard").

    "it" is the one item the message names before the removal: "speech scoring is a
    third-party thing, could you drop it?"
    """
    said = next((m for r in _REMOVALS if (m := r.search(text))), None)
    if said is None:
        return None
    if _PRONOUN.fullmatch(said["said"]):
        named = [item for item in items if _named_in_part(text[: said.start()], item)]
        return named[0] if len(named) == 1 else None
    if _PLACE.match(said["said"]):
        index = _which_item(items, said["said"])
        return items[index] if index is not None else None
    words = set(said["said"].lower().split())
    holders = [item for item in items if words <= set(item.lower().split())]
    return holders[0] if len(holders) == 1 else None


def _edit_list(
    items: list[str], text: str, system: str, elsewhere: Sequence[str] = ()
) -> list[str] | None:
    """The list as the message edits it; `elsewhere` are the template's other items."""
    if merged := _merged_items(items, text):
        return merged
    if renamed := _renamed_in_place(items, text):
        return renamed
    said = [other for other in [*items, *elsewhere] if mentions(text, other)]
    # "drop artist followed" drops that event, not the entity "artist" inside it
    mentioned = [
        item
        for item in items
        if mentions(text, item)
        and not any(item.lower() in o.lower() and o.lower() != item.lower() for o in said)
    ]
    if not mentioned:
        pointed = _pointed(items, text)
        return [item for item in items if item != pointed] if pointed else None
    if restated := _restated(text):
        return restated  # "so just move card, add comment, view board"
    removed = [
        item
        for item in mentioned
        if re.search(rf"{_REMOVE.pattern}\W+(?:the\s+)?{re.escape(item)}\b", text, re.I)
    ]
    if removed:
        kept = [item for item in items if item not in removed]  # "remove X, it's derived"
        return _added(kept, text) or kept  # "... and add Y"
    if len(mentioned) == 1 and _RENAME.search(text):
        if new := _renamed_to(text, mentioned[0]):
            renamed = [new if item == mentioned[0] else item for item in items]
            return _then_added(renamed, text)
        rest = clean_item(_rest(text, items, system))
        if rest and len(rest.split()) <= 4:
            return [rest if item == mentioned[0] else item for item in items]
    if not clean_item(_rest(text, items, system)) and _REMOVE.search(text):
        return [item for item in items if item not in mentioned]
    if pointed := _pointed(items, text):  # "the band plan is static, so leave that one out"
        kept = [item for item in items if item != pointed]
        return _added(kept, text) or kept


def _edit_system(system: str, text: str) -> str | None:
    """A new name for the system, said beside the old ("a hostel app, not a hotel app")."""
    old = without_article(system)
    words = {w.lower() for w in re.findall(r"[\w'-]+", old)} - {"app", "system", "site"}
    negated = _NEGATED.search(text)
    if not old or not negated:
        return None
    if not words & {w.lower() for w in re.findall(r"[\w'-]+", negated.group("said"))}:
        return None  # the "not" is about something else
    if match := _NEW_SYSTEM.search(text):
        new = clean_item(TRIM_SYSTEM.sub("", match.group("new")))
    else:
        said = re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", " ", text, flags=re.IGNORECASE)
        new = " ".join(_FILLER.sub(" ", re.sub(r"[^\w\s'-]", " ", said)).split())
    return new if 0 < len(new.split()) <= 6 and new.lower() != old.lower() else None


# "I wrote ride-sharing but I meant bike-sharing": a word of the system swapped for another
_SAID_MEANT = re.compile(
    r"\b(?:i|we)\s+(?:wrote|said|typed|put|kept saying)\s+[\"'\u201c]?"
    r"(?P<old>[^,.;!?\"'\u201d]{2,40}?)[\"'\u201d]?\s*,?\s+(?:but|when)\s+(?:i\s+|we\s+)?"
    r"(?:meant|mean|should have (?:said|written)|it'?s|it is)(?:\s+(?:really|actually))?\s+"
    r"[\"'\u201c]?(?P<new>[^,.;!?\"'\u201d\n]{2,40})",
    re.IGNORECASE,
)


def _swapped(system: str, text: str) -> str | None:
    """The system with the word the student meant in place of the one they wrote."""
    if not (match := _SAID_MEANT.search(text)):
        return None
    old, new = match.group("old").strip(), without_article(match.group("new").strip())
    if len(new.split()) > 3 or not re.search(rf"(?<!\w){re.escape(old)}(?!\w)", system, re.I):
        return None
    return re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", new, system, count=1, flags=re.I)


def _then_added(items: list[str], text: str) -> list[str]:
    """The items, with what a later sentence adds ("rename X -> Y. also add Z")."""
    for sentence in re.split(r"(?<=[.;!?])\s+|\n", text)[1:]:
        if _ADD.match(sentence) and (more := _added(items, sentence)):
            return more
    return items


def _added(items: list[str], text: str) -> list[str] | None:
    """Items to add ("oh and also loyalty points", "also add X", "and X too")."""
    if len(text.split()) > 16 or "?" in text:
        return None
    if added_as := _ADD_THAT_AS.search(text):
        said = added_as["new"]  # "jury members can change their vote, add that as 'X'"
    elif _ADD.match(text):
        said = _ADD.sub("", text)
    elif match := _ADD_INSIDE.search(text):
        said = match.group("new")
    else:
        return None
    if re.match(
        r"(?:it'?s|its|it is|this is|that'?s|we'?re|we are|(?:the\s+)?(?:system|project|app|"
        r"product)'?s?\s+(?:name|is|called))\b",
        said,
        re.IGNORECASE,
    ):
        return None  # "oh its a bird app", "also system name is X" name the system, add no item
    said = re.sub(r"\s+(?:too|as well|also)\b.*$", "", said, flags=re.IGNORECASE)
    # "FlockLog also stores user reputation": the verb is no part of the item
    said = re.sub(r"^(?:stores?|keeps?|tracks?|has|have|holds?|needs?)\s+", "", said, flags=re.I)
    said = re.split(r"[,;]\s*(?:almost|i forgot|forgot|we|it|that|those|since|because)\b", said)[0]
    new = [i for i in split_list(said) if i.lower() not in {x.lower() for x in items}]
    return [*items, *new] if new else None


_ADDED_AS = re.compile(
    r"\b(?:add|include|put|plus)\s+(?P<new>[^.;!?\n]+?)\s+(?:as|to|in|into)\s+"
    r"(?:(?:an?|the|my|our)\s+)?(?:(?:new|another|one more)\s+)?"
    r"(?P<kind>events?|entit(?:y|ies)|operations?|ops?|services?|data\s*types?)\b",
    re.IGNORECASE,
)
# "we added a PaymentFailed event", "add event customs hold placed"
_ADDED_KIND = re.compile(
    r"\b(?:add(?:ed)?|include[ds]?|plus)\s+(?:(?:an?|the|one more|another)\s+)?(?:new\s+)?"
    r"(?:(?P<new>[\w-]+(?:\s+[\w-]+){0,3}?)\s+(?P<kind>event|entity|operation|service)s?\b"
    r"|(?P<kind2>events?|entit(?:y|ies)|operations?|services?)\s*:?\s+(?P<new2>[^.;!?\n]+))",
    re.IGNORECASE,
)
_KIND_SLOTS = {"ev": "events", "en": "entities", "op": "operations", "se": "services"}


def _added_as(template: PromptTemplate, slots: dict[str, Any], text: str) -> dict[str, Any]:
    """An item added to the list the message names: "also add X as an event"."""
    said = _ADDED_AS.search(text)
    if said is None and (kind := _ADDED_KIND.search(text)):
        said = {"new": kind["new"] or kind["new2"], "kind": kind["kind"] or kind["kind2"]}
    if not said:
        return {}
    slot = _KIND_SLOTS.get(said["kind"][:2].lower(), "data_types")
    if slot not in {s.name for s in template.slots}:
        return {}
    items = list(slots.get(slot) or [])
    new = [i for i in split_list(said["new"]) if i.lower() not in {x.lower() for x in items}]
    return {slot: [*items, *new][:MAX_ITEMS]} if new else {}


_BULLETED = re.compile(r"^[ \t]*(?:[-*\u2022]|\d+[.)])[ \t]+")
_RENAMING = re.compile(r"^\W*(?:(?:pls|please|also|and)\s+)?renam\w*\b", re.IGNORECASE)


def edit_items(template: PromptTemplate, slots: dict[str, Any], text: str) -> dict[str, Any]:
    """The slots a message edits in place (an item, the system's name); {} when none."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) >= 2 and all(_BULLETED.match(line) for line in lines):
        # "- rename A -> B\n- the dashboard calls C": each bullet is an edit of its own
        edited: dict[str, Any] = {}
        for line in lines:
            edited |= _edit_once(template, {**slots, **edited}, _BULLETED.sub("", line))
        return edited
    return _edit_once(template, slots, text)


def _edit_once(template: PromptTemplate, slots: dict[str, Any], text: str) -> dict[str, Any]:
    if added := _added_as(template, slots, text):
        # "A got renamed to B, and we added a C event": the other list's edit stands too
        (kind,) = added
        others = [s for s in template.slots if s.name != kind]
        rest = _edited(replace(template, slots=tuple(others)), slots, text) if others else {}
        return {**{k: v for k, v in rest.items() if k != kind}, **added}
    return _edited(template, slots, text)


def _edited(template: PromptTemplate, slots: dict[str, Any], text: str) -> dict[str, Any]:
    system = str(slots.get("system") or "")
    if system and (swapped := _swapped(system, text)):
        return {"system": swapped}
    changed: dict[str, Any] = {}
    renaming = bool(_RENAMING.match(text))  # "rename alerting -> pager service" is no call
    if slots.get("dependencies") and slots.get("services") and not renaming:
        for rewire in (call_instead, rewired):
            if (calls := rewire(slots["dependencies"], slots["services"], text)) is not None:
                return with_calls(slots, calls)
        calls = edit_calls(list(slots["dependencies"]), list(slots["services"]), text)
        if calls is not None and calls != slots["dependencies"]:
            changed["dependencies"] = calls
            return changed
        if fewer := fewer_calls(slots["dependencies"], text):
            return {"dependencies": fewer}  # "drop payments -> email, it's queued now"
        if more := more_calls(slots, text, system):
            return more  # "oh and there's a notifs svc too, booking -> notifs"
    calls_slot = "dependencies" in {slot.name for slot in template.slots}
    if calls_slot and ARROWS.search(text) and not renaming:
        return changed  # arrows there are calls, never a rename ("gateway -> search")
    named = labelled_slots(text)
    for slot in template.slots:
        if slot.type != "list" or slot.name == "dependencies" or not slots.get(slot.name):
            continue
        if named and slot.name not in named:
            continue  # "oh and events are A, B": added to the events, not the entities
        items = list(slots[slot.name])
        elsewhere = [
            other
            for other_slot in template.slots
            if other_slot.name != slot.name and other_slot.type == "list"
            for other in slots.get(other_slot.name) or []
        ]
        edited = _edit_list(items, text, system, elsewhere)
        if edited is None and not changed:
            edited = _added(items, text)
        if edited is not None and edited != items:
            changed[slot.name] = edited
            if slot.name == "services" and slots.get("dependencies"):
                changed["dependencies"] = calls_renamed(slots["dependencies"], items, edited)
    if not changed and system and (renamed := _edit_system(system, text)):
        return {"system": renamed}
    return changed
