"""The system a student names ("we run a food ordering API"): found, cleaned, never a pronoun."""

from __future__ import annotations

import re

from bot.core.lists import ARTICLE as _ARTICLE
from bot.core.lists import EDGE_SYMBOLS, MAX_ITEM_CHARS

_HEAD_NOUNS = (
    r"app|apps|application|service|system|platform|site|website|web ?site|api|backend|product|"
    r"game|store|shop|marketplace|bank|startup|tool|gateway|server|cluster|pipeline|engine|"
    r"network|clone|saas|portal|exchange|network|tracker|manager|dashboard|feed|checkout|"
    r"chain|company|business|network|registry|wallet|sim|simulator|bot|board|hub|kiosk|"
    r"program|solution|project|infrastructure|infra|stack|provider|agency|hospital|clinic|"
    r"school|university|library|garage|hotel|airline|restaurant|shop|pharmacy|fleet|"
    r"ecosystem|suite|client|ledger|workflow|lms|crm|erp|cms|pos|iot|monolith|aggregator|"
    r"catalogue|catalog|lobby|scheduler|editor|whiteboard|forum|exchange|lab|clone|"
    r"marketplace|network|service|orchestrator|processor|platforms|apps|systems"
)
_STOP = (
    r"with|where|that|which|who|whose|using|in which|to|so|when|if|because|since|but|"
    r"and (?:it|we|i|they|the|there)|while|it|its|is|are|was|has|have|had|needs?|must|should|"
    r"will|would|can|could|does|do|calls?|talks?|depends?|uses?|stores?|handles?|tracks?|"
    r"keeps?|lets?|allows?|serves?|runs?|relies|consists?|includes?|like|such as|including|"
    r"for|on|at|from|by|of (?:the|its|our)|data|services|operations|entities|events|dependencies|"
    r"the|a|an|our|my|we|i|they|you|here|please|pls|plz|thanks|right now|today|\d"
)
_WORD = r"[\w'&+-]+(?:\.\w+)*"  # "node.js" is one word; a full stop ends the phrase
_PHRASE = rf"{_WORD}(?:\s+{_WORD}){{0,6}}?"
# A word that may qualify a system's head noun ("hotel booking site"), not a function word.
_MODIFIER = (
    r"(?:(?!(?:and|or|the|a|an|with|for|to|of|in|on|that|which|is|are|analysis|design|models?|"
    r"cap|trade-?offs?|consistency|resilience|events|architecture)\b)[\w'&+-]+\s+)"
)
_HEAD = rf"{_MODIFIER}{{0,4}}(?:{_HEAD_NOUNS})(?:\s+(?:{_HEAD_NOUNS}))*\b"
_SUBJECT = r"(?:we|i|our (?:team|company|startup|org|group)|my (?:team|company|startup))"
_BUILD_VERBS = (
    r"run|runs|running|build|builds|building|built|have|has|got|operate|operates|operating|"
    r"own|owns|maintain|maintains|maintaining|make|makes|making|develop|develops|developing|"
    r"work on|working on|design|designing|launch|launching|create|creating|ship|shipping|"
    r"write|writing|manage|manages|managing|started|starting|host|hosting"
)
_REBUILD_VERBS = (
    r"moderni[sz]\w*|redesign\w*|rebuild\w*|re-?architect\w*|migrat\w*|refactor\w*|"
    r"scal(?:e|ing)|split(?:ting)?|harden\w*"
)
_ENDS = rf"(?=\s*(?:[.,;:?!()\n]|$)|\s+-\s|\s+(?:{_STOP})\b)"
_SYSTEM_PATTERNS = [
    # "we run a food ordering API", "our team runs a salon booking app", "I've got X"
    re.compile(
        rf"\b{_SUBJECT}\s*(?:'re|'m|'ve|are|am|have)?\s*(?:currently\s+|now\s+|basically\s+)?"
        rf"(?:{_BUILD_VERBS})\s+(?P<system>(?:{_ARTICLE}\s+)?{_PHRASE}){_ENDS}",
        re.IGNORECASE,
    ),
    # A title line: "Helpdesk tool – event-driven redesign", "*Loyalty program – resilience review*"
    re.compile(
        r"^[\W_]*(?P<system>[\w'&+ -]{3,50}?)\s+[\u2013\u2014-]\s+[\w -]{0,30}"
        r"(?:redesign|review|design|plan|analysis|resilience|events?|notes|proposal|doc)\b",
        re.IGNORECASE,
    ),
    # "cap analysis hospital records system", "consistency models for our calendar app"
    re.compile(
        r"\b(?:analysis|analy[sz]e|design|models?|tolerance|resilience|resilient|architecture|"
        r"events|trade-?offs?|cap|consistency|ap|cp)\s+(?:for\s+|of\s+|in\s+|on\s+)?"
        rf"(?P<system>(?:{_ARTICLE}\s+)?{_HEAD})",
        re.IGNORECASE,
    ),
    # "our fantasy football app gets hammered", "my chat app"
    re.compile(rf"\b(?P<system>(?:our|my)\s+{_HEAD})", re.IGNORECASE),
    # "modernise the admissions system", "redesigning the warehouse robot control system"
    re.compile(rf"\b(?:{_REBUILD_VERBS})\s+(?P<system>(?:the|our|my|a|an|this)\s+{_HEAD})", re.I),
    # "for a ride-sharing app", "in my chat app", "X is a news aggregator"
    re.compile(
        rf"\b(?:for|of|in|on|into|about|behind|is|as)\s+(?P<system>(?:{_ARTICLE}\s+)?{_HEAD})",
        re.IGNORECASE,
    ),
    # "for LoyaltyHub", "for StreamBox": a product's own name
    re.compile(r"\bfor\s+(?P<system>[A-Z][a-z]+[A-Z]\w+)\b"),
    # "url shortener resilience: ...", "music streaming service cap: ..." (terse)
    re.compile(
        r"^\W*(?!(?:help|need|can|could|what|how|do|does|please|pls|i|we|which|is|are|why|"
        r"apply|run|make|give|write|create|start|try|fill|use|explain|describe|my|our)\b)"
        r"(?P<system>(?:[\w'&+-]+\s+){0,3}[\w'&+-]+)\s+(?:cap|consistency|consistncy|"
        r"resilience|resilince|events?|event-driven|fault[- ]tolerance|trade-?offs?)\b",
        re.IGNORECASE,
    ),
    # "Chat app needs to ...", "Photo printing service keeps dying", at a sentence's start
    re.compile(
        rf"(?:^|[.!?\n]\s*)(?P<system>(?:{_ARTICLE}\s+)?{_HEAD})\s+"
        r"(?:needs?|has|must|should|is|will|handles|stores|keeps|gets|runs)\b",
        re.IGNORECASE,
    ),
    # "the checkout service", "a chat app"
    re.compile(rf"\b(?P<system>(?:the|a|an)\s+{_HEAD})", re.IGNORECASE),
    # "for our farm sensor platfrom": typed in a hurry, but still the student's own system
    re.compile(rf"\bfor\s+(?P<system>(?:our|my)\s+{_PHRASE}){_ENDS}", re.IGNORECASE),
]
_NOT_A_SYSTEM = re.compile(
    rf"^(?:{_ARTICLE}\s+)?(?:partition|network partition|example|instance|me|us|it|this|that|"
    # a placeholder for the system, not its name: "my project", "our uni homework"
    r"(?:(?:side|group|final|course|class|uni|school|capstone|pet|team|personal)\s+)?"
    r"(?:proj\w*|homework|coursework|assignment|capstone|thing|idea|exercise)|"
    r"app|application|site|website|platform|backend|product|software|"
    r"interview|failure|system|data types?|services?|operations|entities|events|each|them|"
    r"case|way|time|moment|outage|trade-?offs?|cap|consistency|design|analysis|parts?|"
    r"fault tolerance|resilience|events? design|the following|following|mind|while|bit|"
    r"\w+ (?:analysis|design|trade-?offs?|strategy|model|architecture))$",
    re.IGNORECASE,
)
_TRIM_SYSTEM = re.compile(r"\s+(?:here|now|today|please|pls|plz|too|also|again)$", re.I)
# "study room booking app for our campus" is the study room booking app; but "platform for
# renting kayaks" keeps its phrase, as "platform" alone names nothing.
_QUALIFIED = re.compile(
    rf"^((?:{_ARTICLE}\s+)?{_MODIFIER}{{1,4}}(?:{_HEAD_NOUNS}))\s+(?:for|of|at|in|with|across|serving)\s+\S.*$",
    re.IGNORECASE,
)


