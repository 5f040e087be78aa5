"""Corrections to a template's calls: "A no longer calls B", "X -> Y instead of X -> Z"."""

from __future__ import annotations

import re
from typing import Any

from bot.core.calls import dependencies, snap_calls
from bot.core.lists import MAX_ITEMS
from bot.core.lists import REMOVE_WORDS as _REMOVE

ARROWS = re.compile(r"->|\u2192|=>")
_REVERSED = re.compile(
    r"\b(?:other way (?:a)?round|the opposite|reverse[ds]?|backwards|wrong (?:way|direction)|"
    r"not the other)\b",
    re.IGNORECASE,
)


def edit_calls(calls: list[str], services: list[str], text: str) -> list[str] | None:
    """A call rewired ("fraud check is called by payments, not api"): a new caller."""
    known = {s.lower(): s for s in services}
    names = "|".join(re.escape(s) for s in sorted(services, key=len, reverse=True))
    passive = re.compile(
        rf"(?P<callee>{names})\s+(?:is|are|gets|get)\s+(?:called|used|invoked)\s+by\s+"
        rf"(?:the\s+)?(?P<caller>{names})",
        re.IGNORECASE,
    )
    new = [f"{m.group('caller')} -> {m.group('callee')}" for m in passive.finditer(text)]
    dropped = {
        m.group(1).lower()
        for m in re.finditer(rf"\bnot\s+(?:by\s+)?(?:the\s+)?({names})\b", text, re.I)
    }
    if not new:
        active = re.sub(rf",?\s*\bnot\s+(?:by\s+)?(?:the\s+)?(?:{names})\b", "", text, flags=re.I)
        new = snap_calls(dependencies(active, None)[0], services)
    new = [
        " -> ".join(known[side.lower()] for side in call.split(" -> "))
        for call in new
        if all(side.lower() in known for side in call.split(" -> "))
    ]
    if not new:
        return None
    callees = {call.split(" -> ")[1].lower() for call in new}
    if not dropped and re.search(r"\b(?:also|too|as well|additionally)\b", text, re.I):
        return list(dict.fromkeys([*calls, *new]))  # "web-ui also reads cache": one more

    # "it's search that calls listings, not the other way round": the reverse goes
    reversed_calls = (
        {" -> ".join(call.lower().split(" -> ")[::-1]) for call in new}
        if _REVERSED.search(text)
        else set()
    )

    def replaced(call: str) -> bool:
        caller, _, callee = call.lower().partition(" -> ")
        if reversed_calls:
            return call.lower() in reversed_calls
        return callee in callees and (not dropped or caller in dropped)

    return list(dict.fromkeys([*(c for c in calls if not replaced(c)), *new]))


_NO_LONGER = (
    r"(?:does\s+not|doesn'?t|no\s+longer|never|do\s+not|don'?t|won'?t)\s+(?:\w+\s+)?"
    r"(?:calls?|use|uses|hits?|query|queries|talks?\s+to|depends?\s+on)\s+(?:the\s+)?"
)


_SIDE = r"[\w-]+(?:[ \t]+[\w-]+){0,2}"
_CALL_INSTEAD = re.compile(
    rf"(?P<new>{_SIDE}\s*(?:->|\u2192|=>)\s*{_SIDE})\s+(?:instead of|rather than|not)\s+"
    rf"(?P<old>{_SIDE}\s*(?:->|\u2192|=>)\s*{_SIDE})",
    re.IGNORECASE,
)


def call_instead(calls: list[str], services: list[str], text: str) -> list[str] | None:
    """One call for another: "notifier -> user-prefs instead of matcher -> user-prefs"."""
    if not (said := _CALL_INSTEAD.search(re.sub(r"[*_`]+", "", text))):
        return None
    new = snap_calls(dependencies(said["new"], None)[0], services)
    old = {c.lower() for c in snap_calls(dependencies(said["old"], None)[0], services)}
    if not new or not old & {c.lower() for c in calls}:
        return None
    return list(dict.fromkeys([*(c for c in calls if c.lower() not in old), *new]))


