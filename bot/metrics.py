"""Prometheus metrics of this process: every metric is defined here, on one registry."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

if TYPE_CHECKING:
    from bot.core.trace import Trace

# One registry per process, served at /metrics. Defining a metric does no I/O.
REGISTRY = CollectorRegistry(auto_describe=True)

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0)

QUESTIONS = Counter(
    "studybot_questions",
    "Questions answered, by platform, answer mode (llm, extractive) and concept (none: off-topic).",
    ["platform", "mode", "concept"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "studybot_request_seconds",
    "Wall time of a request from arrival to the reply sent, by platform.",
    ["platform"],
    buckets=_SECONDS,
    registry=REGISTRY,
)
STAGE_SECONDS = Histogram(
    "studybot_stage_seconds",
    "Time spent per request stage (dedupe, redis, retrieval, llm, platform), from the trace.",
    ["stage"],
    buckets=_SECONDS,
    registry=REGISTRY,
)
FALLBACKS = Counter(
    "studybot_llm_fallbacks",
    "Answers taken from the course notes because the model failed or its breaker was open.",
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "studybot_rate_limited",
    "Questions refused by the per-user rate limit, by platform.",
    ["platform"],
    registry=REGISTRY,
)
DUPLICATES = Counter(
    "studybot_duplicate_events",
    "Redeliveries of a platform event ignored by the dedupe (SET NX on the event id).",
    ["platform"],
    registry=REGISTRY,
)
BREAKER_STATE = Gauge(
    "studybot_llm_breaker_state",
    "The LLM circuit breaker as this process reads it: 0 closed, 1 half-open, 2 open, "
    "-1 no model configured.",
    registry=REGISTRY,
)
BREAKER_STATE.set(-1)
BREAKER_VALUES = {"closed": 0, "half-open": 1, "open": 2}
UNAVAILABLE = Counter(
    "studybot_dependency_unavailable",
    "Requests that met a dependency down: answered without it (redis) or told to retry (chroma).",
    ["dependency"],
    registry=REGISTRY,
)
PUSHES = Counter(
    "studybot_pushes",
    "Push deliveries: sent, failed (one failed attempt, retried) and dead_lettered.",
    ["platform", "outcome"],
    registry=REGISTRY,
)
QUIZ_ANSWERS = Counter(
    "studybot_quiz_answers",
    "Quiz answers: multiple choice correct or wrong, quick checks graded, revealed or rated.",
    ["kind", "outcome"],
    registry=REGISTRY,
)

_process_lock = threading.Lock()
_process_collector: list[ProcessCollector] = []


def observe_trace(platform: str, trace: Trace) -> None:
    """Count one finished request from its trace: question, per-stage times, fallback."""
    if trace.duplicate:
        return  # counted by the dedupe itself
    if trace.rate_limited:
        RATE_LIMITED.labels(platform).inc()
        return
    if trace.mode:
        QUESTIONS.labels(platform, trace.mode, trace.concept or "none").inc()
    for stage, spent_ms in trace.stages_ms.items():
        STAGE_SECONDS.labels(stage).observe(spent_ms / 1000)
    if trace.total_ms:
        REQUEST_SECONDS.labels(platform).observe(trace.total_ms / 1000)
    if trace.fallback:
        FALLBACKS.inc()


def watch_breaker(breaker: Any) -> None:
    """Read the (Redis-shared) breaker state at each scrape, so the gauge is never stale."""
    BREAKER_STATE.set_function(lambda: BREAKER_VALUES.get(breaker.state, -1))


def render() -> tuple[bytes, str]:
    """The registry in Prometheus' text format, and its content type."""
    with _process_lock:
        if not _process_collector:  # reads /proc, so only once something serves /metrics
            _process_collector.append(ProcessCollector(registry=REGISTRY))
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
