"""deploy/local-cluster.sh: the compose topology as processes on loopback, and its throughput."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from bot.config import REPO_ROOT
from bot.standins.slack_api import SlackAPIStub
from tests.conftest import free_port
from tests.test_slack import SECRET, TOKEN, SlackHarness, mention

pytestmark = pytest.mark.slow

SCRIPT = REPO_ROOT / "deploy" / "local-cluster.sh"
EVENTS = 100  # concurrent signed mentions per throughput run
BOTH = 10  # events delivered to both replicas, as a Slack retry landing elsewhere would
QUESTIONS = ["what is a quorum", "why add randomness to retry delays",
             "explain the CAP theorem", "what is eventual consistency"]  # fmt: skip


def script(command: str, env: dict[str, str], timeout: float = 240) -> str:
    done = subprocess.run(
        [str(SCRIPT), command], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done.stdout


def gone(pid: int) -> bool:
    """No such process, or only its zombie (exited, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def replica(port: int, api: SlackAPIStub) -> SlackHarness:
    harness = SlackHarness.__new__(SlackHarness)
    harness.port, harness.api = port, api
    return harness


def fire(api: SlackAPIStub, sends: list[tuple[SlackHarness, dict, str]]) -> float:
    """Send the events at once; seconds until every one is answered (its chat.update)."""
    expected = len(api.of("chat.update")) + len({event_id for _, _, event_id in sends})
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(lambda s: s[0].event(s[1], event_id=s[2])[0], sends))
    assert set(statuses) == {200}
    api.wait_for("chat.update", expected, timeout=120)
    return time.monotonic() - started


def batch(label: str, count: int) -> list[tuple[dict, str]]:
    return [
        (mention(QUESTIONS[n % len(QUESTIONS)], ts=f"{label}{n}.1", user=f"U{label}{n}"),
         f"Ev{label}{n}")
        for n in range(count)
    ]  # fmt: skip


def test_local_cluster_up_answers_once_per_event_on_two_replicas_then_down(tmp_path, models_dir):
    api = SlackAPIStub().start()
    state = tmp_path / "cluster"
    ports = {name: free_port() for name in ("redis", "chroma", "slack1", "slack2", "worker")}
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STUDYBOT_", "REDIS_", "CHROMA_", "SLACK_", "LOCAL_CLUSTER_"))
    }
    env |= {
        "LOCAL_CLUSTER_DIR": str(state),
        "LOCAL_CLUSTER_REDIS_PORT": str(ports["redis"]),
        "LOCAL_CLUSTER_CHROMA_PORT": str(ports["chroma"]),
        "LOCAL_CLUSTER_SLACK_PORTS": f"{ports['slack1']} {ports['slack2']}",
        "LOCAL_CLUSTER_WORKER_PORT": str(ports["worker"]),
        "PYTHON": sys.executable,
        "STUDYBOT_MODELS_PATH": str(models_dir),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": api.base_url,
    }  # fmt: skip
    pids: list[int] = []
    try:
        started = time.monotonic()
        print("\n" + script("up", env).rstrip())
        print(f"local-cluster up (ingest included): {time.monotonic() - started:.1f} s")
        pids = [int(p.read_text()) for p in (state / "pids").glob("*.pid")]
        assert len(pids) == 5
        status = script("status", env)
        assert status.count("running") == 5 and status.count(" yes") == 5, status

        # Redis runs deploy/redis/redis.conf: append-only file on, in the state dir.
        client = redis.Redis(port=ports["redis"], decode_responses=True)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        assert any(p.name.startswith("appendonly") for p in (state / "redis").iterdir())
        # The bots use the Chroma server: the course is there, nothing went to an embedded store.
        courses = subprocess.run(
            [sys.executable, "-m", "bot", "courses"], cwd=REPO_ROOT, capture_output=True,
            text=True, timeout=60,
            env={**env, "CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(ports["chroma"]),
                 "STUDYBOT_DATA_DIR": str(state / "data")},
        )  # fmt: skip
        assert courses.returncode == 0, courses.stderr
        [line] = [x for x in courses.stdout.splitlines() if x.startswith("distributed-systems")]
        assert int(line.split(": ")[1].split()[0]) > 200, line
        assert not (state / "data" / "chroma").exists()

        one, two = replica(ports["slack1"], api), replica(ports["slack2"], api)
        # A fresh replica builds its BM25 index on its first question: measure warm ones.
        fire(api, [(one, *batch("W1", 1)[0]), (two, *batch("W2", 1)[0])])

        parts = {p.stem: int(p.read_text()) for p in (state / "pids").glob("*.pid")}
        cpu_before = {name: cpu_seconds(pid) for name, pid in parts.items()}
        single = fire(api, [(one, event, eid) for event, eid in batch("A", EVENTS)])
        # CPU per answer does not depend on what else runs on the machine, unlike events/s.
        cpu = {n: (cpu_seconds(pid) - cpu_before[n]) / EVENTS * 1000 for n, pid in parts.items()}
        spread = [
            ((one, two)[n % 2], event, eid) for n, (event, eid) in enumerate(batch("B", EVENTS))
        ]
        # Some events reach both replicas at once: each is still answered once.
        spread += [(two if s[0] is one else one, s[1], s[2]) for s in spread[:BOTH]]
        double = fire(api, spread)
        print(f"1 replica:  {EVENTS} concurrent mentions answered in {single:.2f} s "
              f"({EVENTS / single:.1f} events/s)")  # fmt: skip
        print(f"2 replicas: {EVENTS} concurrent mentions answered in {double:.2f} s "
              f"({EVENTS / double:.1f} events/s)")  # fmt: skip
        print("CPU per answer (ms): " + ", ".join(f"{n} {ms:.1f}" for n, ms in sorted(cpu.items())))

        time.sleep(1)  # a duplicate answer would show up by now
        threads = Counter(p["thread_ts"] for p in api.of("chat.postMessage"))
        assert len(threads) == 2 * EVENTS + 2 and set(threads.values()) == {1}
        assert len(api.of("chat.update")) == 2 * EVENTS + 2
    finally:
        script("down", env, timeout=120)
        api.stop()
    assert pids and all(gone(pid) for pid in pids)
    assert not list((state / "pids").glob("*.pid"))
    after = subprocess.run([str(SCRIPT), "status"], env=env, capture_output=True, text=True)
    assert after.returncode == 1 and after.stdout.count("stopped") == 5, after.stdout
