"""LLM fault tolerance across processes: one breaker in Redis for every `studybot` process."""

import json
import subprocess
import sys
import time

import pytest
import redis

from bot.config import REPO_ROOT
from tests.conftest import API_KEY

# A process takes seconds just to start (more on a loaded CI machine), longer than a
# short reset. So the processes that must find the breaker open wait an hour before
# probing, and the ones that must probe wait 3 s. They all read the same state.
PATIENT_RESET_SECONDS = 3600
PROBING_RESET_SECONDS = 3


@pytest.fixture
def llm_env(subprocess_env, stub):
    """`python -m bot` in LLM mode against the stub: no retries, open after two failures."""
    return {
        **subprocess_env,
        "STUDYBOT_LLM": "openai:gpt-test",
        "OPENAI_BASE_URL": stub.base_url,
        "OPENAI_API_KEY": API_KEY,
        "STUDYBOT_LLM_OPTIONS__TIMEOUT_SECONDS": "2",
        "STUDYBOT_LLM_OPTIONS__RETRIES": "0",
        "STUDYBOT_LLM_OPTIONS__BREAKER_FAILURES": "2",
        "STUDYBOT_LLM_OPTIONS__BREAKER_RESET_SECONDS": str(PATIENT_RESET_SECONDS),
    }


@pytest.fixture
def probing_env(llm_env):
    """The same, but ready to probe a few seconds after the breaker opened."""
    return {**llm_env, "STUDYBOT_LLM_OPTIONS__BREAKER_RESET_SECONDS": str(PROBING_RESET_SECONDS)}


def ask_in_new_process(env: dict[str, str], question: str) -> dict:
    """One `studybot ask --json` run, a process of its own."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", "--thread", question, question],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class Breaker:
    """The breaker's shared state as RedisBreakerStore keeps it."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self._redis = redis.Redis.from_url(redis_url, decode_responses=True)
        self._namespace = f"{prefix}:{{llm}}:breaker"

    @property
    def state(self) -> str:
        return "open" if self._redis.get(f"{self._namespace}:opened_at") else "closed"

    def wait_for_probe(self) -> None:
        """Sleep until a probing process's reset has passed since the breaker last opened."""
        opened_at = float(self._redis.get(f"{self._namespace}:opened_at"))
        time.sleep(max(0.0, opened_at + PROBING_RESET_SECONDS + 0.2 - time.time()))


@pytest.mark.slow
def test_breaker_opened_by_some_processes_spares_the_next_and_one_probe_closes_it(
    llm_env, probing_env, stub, redis_url, redis_prefix
):
    breaker = Breaker(redis_url, redis_prefix)
    stub.default = {"status": 500}

    # Two processes fail once each: the failure count is shared, so the second opens it.
    reply = ask_in_new_process(llm_env, "what is a circuit breaker")
    assert len(stub.chat_requests) == 1 and breaker.state == "closed"
    assert reply["mode"] == "extractive" and "error (500)" in reply["answer"]
    reply = ask_in_new_process(llm_env, "what is a bulkhead")
    assert len(stub.chat_requests) == 2 and breaker.state == "open"
    assert reply["mode"] == "extractive" and "error (500)" in reply["answer"]

    # A fresh process sees the open breaker: no call to the model, the course answers.
    before = len(stub.chat_requests)
    reply = ask_in_new_process(llm_env, "what is a retry storm")
    assert len(stub.chat_requests) == before
    assert reply["mode"] == "extractive" and reply["in_scope"] and reply["sources"]
    assert "paused" in reply["answer"]

    # After the reset one process probes once; the model still fails, so it reopens.
    breaker.wait_for_probe()
    before = len(stub.chat_requests)
    reply = ask_in_new_process(probing_env, "why add randomness to retry delays")
    assert len(stub.chat_requests) == before + 1
    assert reply["mode"] == "extractive" and breaker.state == "open"
    reply = ask_in_new_process(llm_env, "what is load shedding")
    assert len(stub.chat_requests) == before + 1 and "paused" in reply["answer"]

    # The model recovers: the next probe succeeds and closes the breaker for everyone.
    breaker.wait_for_probe()
    stub.default = {"text": "Half-open lets one request through [1]."}
    before = len(stub.chat_requests)
    reply = ask_in_new_process(probing_env, "what is a half-open breaker")
    assert len(stub.chat_requests) == before + 1
    assert reply["mode"] == "llm" and reply["answer"].startswith("Half-open lets one request")
    assert breaker.state == "closed"
