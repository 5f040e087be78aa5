"""The optional language model: langchain chat model behind a timeout, retry and circuit breaker."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import create_model
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from bot.config import LLMSettings
from bot.core.models import Passage, Turn
from bot.core.trace import ModelCall
from bot.resilience import Breaker, BreakerOpenError, BreakerStore
from bot.templates import PromptLibrary, PromptTemplate

logger = logging.getLogger(__name__)

TokenSink = Callable[[str], None]


class LLMUnavailable(Exception):
    """The model could not answer; `reason` is short and safe to show a student."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _is_transient(exc: BaseException) -> bool:
    """Retry timeouts, connection errors, 429 and 5xx; not bad requests or auth failures."""
    status = getattr(exc, "status_code", None)
    return status is None or status in (408, 409, 429) or status >= 500


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BreakerOpenError):
        return "the model has failed repeatedly, so it is paused for a while"
    name = type(exc).__name__.lower()
    status = getattr(exc, "status_code", None)
    if "timeout" in name:
        return "the model took too long to answer"
    if status == 429:
        return "the model is rate limited right now"
    if status:
        return f"the model returned an error ({status})"
    return "the model could not be reached"


class LLMClient:
    """Answers and slot extraction through any langchain chat model ("provider:model")."""

    def __init__(
        self,
        model: str,
        settings: LLMSettings,
        prompts: PromptLibrary,
        breaker_store: BreakerStore | None = None,
    ) -> None:
        from langchain.chat_models import init_chat_model

        self._settings = settings
        self._prompts = prompts
        self.model_name = model
        # The SDK's own retries are off: retries happen here, with jitter, inside the breaker.
        self._model = init_chat_model(
            model,
            timeout=settings.timeout_seconds,
            max_retries=0,
            temperature=settings.temperature,
        )
        tries = 1 + settings.retries
        self.breaker = Breaker(
            "the model",
            settings.breaker_failures,
            settings.breaker_reset_seconds,
            breaker_store,
            # The probe's lease outlasts its slowest outcome: every try timing out, with backoff.
            probe_lease_seconds=tries * settings.timeout_seconds + 4 * settings.retries + 5,
            counts=_is_transient,
        )

    def _call(
        self, action: Callable[[], Any], retry: bool = True, call: ModelCall | None = None
    ) -> Any:
        """Run one model action inside the breaker, with jittered retries; `call` records it."""
        call = call if call is not None else ModelCall()
        call.breaker_before = self.breaker.state

        def before_sleep(state: Any) -> None:
            call.delays.append(round(state.next_action.sleep, 3))

        def with_retries() -> Any:
            retrying = Retrying(
                stop=stop_after_attempt(1 + (self._settings.retries if retry else 0)),
                wait=wait_random_exponential(multiplier=0.5, max=4),
                retry=retry_if_exception(_is_transient),
                before_sleep=before_sleep,
                reraise=True,
            )
            for try_ in retrying:
                with try_:
                    call.tries += 1
                    return action()
            return None  # unreachable: Retrying either returns or raises

        try:
            with self.breaker.attempt():
                return with_retries()
        except Exception as exc:
            call.failure = _reason(exc)
            logger.warning("LLM call failed: %s", call.failure)
            raise LLMUnavailable(call.failure) from exc
        finally:
            call.breaker_after = self.breaker.state

    def answer(
        self,
        question: str,
        course: str,
        passages: Sequence[Passage],
        history: Sequence[Turn],
        template_prompt: str | None = None,
        on_token: TokenSink | None = None,
        call: ModelCall | None = None,
        level: str = "intermediate",
    ) -> str:
        """A grounded answer at the student's level; LLMUnavailable on error or open breaker."""
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
        from langchain_core.messages.utils import count_tokens_approximately

        quoted = []
        budget = self._settings.max_passage_tokens
        for number, passage in enumerate(passages, start=1):
            # The passage is data inside a fence; it must not be able to close the fence.
            text = passage.chunk.text.replace("</passage", "< /passage")
            budget -= count_tokens_approximately([HumanMessage(text)])
            if budget < 0 and quoted:
                break
            quoted.append({"number": number, "citation": passage.citation, "text": text})
        system = self._prompts.get("answer").render(
            {
                "course": course,
                "passages": quoted,
                "template_prompt": template_prompt or "",
                "level": level,
            }
        )
        messages: list[Any] = [SystemMessage(system)]
        for turn in history[-6:]:
            messages.append(
                HumanMessage(turn.text) if turn.role == "student" else AIMessage(turn.text)
            )
        messages.append(HumanMessage(question))

        if on_token is None:
            return str(self._call(lambda: self._model.invoke(messages), call=call).content)

        def stream() -> str:
            parts: list[str] = []
            for chunk in self._model.stream(messages):
                if chunk.content:
                    parts.append(str(chunk.content))
                    on_token(str(chunk.content))
            return "".join(parts)

        # No retry once tokens have been shown: a retry would repeat them.
        return str(self._call(stream, retry=False, call=call))

    def extract_slots(self, template: PromptTemplate, message: str) -> dict[str, Any]:
        """Slot values by structured output; raises LLMUnavailable."""
        fields: dict[str, Any] = {
            slot.name: ((list[str], []) if slot.type == "list" else (str | None, None))
            for slot in template.slots
        }
        schema = create_model("TemplateSlots", **fields)
        prompt = self._prompts.get("slot-extraction").render(
            {
                "template_title": template.title,
                "slots": [s.model_dump() for s in template.slots],
                "message": message,
            }
        )
        structured = self._model.with_structured_output(schema)
        result = self._call(lambda: structured.invoke(prompt))
        values = result.model_dump() if hasattr(result, "model_dump") else dict(result)
        return {k: v for k, v in values.items() if v}

    def covered_key_points(
        self, question: str, model_answer: str, key_points: list[str], answer: str
    ) -> list[str]:
        """Which key points a free-recall answer covers; raises LLMUnavailable."""
        from pydantic import BaseModel

        class Covered(BaseModel):
            covered: list[str]

        prompt = self._prompts.get("quiz-grading").render(
            {
                "question": question,
                "model_answer": model_answer,
                "key_points": key_points,
                "answer": answer.replace("</student_answer", "< /student_answer"),
            }
        )
        result = self._call(lambda: self._model.with_structured_output(Covered).invoke(prompt))
        return [point for point in key_points if point in set(result.covered)]
