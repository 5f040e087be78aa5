"""Concept routing: which course concept a question is about."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from bot.core.models import Passage

CONCEPTS = ("cap", "consistency", "consensus", "event-driven", "fault-tolerance", "storage")
CONCEPT_TITLES = {
    "cap": "CAP theorem",
    "consistency": "consistency models",
    "consensus": "consensus",
    "event-driven": "event-driven architecture",
    "fault-tolerance": "fault tolerance",
    "storage": "data storage",
    "design": "system design practice",
}

# Terms that name a concept outright (weight 2) or hint at it (weight 1).
_TERMS: dict[str, list[tuple[str, float]]] = {
    "cap": [
        (r"\bcap\b|pacelc|brewer", 2),
        (r"\bnetwork partition|\bpartition(ed)? (happens|occurs|hits)|during a partition", 1.5),
        (r"\b(cp|ap)\b|consistency (or|vs\.?|versus) availability", 1.5),
        (r"availability|partition tolerance", 0.5),
    ],
    "consistency": [
        (r"consistency models?|lineari[sz]ab|serializab", 2),
        (r"eventual(ly)? consisten|causal(ly)?|monotonic reads?", 2),
        (r"read[- ]your[- ](own[- ])?writes?", 2),
        (r"sequential consistency|strong(ly)? consisten|stale reads?|vector clocks?", 1.5),
        (r"older data after newer|newer data|back in time|after (a )?(reload|refresh)", 1.5),
        (r"\bstale\b|see (my|their) own|consisten|old (name|value|data|version)|guarantee", 0.75),
    ],
    "consensus": [
        (r"consensus|\braft\b|paxos|zab\b|leader election|split[- ]brain", 2),
        (r"two leaders|both (think|believe) (they are|they're) (the )?leader", 2),
        (r"fencing|\bleases?\b|zookeeper|\betcd\b|consul|majority vote|2f\s*\+\s*1", 2),
        (r"\bquorums?\b|\bterms?\b.*\bvote|elect", 1),
    ],
    "event-driven": [
        (r"event[- ]driven|event sourcing|\bcqrs\b|outbox|\bsagas?\b|dead[- ]letter|\bdlq\b", 2),
        (r"\bkafka\b|pub/?sub|message (broker|queue)|event catalog|compensat", 1.5),
        (r"\bevents?\b|\bconsumers?\b|\bproducers?\b|\bqueues?\b|idempoten", 0.75),
    ],
    "fault-tolerance": [
        (r"fault[- ]toleran|resilien|circuit[- ]breakers?|bulkheads?", 2),
        (r"retry storms?|backoff|jitter", 2),
        (r"\bretr(y|ies|ying)\b|timeouts?|fallbacks?|cascading|load shedding|rate limit", 1.5),
        (r"thread[- ]pool|failover|health checks?|overload|slow (service|dependency)", 1),
    ],
    "storage": [
        (r"\bsql\b|nosql|shard|replication|leaderless|multi[- ]leader", 2),
        (r"\breplicas?\b", 0.75),
        (r"hot keys?|rebalanc|consistent hashing|secondary index|\bacid\b|\bbase\b", 1.5),
        (r"database|postgres|mysql|mongo|cassandra|dynamo|key[- ]value|document store", 1),
    ],
    "design": [
        (r"system design interview|design (interview|round)|back[- ]of[- ](the[- ])?envelope", 2),
        (r"capacity estimat|url shortener|non[- ]functional requirements", 1.5),
    ],
}
_COMPILED = {
    concept: [(re.compile(p, re.IGNORECASE), w) for p, w in terms]
    for concept, terms in _TERMS.items()
}


def keyword_scores(text: str) -> dict[str, float]:
    """How strongly the question's own words point at each concept."""
    scores: dict[str, float] = defaultdict(float)
    for concept, terms in _COMPILED.items():
        for pattern, weight in terms:
            if pattern.search(text):
                scores[concept] += weight
    return dict(scores)


def route_concept(text: str, passages: Sequence[Passage], in_scope: bool) -> str | None:
    """The concept a question is about, or None when it is off-topic.

    The question's own terms and the concepts of the best passages both vote;
    naming a concept outright keeps a question in scope even when retrieval
    is unsure.
    """
    keywords = keyword_scores(text)
    strong = max(keywords.values(), default=0.0) >= 2
    if not in_scope and not strong:
        return None
    votes: dict[str, float] = defaultdict(float)
    for concept, score in keywords.items():
        # The question's own words outweigh passage labels: a neighbouring topic often
        # ranks well (multi-leader replication for a split-brain question).
        votes[concept] += 1.5 * score
    for rank, passage in enumerate(passages[:5]):
        if passage.chunk.concept:
            votes[passage.chunk.concept] += 2.0 * passage.score / (rank + 1)
    return max(votes, key=votes.__getitem__) if votes else None
