"""Pacing per Slack channel, disjoint Discord shards across processes, and load on two replicas."""

import itertools
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from bot.adapters.slack.outbox import SlackOutbox
from bot.config import REPO_ROOT, SlackSettings
from bot.core.models import Address
from bot.schedule.outbox import PushMessage
from bot.standins.slack_api import SlackAPIStub
from tests.fakes.discord_api import DiscordAPIStub
from tests.test_discord import TOKEN as DISCORD_TOKEN
from tests.test_discord import fixture as discord_fixture
from tests.test_slack import TOKEN, mention

pytestmark = pytest.mark.slow

BURST = 10
USERS = 50
QUESTIONS = ["what is a quorum", "why add randomness to retry delays",
             "explain the CAP theorem", "what is eventual consistency"]  # fmt: skip
TWICE_EVERY = 10  # every 10th event also reaches the other replica, as Slack's retry might


@pytest.fixture
def replica_rate_limit() -> str:
    """Four questions a user stay far under it, so the limiter refuses none of the load."""
    return "100/minute"


def post_times(api: SlackAPIStub, channel: str) -> list[float]:
    return [t for name, params, t in api.calls
            if name == "chat.postMessage" and params["channel"] == channel]  # fmt: skip


def test_a_burst_to_one_channel_arrives_a_second_apart_and_other_channels_are_not_held():
    api = SlackAPIStub().start()
    try:
        outbox = SlackOutbox(SlackSettings(bot_token=TOKEN, api_url=api.base_url))
        message = PushMessage("2026-03-02", "cap-x", "cap", "multiple-choice", "Q?", ["A", "B"])
        together = threading.Barrier(BURST)

        def post_to_the_busy_channel() -> None:
            together.wait()
            outbox.deliver(Address("slack", "T1", "CBUSY"), message)

        burst = [threading.Thread(target=post_to_the_busy_channel) for _ in range(BURST)]
        for thread in burst:
            thread.start()
        time.sleep(2.5)  # well inside the burst
        other_sent = time.monotonic()
        outbox.deliver(Address("slack", "T1", "COTHER"), message)
        for thread in burst:
            thread.join()

        busy = post_times(api, "CBUSY")
        assert len(busy) == BURST
        gaps = [later - earlier for earlier, later in itertools.pairwise(busy)]
        print(f"\nburst gaps (s): {', '.join(f'{gap:.3f}' for gap in gaps)}")
        assert min(gaps) >= 0.9, gaps
        assert 8.9 <= busy[-1] - busy[0] < 10.5
        [other] = post_times(api, "COTHER")
        assert other - other_sent < 0.5 and other < busy[-1]
    finally:
        api.stop()


def run_discord(env: dict[str, str], log) -> subprocess.Popen:
    with log.open("w") as stderr:
        command = [sys.executable, "-m", "bot", "run", "discord"]
        return subprocess.Popen(
            command, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=stderr
        )


def test_two_processes_identify_disjoint_discord_shards(subprocess_env, tmp_path):
    api = DiscordAPIStub().start()
    env = {**subprocess_env, "DISCORD_TOKEN": DISCORD_TOKEN, "DISCORD_API_URL": api.base_url,
           "DISCORD_SHARD_COUNT": "4"}  # fmt: skip
    logs = {ids: tmp_path / f"shards-{ids}.log" for ids in ("0,1", "2,3")}
    processes = {
        ids: run_discord({**env, "DISCORD_SHARD_IDS": ids}, log) for ids, log in logs.items()
    }

    def wait_until(condition, what: str) -> None:
        deadline = time.monotonic() + 60
        while not condition():
            stderr = "".join(log.read_text()[-1500:] for log in logs.values())
            assert time.monotonic() < deadline, f"{what}; got {api.identified()}\n{stderr}"
            time.sleep(0.1)

    try:
        # A process IDENTIFYs its second shard 5 s after its first (discord.py's own pacing).
        wait_until(lambda: len(api.identified()) >= 4, "4 IDENTIFYs")
        identified = api.identified()
        assert sorted(shard for shard, _ in identified) == [0, 1, 2, 3], identified
        assert {count for _, count in identified} == {4}

        interaction = {**discord_fixture("interaction_command"), "id": "20002", "token": "t2"}
        api.dispatch(2, "INTERACTION_CREATE", interaction)
        api.wait_for("/interactions/20002/t2/callback", timeout=30)

        # Stopping the "2,3" process closes exactly shards 2 and 3: each process held its own.
        processes["2,3"].terminate()
        processes["2,3"].wait(timeout=30)
        wait_until(lambda: sum(c.open for c in api.gateways) == 2, "2,3 closed")
        assert sorted(c.shard[0] for c in api.gateways if c.open) == [0, 1]
        assert len(api.of("/interactions/20002/")) == 1
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(timeout=30)
        api.stop()


