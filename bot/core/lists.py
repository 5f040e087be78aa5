"""Lists as students write them: split, cleaned of filler, capped; events told from things."""

from __future__ import annotations

import re

MAX_ITEMS = 15
MAX_ITEM_CHARS = 80
MAX_ITEM_WORDS = 6
# Words that make a fragment a clause ("we're debating how it should behave"), not an item.
_CLAUSE = re.compile(
    r"\b(?:we|i|you|we're|i'm|you're|should|would|could|can you|please|pls|how|what|why|"
    r"which|is it|are they|do we|does it)\b",
    re.IGNORECASE,
)

# The list slot an unlabelled list in prose fills ("with A, B and C"), per template slot set.
_LIST_SPLIT = re.compile(
    r"\s*(?:,|;|\band\b|\bn\b|\bor\b|&|\+|\bplus\b|\bas well as\b|\balong with\b|/|\n|\u2022|\||"
    r"->|\u2192|=>)\s*",
    re.IGNORECASE,
)
ARTICLE = r"(?:a|an|the|our|my|their|this|that|some|its|his|her|all)"
_LEADING_FILLER = re.compile(
    rf"^(?:also|then|maybe|like|e\.g\.?|i\.e\.?|etc|and|or|are|is|r|were|was|{ARTICLE}|"
    r"stuff like|things like|"
    r"such as|think|including|mainly|mostly|basically|just|only|both|with)\s+",
    re.IGNORECASE,
)
_TRAILING_FILLER = re.compile(
    r"\s+(?:etc\.?|and so on|and more|too|as well|also|tbh|ngl|lol|imo|i think|i guess|"
    r"(?:in|on|within|inside) (?:our|my|the) "
    r"(?:system|app|codebase|code|db|database|platform|setup|backend|schema|model|project))$",
    re.I,
)
_NOT_AN_ITEM = re.compile(
    # the course's own vocabulary names what to design, never a part of the system
    r"^(?:consumers?|producers?|ordering|idempoten\w*|dlqs?|dead[- ]letter\w*|retr(?:y|ies)|"
    r"timeouts?|circuit[- ]breakers?|breakers?|bulkheads?|event sourcing|consistency|strong|"
    r"causal|eventual|cp|ap|partitions?|design the events|fallbacks?|"
    r"it|this|that|these|those|them|they|stuff|things|etc|more|others?|so on|"
    r"the rest|lots?|many|few|some|all|each|every|please|thanks?|yes|no|ok|okay|sorry|nvm|"
    r"never ?mind|actually|actualy|oops|wait|hmm+|lol|btw|idk|tbh|ngl|(?:ok(?:ay)?\s+)?got it|"
    r"makes sense|i see|thank you|cool|great)$",
    re.IGNORECASE,
)


EDGE_SYMBOLS = re.compile(r"^[^\w(\[\"']+|(?<=[\w)])[^\w)+#]+$")


def without_article(name: str) -> str:
    """The name without a leading article or possessive: "our chat app" is "chat app"."""
    return re.sub(rf"^{ARTICLE}\s+", "", name, flags=re.IGNORECASE)


def mentions(text: str, name: str) -> bool:
    """Whether `text` says `name` as whole words, in any case."""
    return bool(re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE))


def clean_item(raw: str) -> str:
    """One list item without markdown, bullets, articles or trailing filler."""
    # "skier_accounts" keeps its underscore; "_bold_" loses its marks
    unmarked = re.sub(r"[*`~]+|(?<![^\W_])_+|_+(?![^\W_])", "", raw)
    item = unmarked.strip(" \t'\"\u201c\u201d\u2018\u2019.:-()[]{}<>!?")
    item = re.sub(r"^(?:[-\u2022\u25e6+>]|\d+[.)])\s*", "", item)
    while (stripped := _LEADING_FILLER.sub("", item)) != item:
        item = stripped
    item = _TRAILING_FILLER.sub("", item).strip(" .,:;")
    item = EDGE_SYMBOLS.sub("", item)  # "brewery tracker 🍺", "→ orders"
    for opener, closer in ("()", "[]", "{}"):
        # "GET /orders/{id}" keeps the brace that closes one it opened
        if (open_ := item.count(opener) - item.count(closer)) > 0 and item + closer * open_ in raw:
            item += closer * open_
    return " ".join(item.split())


def split_list(text: str) -> list[str]:
    """Split "a, b and c" into items, trimmed, de-duplicated, capped at MAX_ITEMS."""
    text = re.sub(r"\([^)]*\)", " ", text)  # "(e.g. ...)" asides are not items
    items: list[str] = []
    for raw in _LIST_SPLIT.split(text):
        item = clean_item(raw)
        if len(item.split()) > MAX_ITEM_WORDS or _CLAUSE.search(item):
            continue  # a clause of the sentence around the list, not an item
        if item and not _NOT_AN_ITEM.match(item) and item.lower() not in {i.lower() for i in items}:
            items.append(item[:MAX_ITEM_CHARS])
    return items[:MAX_ITEMS]


_EVENT_WORD = re.compile(
    r"\b(?:\w+ed|sent|paid|bought|sold|made|held|built|done|taken|given|broken|out|won|lost|"
    r"left|met|set|shipped|opened|closed|created|updated|deleted|cancel+ed|failed)\b",
    re.IGNORECASE,
)


def looks_like_events(items: list[str]) -> bool:
    """Most items name something that happened ("order placed", "payment failed")."""
    return bool(items) and sum(bool(_EVENT_WORD.search(i)) for i in items) * 2 > len(items)


# Words that take an item out of a list ("scratch X", "leave out Y").
REMOVE_WORDS = re.compile(
    r"\b(?:scratch(?:ed)?|remove[ds]?|drop(?:ped)?|delete[ds]?|forget|get rid of|without|"
    r"no longer|skip|take out|leave out|cross out|cut|exclude[ds]?|don'?t have|dont have|"
    r"(?:leave|take|cross) (?:it|that|them|this|those)(?: one| ones)? out|"
    r"do not have|doesn'?t exist|not needed)\b",
    re.IGNORECASE,
)
