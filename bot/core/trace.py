"""What the bot did to answer one request reliably, kept so `/study trace` can explain it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

# The order stages are shown in; anything else follows.
STAGES = ("dedupe", "redis", "retrieval", "llm", "platform")
STAGE_LABELS = {
    "dedupe": "duplicate check",
    "redis": "Redis (history, saving)",
    "retrieval": "retrieval (embed + search)",
    "llm": "language model",
    "platform": "platform API",
}

DEPENDENCY_LABELS = {
    "chroma": "the course index (Chroma) was unreachable, so nothing could be looked up",
    "redis": "Redis was unreachable, so nothing was changed",
    "platform": "the chat platform's API did not take the reply",
    "bot": "an error inside the bot",
}


@dataclass
class ModelCall:
    """One language-model call as it went: tries, backoff delays and the breaker around it."""

    tries: int = 0
    delays: list[float] = field(default_factory=list)
    breaker_before: str = "closed"
    breaker_after: str = "closed"
    failure: str | None = None  # a short, student-safe reason


@dataclass
class Trace:
    """One request: the reliability decisions taken and the time spent per stage."""

    surface: str  # e.g. "Slack mention", "Discord /study ask", "CLI ask"
    request_id: str
    question: str = ""
    started_at: float = field(default_factory=time.time)
    duplicate: bool = False  # this delivery was a repeat of request_id, and was ignored
    retry_num: int | None = None  # the platform's own redelivery counter, when it sends one
    rate_limited: bool = False
    stages_ms: dict[str, float] = field(default_factory=dict)
    model: ModelCall | None = None
    fallback: str | None = None  # why the answer came from the notes instead of the model
    mode: str | None = None  # "llm" | "extractive"
    concept: str | None = None
    in_scope: bool | None = None
    intent: str | None = None  # "explain" or the template the question asked for
    pending: str | None = None  # what a message did to a pending template, if one was open
    state_ok: bool = True  # Redis reachable for conversation state
    # Checks that went ahead without Redis: "duplicate check", "rate limit".
    skipped: list[str] = field(default_factory=list)
    # A dependency that stopped the request: "chroma", "redis", "platform" or "bot".
    failed: str | None = None
    failed_reason: str | None = None  # short and safe to show (an exception's class name)
    total_ms: float = 0.0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Add the time spent inside the block to the named stage."""
        start = time.perf_counter()
        try:
            yield
        finally:
            spent = (time.perf_counter() - start) * 1000
            self.stages_ms[name] = round(self.stages_ms.get(name, 0.0) + spent, 1)

    def finish(self) -> None:
        """Stamp the wall time since the request arrived."""
        self.total_ms = round((time.time() - self.started_at) * 1000, 1)

    def to_json(self) -> str:
        """Compact JSON for Redis."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> Trace:
        """Rebuild a stored trace; unknown fields from newer versions are dropped."""
        data: dict[str, Any] = json.loads(raw)
        model = data.pop("model", None)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known, model=ModelCall(**model) if model else None)


def _duration(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms"


def _model_lines(call: ModelCall) -> list[str]:
    lines = []
    if call.breaker_before == "open":
        lines.append(
            "• Circuit breaker: *open*, so the model was not called at all. After failing "
            "repeatedly it gets a rest; one probe will test it once the reset time has passed."
        )
        return lines
    tries = f"{call.tries} {'try' if call.tries == 1 else 'tries'}"
    if call.delays:
        waits = ", ".join(f"{d:.2f} s" for d in call.delays)
        lines.append(
            f"• Model: {tries}, retried after {waits} (exponential backoff with random jitter, "
            "so many clients retrying at once do not hit the provider in lockstep)."
        )
    else:
        lines.append(f"• Model: {tries}.")
    if call.breaker_before != call.breaker_after:
        lines.append(
            f"• Circuit breaker: {call.breaker_before} → *{call.breaker_after}*"
            + (
                "; the next requests skip the model until it has rested."
                if call.breaker_after == "open"
                else "; the probe succeeded, so the model is back in use."
            )
        )
    elif call.breaker_before == "half-open":
        lines.append("• Circuit breaker: half-open; this request was the single probe.")
    return lines


def describe(trace: Trace, repeats: list[Trace] | None = None) -> str:
    """A short, readable account of one request for a student (Slack and Discord markdown).

    `repeats` are later deliveries of the same event that the duplicate check ignored.
    """
    repeats = repeats or []
    when = time.strftime("%H:%M:%S UTC", time.gmtime(trace.started_at))
    question = f" “{trace.question}”" if trace.question else ""
    lines = [f"*Trace of your last request* ({trace.surface}, {when}){question}"]
    if repeats:
        numbers = sorted(str(r.retry_num) for r in repeats if r.retry_num is not None)
        which = f" (retry {', '.join(numbers)})" if numbers else ""
        lines.append(
            f"• Duplicate check: first delivery answered; {len(repeats)} "
            f"{'redelivery' if len(repeats) == 1 else 'redeliveries'} of the same event{which} "
            "ignored. Event ids are kept in Redis for an hour, so each is answered once."
        )
    elif "dedupe" in trace.stages_ms:
        lines.append("• Duplicate check: first delivery of this event, so it was answered.")
    if trace.rate_limited:
        lines.append("• Rate limit: over your per-minute allowance, so this one was refused.")
    if trace.skipped:
        lines.append(
            f"• {' and '.join(trace.skipped).capitalize()}: skipped, because Redis was "
            "unreachable. Answering matters more (AP), so a platform retry may be answered twice."
        )
    if trace.failed:
        why = f" ({trace.failed_reason})" if trace.failed_reason else ""
        lines.append(f"• Failed: {DEPENDENCY_LABELS.get(trace.failed, trace.failed)}{why}.")
    if not trace.state_ok:
        lines.append(
            "• Redis: unreachable, so I answered without your history (answers stay available; "
            "quiz progress waits until Redis is back)."
        )
    if trace.pending:
        lines.append(f"• Open template: your message was read as a {trace.pending}.")
    elif trace.intent and trace.intent != "explain":
        lines.append(f"• Understood as a request to fill the {trace.intent} template.")
    if trace.model:
        lines += _model_lines(trace.model)
    if trace.fallback:
        lines.append(f"• Fallback: answered straight from the course notes ({trace.fallback}).")
    elif trace.mode == "extractive" and trace.model is None and trace.in_scope:
        lines.append("• Answer: sentences picked from the course notes (no model configured).")
    if trace.in_scope is False:
        lines.append("• Scope: nothing in the course matched well enough, so I did not guess.")
    timed = [s for s in STAGES if s in trace.stages_ms]
    timed += [s for s in trace.stages_ms if s not in STAGES]
    if timed:
        parts = ", ".join(
            f"{STAGE_LABELS.get(s, s)} {_duration(trace.stages_ms[s])}" for s in timed
        )
        lines.append(f"• Time: {parts}; {_duration(trace.total_ms)} in all.")
    return "\n".join(lines)