def _with_short_names(services: list[str]) -> dict[str, str]:
    """Each service by its name, and by its last word where no other service ends so."""
    known = {s.lower(): s for s in services}
    last = [s.lower().split()[-1] for s in services if len(s.split()) > 1]
    for service in services:
        word = service.lower().split()[-1]
        if len(service.split()) > 1 and last.count(word) == 1 and word not in known:
            known[word] = service  # "the gateway" is the "sensor gateway"
    return known


def rewired(calls: list[str], services: list[str], text: str) -> list[str] | None:
    """A call replaced in prose: "A no longer calls B directly. It calls C, which calls B"."""
    known = _with_short_names(services)
    names = "|".join(re.escape(s) for s in sorted(known, key=len, reverse=True))
    said = re.search(rf"(?P<caller>{names})\s+{_NO_LONGER}(?P<callee>{names})\b", text, re.I)
    if not said:
        return None
    caller, callee = known[said["caller"].lower()], known[said["callee"].lower()]
    # "... directly. It calls C instead", "... directly, it calls C": the pronoun is the
    # service that no longer makes the call
    after = re.sub(r"^\s*(?:directly|anymore|any more)?\s*[,.;\n]?", "", text[said.end() :])
    rest = re.sub(r"^\s*(?:but\s+|instead,?\s+)?(?:it|they)\b", caller, after, flags=re.I)
    new = [c for c in dependencies(rest, None)[0] if c.lower() != f"{caller} -> {callee}".lower()]
    new = snap_calls(new, services)
    kept = [c for c in calls if c.lower() != f"{caller} -> {callee}".lower()]
    return list(dict.fromkeys([*kept, *new]))


def fewer_calls(calls: list[str], text: str) -> list[str] | None:
    """The calls without those a message removes ("drop payments -> email")."""
    if not _REMOVE.search(text):
        return None
    said = {c.lower() for c in dependencies(_REMOVE.sub(" ", text), None)[0]}
    kept = [call for call in calls if call.lower() not in said]
    return kept if len(kept) < len(calls) else None


def more_calls(slots: dict[str, Any], text: str, system: str) -> dict[str, Any]:
    """Calls a message adds, with any service they bring along; {} when none."""
    said_calls = re.search(
        r"->|\u2192|=>|\b(?:calls|depends on|talks to|uses|reads|hits|queries|called by)\b",
        text,
        re.I,
    )
    if not said_calls or _REMOVE.search(text):
        return {}
    found = snap_calls(dependencies(text, system or None)[0], list(slots["services"]))
    known = {call.lower() for call in slots["dependencies"]}
    calls = [call for call in found if call.lower() not in known]
    if not calls:
        return {}
    return with_calls(slots, [*slots["dependencies"], *calls])


def with_calls(slots: dict[str, Any], calls: list[str]) -> dict[str, Any]:
    """The calls, and the services they name that were not listed yet."""
    services = list(slots.get("services") or [])
    listed = {name.lower() for name in services}
    sides = [side for call in calls for side in call.split(" -> ")]
    services += [side for side in dict.fromkeys(sides) if side.lower() not in listed]
    return {"dependencies": calls, "services": services[:MAX_ITEMS]}


def calls_renamed(calls: list[str], before: list[str], after: list[str]) -> list[str]:
    """The calls once services are renamed or merged; a dropped service's calls go too."""
    if len(after) == len(before):
        renames = dict(zip(before, after, strict=True))
    else:  # "A and B merged into C": both become the one new name
        new = [item for item in after if item not in before]
        gone = [item for item in before if item not in after]
        renames = {old: new[0] for old in gone} if len(new) == 1 else {}
    sides = [[renames.get(side, side) for side in call.split(" -> ")] for call in calls]
    kept = [s for s in sides if s[0] != s[1] and all(side in after for side in s)]
    return list(dict.fromkeys(" -> ".join(s) for s in kept))