_NOT_IN_A_NAME = re.compile(
    r"\b(?:you|u|do|does|can|cn|could|pls|plz|please|help|need|hey|hi|hello|wat|what|whats|how|it|"
    r"is|are|be|am|i|we|me|us|they|so|explain|describe|define|tell|compare)\b",
    re.IGNORECASE,
)
_TRAILING_FUNCTION = re.compile(
    r"(?:\s+(?:which|that|with|for|and|or|but|so|then|the|a|an|where|when|to|of|in))+$", re.I
)


def clean_system(raw: str) -> str | None:
    system = " ".join(re.sub(r"[*_`]+", "", raw).split()).strip(" '\"-,.:;")
    system = EDGE_SYMBOLS.sub("", system)
    system = _TRAILING_FUNCTION.sub("", system)
    if _NOT_IN_A_NAME.search(re.sub(rf"^{_ARTICLE}\s+", "", system, flags=re.I)):
        return None
    system = re.split(r",?\s+(?:not|instead of|rather than)\s", system, maxsplit=1)[0]
    system = re.sub(r"\s+(?:and|or|but|so|then)$", "", _TRIM_SYSTEM.sub("", system), flags=re.I)
    system = _QUALIFIED.sub(r"\1", system)
    if not re.search(r"[A-Za-z0-9]{2}", system) or _NOT_A_SYSTEM.match(system):
        return None
    if re.fullmatch(
        rf"(?:{_ARTICLE}|in|on|at|of|for|to|it|is|we|i|you|\w+sel(?:f|ves)|us|them)", system, re.I
    ):
        return None  # "something we built ourselves" names no system
    return system[:MAX_ITEM_CHARS]


def find_system(text: str) -> str | None:
    """The system the student names, e.g. "a ride-sharing app"; pronouns never count."""
    flat = re.sub(r"[*_`]+", "", text)
    for pattern in _SYSTEM_PATTERNS:
        for match in pattern.finditer(flat):
            if system := clean_system(match.group("system")):
                return system
    return None
