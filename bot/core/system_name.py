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
    r"cap|trade-?offs?|consistency|resilience|events|architecture|where|when|what|how|why|who|"
    r"our|my|your|their)\b)[\w'&+-]+\s+)"
)
_HEAD = rf"{_MODIFIER}{{0,4}}(?:{_HEAD_NOUNS})(?:\s+(?:{_HEAD_NOUNS}))*\b"
_SUBJECT = r"(?:we|i|(?:our|my) (?:[\w&-]+ )?(?:team|company|startup|org|group|club|society|lab))"
_BUILD_VERBS = (
    r"run|runs|running|build|builds|building|built|have|has|got|operate|operates|operating|"
    r"own|owns|maintain|maintains|maintaining|make|makes|making|develop|develops|developing|"
    r"work on|working on|design|designing|launch|launching|create|creating|ship|shipping|"
    r"write|writing|manage|manages|managing|started|starting|host|hosting|keeps?(?=\s+(?:a|an|our|my)\s)"
)
_REBUILD_VERBS = (
    r"moderni[sz]\w*|redesign\w*|rebuild\w*|re-?architect\w*|migrat\w*|refactor\w*|"
    r"scal(?:e|ing)|split(?:ting)?|harden\w*"
)
_ENDS = rf"(?=\s*(?:[.,;:?!()\n]|$)|\s+-\s|\s+(?:{_STOP})\b)"
# "the app", "the bot": words for the system itself ("the auth service" may be an item)
SYSTEM_NOUN = r"(?:the|a|an|our|my)\s+(?:app|bot|system|site|website|platform|project|product)\b"
# The system said outright: "the system in question is an X", "it's not the app, it's the X"
_STATED = re.compile(
    r"\b(?:(?:the|my|our)\s+(?:system|project|product)(?:\s+(?:in question|itself|we(?:'re|"
    r" are) (?:building|designing|making)))?\s+is\s+(?:(?:actually|really|called|named|now)\s+)*"
    rf"|(?:it'?s|it is)\s+not\s+{SYSTEM_NOUN}\s*[,;]\s*(?:it'?s|it is|but)\s+(?:for\s+)?)"
    # a head noun ("a neobank" needs its article; a name is called so: "called QuakeWatch")
    rf"(?P<system>(?:{_ARTICLE}\s+)?{_HEAD}|(?:{_ARTICLE}\s+|(?<=called\s)|(?<=named\s)){_PHRASE}"
    rf"{_ENDS})",
    re.IGNORECASE,
)
_SYSTEM_PATTERNS = [
    _STATED,
    # "resilience design, campus cafeteria payments": a template, then the system alone
    re.compile(
        r"\A\W*(?:cap(?: analysis)?|consistency(?: design)?|event[- ]driven(?: design)?|"
        r"resilience(?: design)?|fault tolerance)\s*[,.:\u2013\u2014-]\s*"
        r"(?P<system>[\w' &-]{3,50}?)[ \t]*(?:[.!](?=\s|$)|$)",
        re.IGNORECASE | re.MULTILINE,
    ),
    # "we run a food ordering API", "our team runs a salon booking app", "I've got X"
    re.compile(
        rf"\b{_SUBJECT}\s*(?:'re|'m|'ve|are|am|have)?\s*(?:currently\s+|now\s+|basically\s+)?"
        r"(?!(?:have|has|got) to\b)"
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
    r"also|and|but|so|then|anyway|plus|thanks|ok|okay|"
    # a placeholder for the system, not its name: "my project", "our uni homework"
    r"(?:no|any) (?:idea|clue)|"
    r"(?:(?:side|group|final|course|class|uni|school|capstone|pet|team|personal|own|term)\s+)?"
    r"(?:proj\w*|homework|coursework|assignment|capstone|thing|idea|exercise)|"
    r"app|application|site|website|platform|backend|product|software|"
    r"interview|failure|system|data types?|data|services?|operations|ops|deps|svcs|calls|"
    r"dependencies|entities|events|each|them|stuff|things?|"
    r"case|way|time|moment|outage|trade-?offs?|cap|consistency|design|analysis|parts?|"
    r"fault tolerance|resilience|events? design|the following|following|mind|while|bit|"
    r"\w+ (?:analysis|design|trade-?offs?|strategy|model|architecture))$",
    re.IGNORECASE,
)
TRIM_SYSTEM = re.compile(
    r"(?:\s+(?:here|now|today|please|pls|plz|too|also|again|instead|yesterday|recently|lately|"
    r"anymore|btw|these days|nowadays|for now|last (?:week|month|year|term|semester)))+$",
    re.I,
)
# "study room booking app for our campus" is the study room booking app; but "platform for
# renting kayaks" keeps its phrase, as "platform" alone names nothing.
_QUALIFIED = re.compile(
    rf"^((?:{_ARTICLE}\s+)?{_MODIFIER}{{1,4}}(?:{_HEAD_NOUNS}))\s+(?:for|of|at|in|with|across|serving)\s+\S.*$",
    re.IGNORECASE,
)

# "the minecraft server network the bot runs on": a clause after the head noun is not a name.
_RELATIVE = re.compile(
    rf"^((?:{_ARTICLE}\s+)?{_MODIFIER}{{0,4}}(?:{_HEAD_NOUNS}))\s+(?:the|a|an|we|i|they|you|it|our|"
    r"my|that|which|where)\s+\S.*$",
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
    # "X only; staff permits moved elsewhere", "a college attendance system, a biometric one"
    raw = re.split(r"\s*;\s|,\s", raw)[0]
    raw = re.sub(
        r"^\W*(?:(?:now|currently|actually|really|just|basically)\s+)+", "", raw, flags=re.I
    )
    raw = re.sub(r"\s+only\W*$", "", raw, flags=re.I)
    system = " ".join(re.sub(r"[*_`]+", "", raw).split()).strip(" '\"-,.:;")
    system = EDGE_SYMBOLS.sub("", system)
    system = _TRAILING_FUNCTION.sub("", system)
    if _NOT_IN_A_NAME.search(re.sub(rf"^{_ARTICLE}\s+", "", system, flags=re.I)):
        return None
    system = re.split(r",?\s+(?:not|instead of|rather than)\s", system, maxsplit=1)[0]
    system = re.sub(r"\s+(?:and|or|but|so|then)$", "", TRIM_SYSTEM.sub("", system), flags=re.I)
    system = _RELATIVE.sub(r"\1", _QUALIFIED.sub(r"\1", system))
    if not re.search(r"[A-Za-z0-9]{2}", system) or _NOT_A_SYSTEM.match(system):
        return None
    if re.match(r"(?:on|in|at|from|into|onto|by|with|to|and|or|but|honestly)\s", system, re.I):
        return None  # "(a wiki I host) on two cheap VPSes" says where, not what
    if re.fullmatch(
        rf"(?:{_ARTICLE}|in|on|at|of|for|to|it|is|we|i|you|\w+sel(?:f|ves)|us|them)", system, re.I
    ):
        return None  # "something we built ourselves" names no system
    return system[:MAX_ITEM_CHARS]


def stated_system(text: str) -> str | None:
    """The system the text states outright ("the system in question is an X"), if it does."""
    match = _STATED.search(re.sub(r"[*_`]+", "", text))
    return clean_system(match.group("system")) if match else None


def find_system(text: str) -> str | None:
    """The system the student names, e.g. "a ride-sharing app"; pronouns never count."""
    flat = re.sub(r"[*_`]+", "", text)
    for pattern in _SYSTEM_PATTERNS:
        for match in pattern.finditer(flat):
            if system := clean_system(match.group("system")):
                return system
    return None


# A product's own name: one capitalised word ("FlockLog", "Fundr", "AlugaFácil").
_NAME = r"(?P<name>[A-Z][\w\u00c0-\u017f&+-]*[\w\u00c0-\u017f])"
_CAMEL = r"(?P<name>[A-Z][a-z\u00e0-\u00ff]+[A-Z][\w\u00c0-\u017f]*)"  # "ClinicSlots"
_NOT_A_NAME = re.compile(
    r"(?i)(?:"
    r"it|this|that|these|those|the|a|an|our|my|we|i|they|he|she|there|here|what|which|who|"
    r"how|why|when|where|mine|ours|everything|something|nothing|one|each|some|all|any|so|"
    r"and|but|or|also|now|then|well|yes|no|ok|okay|hi|hey|hello|thanks|please|sorry|"
    r"actually|basically|just|system|project|app|service|platform|description|name|"
    r"data|events|entities|services|operations|calls|dependencies|task|note|notes|overview|"
    r"context"
    # tools a student uses rather than builds
    r"|"
    r"kafka|redis|postgres|postgresql|mysql|mongodb|cassandra|dynamodb|stripe|paypal|"
    r"twilio|sendgrid|aws|azure|gcp|notion|slack|discord|kubernetes|docker|firebase|"
    r"supabase|elasticsearch|rabbitmq|zookeeper|etcd|raft|paxos|spanner|cockroachdb|github|"
    r"gitlab|jira|google|apple|uber|netflix|twitter|instagram|whatsapp|amazon|shopify|"
    r"airbnb|spotify|fixmystreet|readme|monday|friday|javascript|typescript|graphql|"
    r"fastapi|nosql|youtube|linkedin|oauth|tiktok|devops|websocket|websockets|cloudfront|"
    r"cloudflare"
    r")$"
)
# What the product is: up to its head noun ("registration service"), else a short phrase.
# A phrase with no head noun needs an article, or brackets or a label around it: in
# "for Payments, Orders and Search" the second name is no description of the first.
_DESCRIPTION = (
    rf"(?P<description>(?i:(?:{_ARTICLE}\s+)?{_HEAD}|"
    rf"(?:{_ARTICLE}\s+|(?<=\()|(?<=\(\s)|(?<=:)|(?<=:\s)){_PHRASE}{_ENDS}))"
)
# Between a name and what it is, on one line: ", a", " (", " is a", " - ".
_APPOSITION = (
    r"(?i:(?:[ \t]+(?:pls|please|plz))?"
    r"(?:[ \t]*,[ \t]*(?:it's|it is)[ \t]+|[ \t]*,[ \t]*|[ \t]*\([ \t]*|[ \t]+(?:is|was)[ \t]+|"
    r"[ \t]+[\u2013\u2014-]+[ \t]+)"
    r"(?:basically\s+|just\s+|essentially\s+)?)"
)
_NAMINGS = [
    # "a concert ticketing thing called GigGate", "we call it StreetFix", "known as X"
    re.compile(
        r"(?:(?P<description>\b(?:a|an|the|our|my)\s+[\w' -]{3,60}?)\s*,?\s+)?"
        r"\b(?:called|named|codenamed|call it|calls? it|calling it|refer to (?:it )?as|"
        r"known as|(?i:(?:(?:its|the|our|my)\s+)?(?:(?:project|system|app|product)\s+)?(?<!my )name"
        r"(?:'s|\s+is|\s*:)|working title\s*:?|code\s?name\s*:?))\s+" + _NAME + r"\b"
    ),
    # "Project: FlockLog", "**Project name:** Nestfinder", "- system: ParcelTrail (courier...)"
    re.compile(
        r"(?m)(?:^|(?<=[.!?] ))[\W_]*(?i:(?:the|our|my) )?(?i:project|product|app|system|"
        r"platform|name|project name|system name|product name|app name)[*_]*"
        rf"(?:\s*[:=]|(?i:\s+is))[*_]*\s*{_NAME}\b(?:{_APPOSITION}{_DESCRIPTION})?"
    ),
    # "for ProctorNest, our online exam proctoring platform", "writing Pipetto, a lab notebook",
    # "BuildHive is a CI service", "it's DeskHop, the desk booking tool"
    re.compile(
        r"\b(?i:for|about|on|of|built|\w{3,}ing)\s+"
        rf"{_NAME}{_APPOSITION}{_DESCRIPTION}"
    ),
    # "It's DeskHop, the desk booking tool"; "so it's AgriFlow, basically ..." (CamelCase)
    re.compile(rf"\b(?i:it's|its|it is)\s+{_NAME}{_APPOSITION}{_DESCRIPTION}"),
    re.compile(rf"\b(?i:it's|its|it is)\s+{_CAMEL}(?=[\s,.;:!?)]|$)(?!\s+(?:that|which|who)\b)"),
    # "SkyHop is a regional airline reservation system": at a sentence's start, only a
    # CamelCase name ("Background (from our ADR)" is a heading)
    re.compile(
        rf"(?:^|[.!?\n\"]\s*|(?<!-)>\s*){_CAMEL}"
        rf"(?:\s+(?:is|was)\s+(?=(?i:a|an|the|our)\s)|\s*\(\s*){_DESCRIPTION}"
    ),
    # "event-driven design for Zipride", "cap analysis of Tunely plz": named in the request
    re.compile(
        r"(?i:design|desgin|desing|analysis|analyis|analysys|review|plan|breakdown)\s+"
        rf"(?i:for|of|on)\s+{_NAME}(?=\s*[?!.;:,)]|\s*$|\s+(?i:pls|please|plz)\b)"
    ),
    # "a consistency design for PodNest?", "> ClinicSlots lets patients book ...": a name
    # spelled in CamelCase, whatever the text calls the product
    re.compile(
        r"(?:\b(?i:for|of|on|about)\s+|(?:^|[.!?\n\"]\s*|(?<!-)>\s*))"
        rf"{_CAMEL}\b"
        r"(?=\s*[?!.;)]|\s*,(?!\s*[A-Z])|\s*$|\s+(?:pls|please)\b|\s+(?!(?:calls|uses|talks|"
        r"depends|hits|queries|sends|reads|writes|publishes|consumes|pings|needs|gets|is|was|"
        r"has|does)\b)[a-z]+s\b)"
    ),
    # "Crumb — neighbourhood bakery preorders" opening a line or a sentence
    re.compile(
        rf"(?:^|[.!?\n]\s*){_NAME}[ \t]+[\u2013\u2014][ \t]+"
        r"(?P<description>[^\n.;!?()]{3,80})"
    ),
    # "our recruitment platform, HireLoop", "the project Skywatch"
    re.compile(
        rf"\b(?P<description>(?:our|my|the|a|an)\s+{_HEAD}|(?:our|my|the)\s+project)\s*,?\s+"
        + _NAME
        + r"\b(?!\s*(?:is|are|was)\b)"
    ),
]
# "## Harvest Hub\nHarvest Hub lets local farmers ...": a heading that names the subject
_HEADED_NAME = re.compile(
    r"(?m)^[ \t>]*#{1,4}[ \t]+(?P<name>[A-Z][\w'&+-]*(?:[ \t]+[A-Z][\w'&+-]*){0,3})[ \t]*\n"
    r"(?:[ \t>]*\n)*[ \t>]*(?P=name)\b(?!\s*[:|])"
)
_EMPHASISED_NAME = re.compile(
    r"\b(?i:for|about|of|on)\s+(?P<mark>\*\*|\*|__|_)"
    r"(?P<name>[A-Z][\w'&+-]*(?:\s+[A-Z][\w'&+-]*){1,3})(?P=mark)"
    r"[^\w\n(]*(?:\((?P<description>[^)\n]{3,60})\))?"
)
_DESCRIBED = re.compile(
    r"(?im)^[\W_]*(?:what|description|about|summary|pitch)[*_]*\s*[:=][*_]*\s*" + _DESCRIPTION
)


def _is_name(word: str) -> bool:
    return not _NOT_A_NAME.match(word) and not word.isupper()


def product_name(text: str) -> tuple[str, str | None] | None:
    """A product's own name and, where the text gives it, what the product is.

    "ProctorNest, our online exam proctoring platform" is ("ProctorNest", "online exam
    proctoring platform"); "we call it StreetFix" is ("StreetFix", None).
    """
    if headed := _HEADED_NAME.search(text):
        return headed["name"], None
    if emphasised := _EMPHASISED_NAME.search(text):
        # "consistency design for *Vinyl Vault* (record shop preorders)": a name of words
        described = emphasised["description"]
        return emphasised["name"], clean_system(described) if described else None
    flat = re.sub(r"[*_`]+", "", text)
    for pattern in _NAMINGS:
        for match in pattern.finditer(flat):
            if not _is_name(name := match.group("name")):
                continue
            raw = match.groupdict().get("description") or ""
            description = clean_system(raw.rstrip(")")) if raw else None
            if not description and (line := _DESCRIBED.search(flat)):
                description = clean_system(line.group("description"))
            if description and re.fullmatch(r"(?:\w+\s+)?project", description, re.I):
                description = None  # "our project Skywatch": the name is the system
            return name, description
    return None


def name_and_description(system: str) -> tuple[str, str] | None:
    """("FlockLog", "bird sighting app") for "FlockLog (bird sighting app)", else None."""
    described = re.fullmatch(r"(.+?) \((.+?)\)?", system)
    return (described[1], described[2]) if described else None


def named_system(text: str, system: str | None) -> str | None:
    """The system with the product's own name in front: "FlockLog (bird sighting app)".

    Students give a product's name, what it is, or both, and a filled prompt reads best with
    both. Without a name in the text the system is unchanged.
    """
    named = product_name(text)
    if named is None:
        return system
    name, description = named
    found = re.sub(rf"^{_ARTICLE}\s+", "", system or "", flags=re.I)
    if re.fullmatch(rf"{re.escape(name)}(?:\s+[\w-]+){{1,2}}", found, re.I):
        return found  # a name of more words: "CleanCoast planner"
    if found and name.lower() in found.lower():
        found = ""  # "satlink, the ground station software": read again from the name
    description = description or found or None
    if description and description.lower() != name.lower():
        description = re.sub(rf"^{_ARTICLE}\s+", "", description, flags=re.I)
        return f"{name} ({description})"[:MAX_ITEM_CHARS]
    return name
