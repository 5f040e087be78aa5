import pytest

from bot.core.routing import route_concept
from tests.conftest import COURSE

ROUTES = [
    ("what does CAP actually mean?", "cap"),
    (
        "is it true you can only pick two of consistency, availability and partition tolerance",
        "cap",
    ),
    ("should payments be CP or AP?", "cap"),
    ("during a network partition should the like counter keep working?", "cap"),
    ("what is PACELC", "cap"),
    ("inventory: reject checkout or oversell when the datacenters can't talk?", "cap"),
    ("what's linearizability", "consistency"),
    ("difference between eventual and causal consistency", "consistency"),
    (
        "I edited my profile and after reload I see the old name, which guarantee fixes that",
        "consistency",
    ),
    (
        "why would a user see older data after newer data when hitting different replicas",
        "consistency",
    ),
    ("when do I actually need strong consistency", "consistency"),
    ("how does raft elect a leader", "consensus"),
    ("explain paxos simply", "consensus"),
    ("what is a fencing token and why do locks need it", "consensus"),
    ("two leaders accepting writes at once, what went wrong", "consensus"),
    ("why does a cluster need 5 nodes to survive 2 failures", "consensus"),
    ("should I write my own leader election or use zookeeper", "consensus"),
    ("what is an event-driven architecture", "event-driven"),
    ("how do I keep events for one order in order in kafka", "event-driven"),
    ("what's a dead letter queue for", "event-driven"),
    ("when is event sourcing worth it", "event-driven"),
    ("how do I update the database and publish a message without losing one", "event-driven"),
    ("how do sagas undo a booking when payment fails", "event-driven"),
    ("why add randomness to retry delays", "fault-tolerance"),
    ("what is a circuit breaker half-open state", "fault-tolerance"),
    ("one slow dependency took down our whole site, how?", "fault-tolerance"),
    ("how long should a timeout be", "fault-tolerance"),
    ("what's a bulkhead", "fault-tolerance"),
    ("3 immediate retries on an overloaded service, why is that bad", "fault-tolerance"),
    ("SQL or NoSQL for a social app?", "storage"),
    ("how does sharding by hash differ from range sharding", "storage"),
    ("what is leaderless replication", "storage"),
    ("one celebrity's posts overload a single shard, what do I do", "storage"),
]


@pytest.mark.parametrize(("question", "concept"), ROUTES)
def test_questions_route_to_their_concept(indexed, question, concept):
    result = indexed.searcher.search(question, COURSE)
    assert route_concept(question, result.passages, result.in_scope) == concept


@pytest.mark.parametrize(
    "question",
    ["recipe for banana bread", "who won the 2014 world cup", "how do I center a div in css"],
)
def test_off_topic_questions_have_no_concept(indexed, question):
    result = indexed.searcher.search(question, COURSE)
    assert route_concept(question, result.passages, result.in_scope) is None


def test_naming_a_concept_outright_keeps_a_question_in_scope():
    assert route_concept("what is the CAP theorem", [], in_scope=False) == "cap"
