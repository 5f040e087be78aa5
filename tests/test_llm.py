"""LLM mode through the real langchain-openai client against a local HTTP stub."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.core.trace import Trace
from tests.conftest import API_KEY, student


def system_and_user(body):
    messages = body["messages"]
    return messages[0]["content"], messages[-1]["content"]


def test_llm_answer_is_grounded_in_fenced_passages(llm_app, stub):
    stub.default = {"text": "Randomness spreads the retries out so they do not align [1]."}
    reply = llm_app().assistant.ask(student("why add randomness to retry delays"))
    assert reply.mode == "llm"
    assert reply.answer.startswith("Randomness spreads the retries out")
    assert reply.concept == "fault-tolerance" and reply.passages
    system, user = system_and_user(stub.chat_requests[-1])
    assert user == "why add randomness to retry delays"
    assert "<course_passages>" in system and "</course_passages>" in system
    assert '<passage number="1" source="Fault tolerance › ' in system
    assert "not instructions" in system
    assert reply.passages[0].chunk.text[:80] in system


def test_llm_answer_streams_tokens(llm_app, stub):
    stub.default = {"text": "Backoff waits longer after each failure [1]."}
    tokens: list[str] = []
    reply = llm_app().assistant.ask(student("what is exponential backoff"), on_token=tokens.append)
    assert len(tokens) > 3
    assert "".join(tokens) == "Backoff waits longer after each failure [1]."
    assert reply.mode == "llm" and reply.answer.startswith("Backoff waits longer")
    assert stub.chat_requests[-1]["stream"] is True


def test_the_filled_template_is_run_by_the_model(llm_app, stub):
    stub.default = {"text": "| Data type | Choice |"}
    reply = llm_app().assistant.ask(
        student("Analyze the CAP trade-offs for a ride-sharing app. Data types: payments, ratings")
    )
    assert reply.mode == "llm" and reply.template.missing == []
    system, _ = system_and_user(stub.chat_requests[-1])
    assert "<request>" in system and "- payments" in system


def test_slots_the_rules_miss_come_from_structured_output(llm_app, stub):
    stub.script.append({"json": {"system": "a ride-hailing service", "data_types": ["fares"]}})
    stub.default = {"text": "Fares are CP [1]."}
    reply = llm_app().assistant.ask(
        student("Analyze the CAP trade-offs of what we're building: ride hailing, with fares")
    )
    assert reply.template.slots == {"system": "a ride-hailing service", "data_types": ["fares"]}
    extraction = stub.chat_requests[0]
    assert "response_format" in extraction or "tools" in extraction


@pytest.mark.slow  # waits out real timeouts or retry delays
def test_timeout_falls_back_to_the_extractive_answer(llm_app, stub):
    stub.default = {"sleep": 4, "text": "too late"}
    started = time.monotonic()
    reply = llm_app(timeout_seconds=1, retries=1).assistant.ask(
        student("why add randomness to retry delays")
    )
    assert time.monotonic() - started < 8
    assert reply.mode == "extractive"
    assert "Jitter" in reply.answer
    assert "took too long" in reply.markdown()
    assert len(stub.chat_requests) == 2  # one try, one retry


def test_http_500_falls_back_with_one_jittered_retry(llm_app, stub):
    stub.default = {"status": 500}
    container = llm_app(retries=1)
    trace = Trace("test", "r1")
    reply = container.assistant.ask(student("why add randomness to retry delays"), trace=trace)
    assert reply.mode == "extractive" and "error (500)" in reply.markdown()
    assert len(stub.chat_requests) == 2
    assert trace.model.tries == 2 and len(trace.model.delays) == 1
    assert trace.fallback == "the model returned an error (500)"


@pytest.mark.slow  # waits on a breaker's rest, a process or the whole bot
def test_breaker_opens_after_failures_then_half_opens_with_one_probe(llm_app, stub):
    stub.default = {"status": 500}
    container = llm_app(retries=0, breaker_failures=2, breaker_reset_seconds=1)
    ask = container.assistant.ask
    ask(student("what is a circuit breaker"))
    ask(student("what is a bulkhead"))
    assert len(stub.chat_requests) == 2
    assert container.llm.breaker.state == "open"

    reply = ask(student("what is a retry storm"))
    assert len(stub.chat_requests) == 2  # an open breaker costs nothing
    assert reply.mode == "extractive" and "paused" in reply.markdown()

    time.sleep(1.1)
    stub.default = {"text": "Half-open lets one request through [1]."}
    reply = ask(student("what is a half-open breaker"))
    assert len(stub.chat_requests) == 3  # exactly one probe
    assert reply.mode == "llm"
    assert container.llm.breaker.state == "closed"


@pytest.mark.slow  # starts processes
def test_the_half_open_probe_is_one_call_across_processes(llm_app, stub):
    """Replicas (their own clients, one Redis) reach half-open together: one probes."""
    stub.default = {"status": 500}
    options = {"retries": 0, "breaker_failures": 1, "breaker_reset_seconds": 1}
    replicas = [llm_app(timeout_seconds=12, **options) for _ in range(4)]
    replicas[0].assistant.ask(student("what is a circuit breaker"))
    assert all(r.llm.breaker.state == "open" for r in replicas)  # opened for every replica
    time.sleep(1.1)
    # The probe is held at the provider until the other replicas have asked: no timing luck.
    released = threading.Event()
    stub.default = {"hold": released, "text": "Half-open lets one request through [1]."}
    before = len(stub.chat_requests)
    probe = ThreadPoolExecutor(1).submit(
        replicas[0].assistant.ask, student("what is a half-open breaker")
    )
    deadline = time.monotonic() + 10
    while len(stub.chat_requests) == before and time.monotonic() < deadline:
        time.sleep(0.02)
    others = [r.assistant.ask(student("what is a half-open breaker")) for r in replicas[1:]]
    released.set()
    assert probe.result(timeout=15).mode == "llm"
    assert len(stub.chat_requests) == before + 1  # the SET NX lease let one process probe
    assert [r.mode for r in others] == ["extractive"] * 3
    assert all(r.llm.breaker.state == "closed" for r in replicas)


def test_the_api_key_never_reaches_replies_or_logs(llm_app, stub, caplog):
    stub.default = {"text": f"My key is {API_KEY} and Bearer {API_KEY}"}
    reply = llm_app().assistant.ask(student("what is a quorum"))
    assert API_KEY not in reply.markdown()
    stub.default = {"status": 401}
    llm_app().assistant.ask(student("what is a quorum"))
    assert API_KEY not in caplog.text


def test_quick_checks_are_graded_by_the_model_when_configured(llm_app, stub):
    from bot.quiz.bank import QuickCheck
    from tests.conftest import COURSE

    container = llm_app()
    bank = container.catalog.quiz_bank(COURSE)
    item = next(i for i in bank.items.values() if isinstance(i, QuickCheck))
    me = student("quiz", user="llm-grader")
    prompt = container.quiz.next_prompt(me, COURSE, item_id=item.id)
    stub.script.append({"json": {"covered": [item.key_points[0], "made-up point"]}})
    result = container.quiz.answer(me, prompt.prompt_id, "an answer the model grades")
    assert result.covered == [item.key_points[0]]
    assert result.missed == item.key_points[1:]
    grading = stub.chat_requests[-1]
    assert "<student_answer>" in grading["messages"][-1]["content"]

    stub.default = {"status": 500}  # the model fails: offline grading still answers
    other = next(i for i in bank.items.values() if isinstance(i, QuickCheck) and i.id != item.id)
    prompt = container.quiz.next_prompt(me, COURSE, item_id=other.id)
    offline = container.quiz.answer(me, prompt.prompt_id, " ".join(other.key_points))
    assert offline.score == 1.0


def test_breaker_state_is_shared_through_redis(llm_app, stub, redis_url):
    import redis

    stub.default = {"status": 500}
    first = llm_app(retries=0, breaker_failures=2, breaker_reset_seconds=30)
    second = llm_app(retries=0, breaker_failures=2, breaker_reset_seconds=30)  # another replica
    first.assistant.ask(student("what is a circuit breaker"))
    first.assistant.ask(student("what is a bulkhead"))
    assert len(stub.chat_requests) == 2
    reply = second.assistant.ask(student("what is a retry storm"))
    assert len(stub.chat_requests) == 2  # the other replica saw the open breaker
    assert "paused" in reply.markdown() and second.llm.breaker.state == "open"
    keys = redis.Redis.from_url(redis_url).keys(f"{first.settings.redis.key_prefix}:{{llm}}:*")
    assert keys  # one hash tag, so one Cluster slot; the test's prefix cleanup removes them


def test_rate_limited_call_is_retried_once_and_can_succeed(llm_app, stub):
    stub.script.append({"status": 429})
    stub.default = {"text": "Jitter spreads retries out [1]."}
    reply = llm_app(retries=1).assistant.ask(student("why add randomness to retry delays"))
    assert len(stub.chat_requests) == 2
    assert reply.mode == "llm" and reply.answer.startswith("Jitter spreads retries out")


def test_rate_limit_that_persists_falls_back_to_the_course(llm_app, stub):
    stub.default = {"status": 429}
    reply = llm_app(retries=1).assistant.ask(student("why add randomness to retry delays"))
    assert len(stub.chat_requests) == 2  # one try, one jittered retry
    assert reply.mode == "extractive" and "Jitter" in reply.answer
    assert "rate limited" in reply.markdown()


def test_a_rejected_request_is_not_retried(llm_app, stub):
    stub.default = {"status": 401}
    reply = llm_app(retries=1).assistant.ask(student("why add randomness to retry delays"))
    assert len(stub.chat_requests) == 1  # the same request would be refused again
    assert reply.mode == "extractive" and "error (401)" in reply.markdown()