def p50_p99(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


def test_200_questions_from_50_users_at_2_replicas_get_one_answer_each(replicas):
    api, harnesses = replicas
    # A fresh replica builds its search indexes on its first question; measure warm replicas.
    for number, harness in enumerate(harnesses, start=1):
        harness.event(
            mention("what is raft", ts=f"{number}.5", user="UWARM"), event_id=f"EvW{number}"
        )
        api.wait_for("chat.update", number, timeout=60)
    warm_up = len(harnesses)
    sent_at: dict[str, float] = {}  # event ts (the reply's thread) -> first delivery
    acks: list[float] = []
    statuses: list[int] = []

    def student(number: int) -> None:
        for turn, question in enumerate(QUESTIONS):
            event_number = number * len(QUESTIONS) + turn
            ts = f"{3000 + event_number}.1"
            # Distinct texts, so no answer comes from the query-embedding cache.
            event = mention(f"{question}? (student {number})", ts=ts, user=f"ULOAD{number:02d}")
            targets = [harnesses[event_number % 2]]
            if event_number % TWICE_EVERY == 0:
                targets.append(harnesses[(event_number + 1) % 2])
            sent_at[ts] = time.monotonic()
            for harness in targets:
                began = time.monotonic()
                status, _ = harness.event(event, event_id=f"EvLoad{event_number}")
                acks.append(time.monotonic() - began)
                statuses.append(status)

    students = [threading.Thread(target=student, args=(n,)) for n in range(USERS)]
    for thread in students:
        thread.start()
    for thread in students:
        thread.join()
    events = USERS * len(QUESTIONS)
    assert statuses == [200] * (events + events // TWICE_EVERY)
    api.wait_for("chat.update", warm_up + events, timeout=75)
    time.sleep(2)  # a duplicate reply would follow its twin within moments

    # The stand-in numbers posted messages 1.000, 2.000, ... in arrival order.
    thread_of = {f"{n}.000": p["thread_ts"] for n, p in enumerate(api.of("chat.postMessage"), 1)}
    placeholders = api.of("chat.postMessage")[warm_up:]
    posted = Counter(p["thread_ts"] for p in placeholders)
    updates = api.of("chat.update")[warm_up:]
    answered_at = {thread_of[params["ts"]]: t
                   for name, params, t in api.calls if name == "chat.update"}  # fmt: skip
    updated = Counter(thread_of[params["ts"]] for params in updates)
    for replies in (posted, updated):
        assert set(sent_at) - set(replies) == set(), "lost"
        assert [ts for ts, count in replies.items() if count > 1] == [], "duplicated"
    assert len(posted) == len(updated) == events
    assert all("Thinking" in p["text"] for p in placeholders)
    assert not any("Thinking" in params["text"] for params in updates)
    assert api.of("chat.postEphemeral") == []  # the rate limiter refused nobody

    ack_p50, ack_p99 = p50_p99(acks)
    answer_p50, answer_p99 = p50_p99([answered_at[ts] - sent_at[ts] for ts in sent_at])
    print(f"\n{events} events ({len(acks)} deliveries) from {USERS} users at 2 replicas: "
          f"ack p50 {ack_p50 * 1000:.0f} ms, p99 {ack_p99 * 1000:.0f} ms; "
          f"answer p50 {answer_p50:.2f} s, p99 {answer_p99:.2f} s")  # fmt: skip
