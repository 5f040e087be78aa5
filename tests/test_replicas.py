"""Two Slack HTTP replicas as real processes on one Redis: one reply per event, one rate limit."""

import json
import threading
import time

import pytest

from tests.test_slack import mention

pytestmark = pytest.mark.slow


def test_the_same_event_at_both_replicas_at_once_gets_one_reply(replicas):
    api, (one, two) = replicas
    event = mention("what is a quorum", ts="501.1")
    results = []
    threads = [
        threading.Thread(target=lambda h=h: results.append(h.event(event, event_id="EvTwin")))
        for h in (one, two)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in results] == [200, 200]
    api.wait_for("chat.update", timeout=60)
    time.sleep(1.5)
    assert len(api.of("chat.postMessage")) == 1


def test_the_rate_limit_holds_across_replicas(replicas):
    api, (one, two) = replicas
    for n in range(11):
        harness = (one, two)[n % 2]
        harness.event(
            mention(f"what is raft {n}", ts=f"60{n}.1", user="ULIMIT"), event_id=f"EvL{n}"
        )
    refusals = api.wait_for("chat.postEphemeral", timeout=60)
    assert "faster than I can keep up" in refusals[0]["text"]
    api.wait_for("chat.update", 10, timeout=90)
    assert len(api.of("chat.postMessage")) == 10
    other = mention("what is a saga", ts="700.1", user="UOTHER")
    one.event(other, event_id="EvOther")
    api.wait_for("chat.update", 11, timeout=60)  # other users are unaffected
    assert json.dumps(api.of("chat.postEphemeral")).count("faster") == 1
