"""Who calls whom: "A calls B and C", "A depends on B", arrows, and "it" meaning the system."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

from bot.core.lists import ARTICLE as _ARTICLE
from bot.core.lists import MAX_ITEMS, clean_item, split_list, without_article
from bot.core.spelling import one_edit_apart

_CALL_VERBS = (  # "call", "use" and "need" alone are nouns too often ("the call graph")
    r"(?<!the )(?<!The )calls|depends on|depend on|talks to|talk to|invokes|sends requests to|"
    r"hits|queries|relies on|rely on|reaches out to|uses|connects to|posts to|pings|"
    r"fetches from|reads from|writes to|reads(?= (?:the |a |an |our )?[\w-]+ (?:directly|too)\b)|"
    r"goes to|fans out to|is calling|are calling|"
    r"(?:will|would|should|must) (?:also |then |in turn |first )?(?:call|use|hit|query)|"
    r"pulls (?:data )?from|gets data from|sends (?:data |events )?to|notifies|pings|"
    r"(?:both|all|also|then) (?:hit|call|use|query)|call(?=\s+(?:the|a|an|our)\s)|"
    # "Gateway call message service": the bare verb after a service's own name
    r"(?:(?<=service )|(?<=svc )|(?<=api )|(?<=gateway )|(?<=engine )|(?<=server )|"
    r"(?<=app )|(?<=frontend )|(?<=backend )|(?<=worker ))(?:call|hit|query|talk to|use)|"
    r"is using|are using"
)
# "the prediction service doesn't call it directly" names no call.
_NEGATED_CALL = re.compile(
    r",?\s*(?:(?:the|a|an)\s+)?(?:[\w-]+\s+){0,3}"
    r"(?:don'?t|doesn'?t|do not|does not|never|no longer|won'?t)\s+(?:\w+\s+)?"
    r"(?:call|use|hit|query|talk to|depend on|need|calls|uses|hits)\b[^.;,\n]*",
    re.IGNORECASE,
)
# A new clause with its own call: "A hits B, C also hits D, and E hits F".
_NEXT_CLAUSE = re.compile(
    rf",\s*(?:and\s+)?(?=[\w -]{{1,40}}?\s(?:also\s+|then\s+)?(?:{_CALL_VERBS})\b)",
    re.IGNORECASE,
)
# On one line: "*services* ... seat inventory service\n*calls*\n1. ..." is a heading.
_CALLS = re.compile(
    rf"(?P<caller>\b[\w-]+(?:[ \t]+[\w-]+){{0,3}}?)[ \t]+(?:also[ \t]+|then[ \t]+|in turn[ \t]+)?"
    rf"(?:{_CALL_VERBS})[ \t]+(?P<callees>[^.;?!\n]+)",
    re.IGNORECASE,
)
# What a service's name may end in beyond what it does: "search" is the "search service".
_KIND = re.compile(r"[ -](?:service|svc|api|server|db|database|store|engine|app|backend|gateway)$")
_CALLED_BY = re.compile(
    r"(?P<callee>\b[\w-]+(?:[ \t]+[\w-]+)?)[ \t]+(?:that|which)[ \t]+(?:the[ \t]+)?"
    r"(?P<caller>[\w-]+(?:[ \t]+[\w-]+)?)[ \t]+(?:also[ \t]+)?"
    r"(?:calls|uses|hits|queries|talks to|depends on|relies on)(?=[ \t]*(?:[.,;!?\n]|$))",
    re.IGNORECASE,
)
# "calendar-svc is called by billing-svc", "photo storage, it is called by field app sync"
_PASSIVE = re.compile(
    r"(?P<callee>\b[\w-]+(?:[ \t]+[\w-]+){0,3}?)(?:,[ \t]*(?:it|which|that))?[ \t]+"
    r"(?:is|are|gets|get)[ \t]+(?:also[ \t]+|only[ \t]+)?(?:called|used|invoked|queried)[ \t]+"
    r"by[ \t]+(?:the[ \t]+)?(?P<caller>[\w-]+(?:[ \t]+(?!(?:which|that|when|because|to|for|and|"
    r"so|but|as|in|on)\b)[\w-]+){0,3})",
    re.IGNORECASE,
)
_ONWARD = re.compile(rf"\s+(?:{_CALL_VERBS}|call)\s+", re.IGNORECASE)
# "| Service | Calls |" over rows of "| web frontend | auth service, catalog service |"
# (the outer pipes are optional: "web-ui      | pass-api")
_TABLE_ROW = re.compile(r"^[ \t]*\|?([^|\n]*(?:\|[^|\n]*)+?)\|?[ \t]*$")
_CALLS_HEADER = re.compile(r"\b(?:calls?|depends|dependenc|downstream|talks|uses|needs|->)", re.I)
_NO_CALL = re.compile(r"^(?:none|nothing|n/?a|-+|\u2014|\u2013)$", re.I)
# "Frontend BFF \u2014 talks to Classes API": the dash stands between a name and its verb
_NAME_DASH = re.compile(rf"[ \t]+(?:[\u2014\u2013:]|--?)[ \t]+(?=(?:{_CALL_VERBS})\b)", re.I)
_ARROW = re.compile(r"\s*(?:->|\u2192|=>|-->|\u27f6)\s*")
_NOBODY = re.compile(
    r"^(?:we|i|us|everything|everyone|who|what|nothing|nobody|no one|none|anything|something)$",
    re.IGNORECASE,
)
_PRONOUN = re.compile(r"^(?:it|this|that|this thing|the system|the app|the service)$", re.I)


_FUNCTION_WORDS = re.compile(
    rf"^(?:where|when|and|then|which|that|so|while|also|with|for|in|of|to|is|are|first|"
    r"it'?s|its|it is|s|"
    rf"{_ARTICLE})$",
    re.IGNORECASE,
)


def _caller(raw: str) -> str:
    """The service named just before a call: the last words after any function word."""
    words = clean_item(re.split(r"\s[-\u2013\u2014:]+\s|:\s", raw)[-1]).split()
    while words and _FUNCTION_WORDS.match(words[-1]):
        words = words[:-1]  # "it's search that calls listings": "that" ends no name
    words = words[-4:]
    for i in range(len(words) - 1, -1, -1):
        if _FUNCTION_WORDS.match(words[i]):
            words = words[i + 1 :]
            break
    return " ".join(words)


def dependencies(text: str, system: str | None) -> tuple[list[str], list[str]]:
    """Calls as "caller -> callee", and every service they name (in order)."""
    calls: list[str] = []
    services: list[str] = []
    me = without_article(system) if system else None
    text = _NAME_DASH.sub(" ", _table_as_arrows(_config_as_arrows(text)))
    text = _NEXT_CLAUSE.sub("; ", _NEGATED_CALL.sub(" ", text))
    for line in re.split(r"[\n;]|(?<=[.!?])\s+|,\s*(?=[\w -]+(?:->|\u2192|=>))", text):
        parts = [clean_item(p) for p in _ARROW.split(line)]
        if len(parts) < 2:
            continue
        for caller_raw, callee_raw in itertools.pairwise(parts):
            caller = _caller(re.split(r",|;|\band\b", caller_raw)[-1])
            for callee in split_list(callee_raw):
                if caller:
                    calls.append(f"{caller} -> {callee}")
                    services += [caller, callee]
    flat = _ARROW.sub(" -> ", re.sub(r"[*_`]+", "", text))
    for match in _CALLED_BY.finditer(flat):  # "a renderer that the editor calls"
        caller, callee = _caller(match["caller"]), _caller(match["callee"])
        if caller and callee and caller.lower() not in {"we", "i", "it", "they", "you"}:
            calls.append(f"{caller} -> {callee}")
            services += [caller, callee]
    for match in _PASSIVE.finditer(flat):
        caller, callee = _caller(match["caller"]), _caller(match["callee"])
        if caller and callee and not _NOBODY.match(caller) and not _PRONOUN.match(callee):
            calls.append(f"{caller} -> {callee}")
            services += [caller, callee]
    last_callee = ""
    for match in _CALLS.finditer(flat):
        caller = _caller(match.group("caller"))
        if not caller and re.search(r"\b(?:which|that|who)\s*$", match["caller"], re.I):
            caller = last_callee  # "it calls C, which calls D": C calls D
        if not caller or caller.split()[-1].lower() in {"i", "you", "they", "he", "she"}:
            continue  # "which retry I should use for each one" names no call
        if _PRONOUN.match(caller) or (me and caller.lower() in {"we", "i", "us"}):
            if not me:
                continue
            caller = me
        elif _NOBODY.match(caller):
            continue  # "nothing calls it except the frontend" names no caller
        callees = re.split(
            r"\s+(?:for|to|when|so|because|which|that|while|if|but|on a|what|how|where|why|"
            r"should|pls|please|can|could|would|do|does|is|are)\b\s*|\s+-\s+|\s+\d+[.)]\s|"
            r",?\s+not\b",
            re.sub(r"\b(?:and|or|&) to\b", "and", match.group("callees")),  # "A and to B"
            maxsplit=1,
        )[0]
        # "uploader and feed both hit auth": each of them calls it
        co_callers = [_caller(part) for part in re.split(r"\s+and\s+", match["caller"])[:-1]]
        # "... the mailer, and the mailer calls SendGrid": the last callee calls on.
        for segment in _ONWARD.split(callees):
            called = [c for c in split_list(segment) if c.lower() != caller.lower()]
            for source in [*filter(None, co_callers), caller]:
                calls += [f"{source} -> {callee}" for callee in called]
                services += [source, *called]
            if not called:
                break
            caller, co_callers = called[-1], []
            last_callee = caller
    return one_spelling(calls)[:MAX_ITEMS], one_spelling(services)[:MAX_ITEMS]


def one_spelling(names: Iterable[str]) -> list[str]:
    """Each name once, as first written: "Gateway" at a sentence start is the "gateway"."""
    names, first = list(names), {}
    for name in names:
        for side in name.split(" -> "):
            first.setdefault(side.lower(), side)
    spelled = (" -> ".join(first[side.lower()] for side in n.split(" -> ")) for n in names)
    return list(dict.fromkeys(spelled))


# Pasted config: "plow-tracker: {calls: [route-planner]}", "api:\n  depends_on: [db, cache]"
# and, under a "calls:" key, "irrigation-scheduler: [soil-probe, valve-controller]"
_CONFIG_CALLS = re.compile(
    r"(?m)^[ \t]*(?P<caller>[\w.-]+)[ \t]*:[ \t]*(?:(?:\n[ \t]+)?\{?[ \t]*"
    r"(?:calls|depends_on|depends|deps|dependencies|uses)[ \t]*:[ \t]*)?"
    r"\[(?P<callees>[^\]\n]*)\]\}?[ \t]*$"
)
_CONFIG_LABEL = re.compile(
    r"(?:services?|calls|dependencies|deps|depends_on|components|entities|events|data|system|"
    r"ops|operations|name|tags|ports|volumes|environment|networks)",
    re.IGNORECASE,
)


def _config_as_arrows(text: str) -> str:
    def arrow(said: re.Match[str]) -> str:
        if _CONFIG_LABEL.fullmatch(said["caller"]):
            return said[0]  # "services: [a, b]" lists, it calls nothing
        return f"{said['caller']} -> {said['callees']}" if said["callees"].strip() else ""

    return _CONFIG_CALLS.sub(arrow, text)


def _table_as_arrows(text: str) -> str:
    """A pasted table with a "Calls" column as arrow lines: "web frontend -> auth, catalog"."""
    lines = text.splitlines()
    out, column = [], None
    for line in lines:
        row = _TABLE_ROW.match(line)
        if not row:
            out.append(line)
            column = None
            continue
        cells = [cell.strip() for cell in row[1].split("|")]
        if re.fullmatch(r"[\s|:-]+", row[1]):
            continue  # the |---|---| rule
        if column is None:
            column = next((i for i, c in enumerate(cells) if i and _CALLS_HEADER.search(c)), 0)
            out.append(line if not column else "")
            continue
        callees = cells[column] if column < len(cells) else ""
        if column and cells[0] and callees and not _NO_CALL.match(callees):
            out.append(f"{cells[0]} -> {callees}")
        elif not column:
            out.append(line)
    return "\n".join(out)


def without_shared_kind(services: list[str]) -> list[str]:
    """In "editor, search and storage services" the last word names what all of them are."""
    if len(services) < 2 or any(_KIND.search(s.lower()) for s in services[:-1]):
        return services
    *words, kind = services[-1].split() or [""]
    lower = kind.lower()
    shared = lower in {"services", "svcs", "apis", "servers", "backends"} or (
        one_edit_apart(lower, "services") and not "services".startswith(lower)  # "servcies"
    )
    return [*services[:-1], " ".join(words)] if words and shared else services


def without_short_names(services: list[str]) -> list[str]:
    """Services without a short name beside its long one ("search" and "search service")."""
    shortened = {_KIND.sub("", s.lower()) for s in services if _KIND.search(s.lower())}
    return [s for s in services if s.lower() not in shortened]


def snap_calls(calls: list[str], names: list[str]) -> list[str]:
    """Each side of a call named as `names` name its service.

    "thumbnail service before enqueueing a job" is the "thumbnail service" already known.
    """
    known = sorted({n.lower(): n for n in names if n}.items(), key=lambda kv: -len(kv[0]))

    def snap(side: str) -> str:
        lowered = side.lower()
        for key, name in known:
            if key != lowered and _KIND.sub("", key) == lowered:
                return name  # "search -> seat inventory" among "search service", ...
        for key, name in known:
            if lowered == key or lowered.endswith(" " + key) or lowered.startswith(key + " "):
                return name
        return side

    snapped = [[snap(side) for side in call.split(" -> ")] for call in calls]
    return list(dict.fromkeys(" -> ".join(s) for s in snapped if s[0].lower() != s[1].lower()))
