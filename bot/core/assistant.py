"""The service every adapter calls: ask, templates, course choice, content gaps."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot import metrics
from bot.core.errors import InputError, NotAllowedError, NotFoundError, StateUnavailableError
from bot.core.extractive import AnswerComposer
from bot.core.intent import EXPLAIN, Intent, IntentClassifier
from bot.core.levels import INTERMEDIATE, LevelSource
from bot.core.models import Address, Incoming, Passage, Reply, TemplateFill, Turn
from bot.core.pending import PendingDecision, decide
from bot.core.routing import CONCEPT_TITLES, route_concept
from bot.core.safety import SecretRedactor, safe_text
from bot.core.slot_reader import SlotReader
from bot.core.slots import MAX_ITEMS
from bot.core.text import clean_query, clean_text
from bot.core.trace import ModelCall, Trace, describe
from bot.core.turns import TurnClassifier
from bot.state.conversations import ConversationStore, CourseChoices, Gap, GapLog, PendingTemplate
from bot.state.feedback import AnswerRecord, FeedbackStore
from bot.state.traces import TraceLog
from bot.templates import PromptLibrary, PromptTemplate

if TYPE_CHECKING:
    from bot.llm import LLMClient
    from bot.retrieval.courses import CourseCatalog
    from bot.retrieval.search import HybridSearcher

logger = logging.getLogger(__name__)

TokenSink = Callable[[str], None]

HISTORY_UNAVAILABLE = (
    "My conversation memory is unreachable right now, so I answered without our earlier messages."
)
_FOLLOW_UP = re.compile(
    r"^(and|but|also|what about|how about|same for)\b|\b(it|that|this|those|them|the \w+ part)\b",
    re.IGNORECASE,
)


@dataclass
class _Context:
    """What one question carries through the pipeline."""

    incoming: Incoming
    text: str  # cleaned, on one line: for retrieval and history
    course: str
    layout: str = ""  # cleaned with its line breaks: labelled lines and bullets carry slots
    history: list[Turn] = field(default_factory=list)
    pending: PendingTemplate | None = None
    state_ok: bool = True
    notes: list[str] = field(default_factory=list)
    trace: Trace = field(default_factory=lambda: Trace("core", ""))


class Assistant:
    """Answers from the course, routes concepts, fills templates, remembers threads."""

    def __init__(
        self,
        *,
        searcher: HybridSearcher,
        catalog: CourseCatalog,
        prompts: PromptLibrary,
        composer: AnswerComposer,
        conversations: ConversationStore,
        gaps: GapLog,
        course_choices: CourseChoices,
        redactor: SecretRedactor,
        max_question_chars: int,
        feedback: FeedbackStore,
        traces: TraceLog,
        intents: IntentClassifier,
        turns: TurnClassifier,
        slots: SlotReader,
        llm: LLMClient | None = None,
        levels: LevelSource | None = None,
    ) -> None:
        self._searcher = searcher
        self._catalog = catalog
        self.prompts = prompts
        self._composer = composer
        self._conversations = conversations
        self._gaps = gaps
        self._course_choices = course_choices
        self._redact = redactor
        self._max_chars = max_question_chars
        self._feedback = feedback
        self._traces = traces
        self._intents = intents
        self._turns = turns
        self.slots = slots
        self.llm = llm
        self._levels = levels

    # -- courses ---------------------------------------------------------------

    def course_for(self, incoming: Incoming) -> str:
        """The course to answer from: explicit, else the channel's, else the tenant's."""
        if incoming.course:
            return self._catalog.resolve(incoming.course)
        try:
            chosen = self._course_choices.for_channel(
                incoming.address.tenant_key, incoming.address.channel
            )
        except StateUnavailableError:
            chosen = None  # AP: fall back to the default course
        if chosen and chosen in self._catalog.known():
            return chosen
        return self._catalog.resolve(None)

    def set_course(self, address: Address, course: str, is_admin: bool, channel: bool) -> str:
        """Set the channel's (or the tenant's) course; managers only."""
        if not is_admin:
            raise NotAllowedError("only channel managers can change the course")
        name = self._catalog.resolve(course)
        try:
            self._course_choices.set(address.tenant_key, name, address.channel if channel else None)
        except StateUnavailableError as exc:
            raise StateUnavailableError("the course setting could not be saved; try again") from exc
        return name

    # -- traces ----------------------------------------------------------------

    def keep_trace(self, address: Address, user: str, trace: Trace) -> None:
        """Store a finished request's trace; best effort (AP), it never fails a request."""
        trace.finish()
        metrics.observe_trace(address.platform, trace)
        logger.info(
            "%s: %s in %.0f ms",
            trace.surface,
            "duplicate ignored" if trace.duplicate else trace.mode or "not answered",
            trace.total_ms,
        )
        try:
            self._traces.save(address.tenant_key, user, trace)
        except StateUnavailableError:
            logger.warning("could not keep the request trace")

    def explain_last(self, address: Address, user: str) -> str:
        """The student's last request, told as the reliability steps it went through."""
        try:
            found = self._traces.last(address.tenant_key, user)
        except StateUnavailableError as exc:
            raise StateUnavailableError("traces are kept in Redis, which is unreachable") from exc
        if found is None:
            return "No recent request to explain yet: ask me something, then try again."
        return describe(*found)

    # -- conversation ----------------------------------------------------------

    def understood(self, incoming: Incoming) -> PendingTemplate | None:
        """The template fill of the student's thread (for an Edit form), if there is one."""
        try:
            return self._conversations.load(*self._thread_key(incoming))[1]
        except StateUnavailableError as exc:
            raise StateUnavailableError("the conversation is unreachable right now") from exc

    def reset(self, incoming: Incoming) -> None:
        """Forget a thread's history and pending template."""
        self._conversations.reset(*self._thread_key(incoming))

    def gaps(self, address: Address, limit: int = 50) -> list[Gap]:
        """Questions the course does not cover, newest first."""
        return self._gaps.newest(address.tenant_key, limit)

    @staticmethod
    def _thread_key(incoming: Incoming) -> tuple[str, str, str]:
        return incoming.address.tenant_key, incoming.user, incoming.thread

    def _load_state(self, ctx: _Context) -> None:
        try:
            with ctx.trace.stage("redis"):
                ctx.history, ctx.pending = self._conversations.load(*self._thread_key(ctx.incoming))
        except StateUnavailableError as exc:
            logger.warning("conversation state unavailable: %s", type(exc).__name__)
            ctx.state_ok = ctx.trace.state_ok = False
            ctx.notes.append(HISTORY_UNAVAILABLE)

    def _save_turns(self, ctx: _Context, reply: Reply) -> None:
        if not ctx.state_ok:
            return
        try:
            with ctx.trace.stage("redis"):
                self._conversations.append(
                    *self._thread_key(ctx.incoming),
                    Turn("student", ctx.text, reply.concept),
                    Turn("bot", reply.answer[:2000], reply.concept),
                )
        except StateUnavailableError:
            logger.warning("could not save the conversation turn")

    def _save_pending(self, ctx: _Context, pending: PendingTemplate | None) -> None:
        if not ctx.state_ok:
            return
        try:
            with ctx.trace.stage("redis"):
                key = self._thread_key(ctx.incoming)
                if pending:
                    self._conversations.set_pending(*key, pending)
                elif ctx.pending:
                    self._conversations.clear_pending(*key)
        except StateUnavailableError:
            logger.warning("could not save the pending template")

    # -- asking ----------------------------------------------------------------

    def ask(
        self,
        incoming: Incoming,
        on_token: TokenSink | None = None,
        template_id: str | None = None,
        trace: Trace | None = None,
        slot_values: dict[str, str] | None = None,
    ) -> Reply:
        """Answer a question (or a reply to a slot question) from the course.

        `slot_values` (the CLI's `--slot NAME=VALUE`) set slots of the template outright.

        `trace`, when given, records the stages and reliability decisions for `/study trace`.
        """
        trace = trace if trace is not None else Trace("core", "")
        text = clean_query(incoming.text, self._max_chars)
        trace.question = text[:80]
        forced = self.prompts.template(template_id) if template_id else None
        with trace.stage("redis"):
            course = self.course_for(incoming)
        with trace.stage("retrieval"):
            self._catalog.ensure_indexed(course)
        layout = clean_text(incoming.text).strip()
        ctx = _Context(incoming, text, course, layout=layout, trace=trace)
        self._load_state(ctx)

        template, slots, question = forced, {}, text
        extract = True  # read slots from the text (not when it only answered the bot's ask)
        dropped: PromptTemplate | None = None
        intent = self._intents.predict(text, layout)
        trace.intent = intent.label
        if forced is None and ctx.pending and ctx.pending.course == course:
            waiting = self.prompts.get(ctx.pending.template_id)
            turn, others = self._turns.predict(text, layout), self.prompts.user_templates()
            decision = decide(waiting, ctx.pending, layout, intent, turn, self.slots, others)
            trace.pending = decision.kind
            if decision.kind == PendingDecision.ASIDE:
                # Answered as an explanation: "why would orders be CP?" opens no template.
                intent = Intent(EXPLAIN, intent.confidence)
            elif decision.kind == PendingDecision.ABANDON:
                self._save_pending(ctx, None)
                dropped = waiting
                ctx.notes.append(f"Dropped: {dropped.title}. Ask for it again any time.")
            elif decision.kind == PendingDecision.SWITCH:  # the system carries over
                template, slots = self.prompts.template(decision.switch_to), decision.slots
            elif decision.kind != PendingDecision.NEW_QUESTION:
                template, slots, question = waiting, decision.slots, ctx.pending.question
                extract = False
        retrieval_query = question
        with trace.stage("retrieval"):
            result = self._searcher.search(question, course)
            if question == text and ctx.history and _FOLLOW_UP.search(text):
                # "and what about the payments part?" means little alone: try it with the
                # previous question and keep whichever retrieval is more confident.
                last = next((t.text for t in reversed(ctx.history) if t.role == "student"), "")
                combined = self._searcher.search(f"{last} {text}", course)
                if combined.best_similarity > result.best_similarity + 0.05:
                    retrieval_query, result = f"{last} {text}", combined
        if template is None and intent.template_id:
            template = self.prompts.template(intent.template_id)
        if slot_values and template is None:
            raise InputError("slot values need a template: name one, or ask for an analysis")
        concept = route_concept(retrieval_query, result.passages, result.in_scope)
        if template is not None:
            # The template names the concept: "what CAP trade-offs should a chat app make"
            # may retrieve a passage on consistency, or none, but it asks for CAP.
            concept = template.concept or concept

        # A course without concept labels (an instructor's own files) is in scope by its
        # retrieval alone; a named concept keeps a question whose retrieval was unsure.
        off_topic = concept is None and not result.in_scope
        if off_topic and dropped:
            # "forget it" asks nothing else: the note is the whole reply.
            reply = self._finish(Reply("OK.", "extractive", True, None, notes=ctx.notes))
        elif off_topic:
            reply = self._abstain(ctx, result.passages)
        else:
            passages = result.passages
            overrides = template.values_from_form(slot_values or {}) if template else {}
            fill = (
                self._fill_template(ctx, template, slots, question, extract, overrides)
                if template
                else None
            )
            reply = self._answer(ctx, question, concept, passages, fill, on_token)
        self._save_turns(ctx, reply)
        self._save_answer(ctx, reply)
        trace.mode, trace.concept, trace.in_scope = reply.mode, reply.concept, reply.in_scope
        return reply

    def _save_answer(self, ctx: _Context, reply: Reply) -> None:
        """Keep the answer for feedback buttons (AP: skipped if Redis is down)."""
        if not ctx.state_ok:
            return
        record = AnswerRecord(
            reply.id,
            ctx.incoming.address.tenant_key,
            ctx.text,
            reply.answer[:4000],
            reply.concept,
            [f"{p.chunk.path} > {p.chunk.section}" for p in reply.passages],
            reply.followups,
        )
        try:
            with ctx.trace.stage("redis"):
                self._feedback.save_answer(record)
        except StateUnavailableError:
            logger.warning("could not keep the answer for feedback")

    def followup(self, address: Address, answer_id: str, index: int) -> str:
        """The text of an answer's suggested follow-up (buttons carry only ids)."""
        record = self._feedback.answer(address.tenant_key, answer_id)
        if record is None or not 0 <= index < len(record.followups):
            raise NotFoundError("that suggestion has expired; ask the question again")
        return record.followups[index]

    def rate_answer(
        self, address: Address, user: str, answer_id: str, helpful: bool, reason: str = ""
    ) -> None:
        """A student's helpful / not helpful verdict; the last click wins."""
        try:
            known = self._feedback.rate(
                address.tenant_key, answer_id, user, helpful, clean_text(reason).strip()
            )
        except StateUnavailableError as exc:
            raise StateUnavailableError("feedback could not be saved; try again") from exc
        if not known:
            raise NotFoundError("that answer is too old to rate")

    def fill_template(
        self,
        incoming: Incoming,
        template_id: str,
        values: dict[str, str | list[str]],
        trace: Trace | None = None,
    ) -> Reply:
        """Fill a template from a form (one field per slot) and answer with it."""
        template = self.prompts.template(template_id)
        slots = template.values_from_form(values)
        if missing := template.missing(slots):
            raise InputError(f"please fill in: {', '.join(m.replace('_', ' ') for m in missing)}")
        question = f"{template.title} for {slots.get('system', 'my system')}"
        trace = trace if trace is not None else Trace("core", "")
        trace.question = question[:80]
        with trace.stage("redis"):
            course = self.course_for(incoming)
        ctx = _Context(incoming, question, course, trace=trace)
        self._load_state(ctx)
        with trace.stage("retrieval"):
            self._catalog.ensure_indexed(course)
            passages = self._searcher.search(question, course).passages
        fill = TemplateFill(template.id, slots, [], template.render(slots))
        concept = template.concept or route_concept(question, passages, True) or "design"
        reply = self._answer(ctx, question, concept, passages, fill, None)
        self._save_turns(ctx, reply)
        self._save_answer(ctx, reply)
        trace.mode, trace.concept, trace.in_scope = reply.mode, reply.concept, reply.in_scope
        return reply

    def _fill_template(
        self,
        ctx: _Context,
        template: PromptTemplate,
        slots: dict[str, Any],
        question: str,
        extract: bool = True,
        overrides: dict[str, Any] | None = None,
    ) -> TemplateFill:
        found = self.slots.read(template, ctx.layout or ctx.text) if extract else {}
        if extract and self.llm:
            # The model reads the slots first (structured output); where it fails, times
            # out or its breaker is open, the local extractor's reading stands.
            try:
                with ctx.trace.stage("llm"):
                    found = {**found, **self.llm.extract_slots(template, ctx.layout or ctx.text)}
            except Exception as exc:
                logger.info("LLM slot extraction skipped: %s", exc)
        slots = {**slots, **found, **(overrides or {})}
        slots = {s.name: slots[s.name] for s in template.slots if slots.get(s.name)}
        if any(isinstance(v, list) and len(v) >= MAX_ITEMS for v in slots.values()):
            ctx.notes.append(f"Long lists are capped: I kept the first {MAX_ITEMS} items of each.")
        missing = template.missing(slots)
        prompt = None if missing else template.render(slots)
        # Kept when complete too, so "no, the system is a hotel chain" can still correct it.
        self._save_pending(ctx, PendingTemplate(template.id, slots, missing, question, ctx.course))
        return TemplateFill(template.id, slots, missing, prompt)

    def _abstain(self, ctx: _Context, passages: list[Passage]) -> Reply:
        nearest = list(dict.fromkeys(p.chunk.section.split(" > ")[-1] for p in passages[:3]))
        topics = "; ".join(nearest[:3])
        answer = (
            "That doesn't look like something this course covers, so I'd rather not guess. "
            + (f"The nearest topics I know are: {topics}." if topics else "")
        )
        if ctx.state_ok:
            try:
                self._gaps.record(ctx.incoming.address.tenant_key, ctx.text)
            except StateUnavailableError:
                logger.warning("could not record the content gap")
        return self._finish(
            Reply(answer=answer, mode="extractive", in_scope=False, concept=None, notes=ctx.notes)
        )

    def _answer(
        self,
        ctx: _Context,
        question: str,
        concept: str | None,
        passages: list[Passage],
        fill: TemplateFill | None,
        on_token: TokenSink | None,
    ) -> Reply:
        mode, body = "extractive", None
        level = self._level(ctx, concept)
        if self.llm and (fill is None or not fill.missing):
            from bot.llm import LLMUnavailable

            ctx.trace.model = ModelCall()
            try:
                with ctx.trace.stage("llm"):
                    body = self.llm.answer(
                        question,
                        ctx.course,
                        passages,
                        ctx.history,
                        fill.prompt if fill else None,
                        on_token,
                        ctx.trace.model,
                        level,
                    )
                mode = "llm"
            except LLMUnavailable as exc:
                ctx.trace.fallback = exc.reason
                ctx.notes.append(f"Answered straight from the course notes: {exc.reason}.")
        if body is None:
            with ctx.trace.stage("retrieval"):
                about = fill.strip_from(question) if fill else question
                body = self._composer.compose(about, passages, level)
        sections = [body]
        if fill:
            sections.append(
                self.prompts.get(fill.id).describe(fill.slots, fill.missing, fill.prompt)
            )
        reply = Reply(
            answer="\n\n".join(s for s in sections if s),
            mode=mode,
            in_scope=True,
            concept=concept,
            passages=passages,
            template=fill,
            followups=self._followups(concept, passages, fill),
            notes=ctx.notes,
            citations=list(dict.fromkeys(p.citation for p in passages[:3])),
            body=body,
        )
        return self._finish(reply)

    def _level(self, ctx: _Context, concept: str | None) -> str:
        """The level to write for: the student's choice, else what their quiz cards suggest."""
        if self._levels is None or ctx.course is None:
            return INTERMEDIATE
        return self._levels.level_for(ctx.incoming, ctx.course, concept).level

    def _followups(
        self, concept: str | None, passages: list[Passage], fill: TemplateFill | None
    ) -> list[str]:
        suggestions = [
            f"Tell me more about {p.chunk.section.split(' > ')[-1]}" for p in passages[1:3]
        ]
        template = self.prompts.for_concept(concept) if concept else None
        if concept and template and not fill:
            suggestions.insert(0, f"Apply {CONCEPT_TITLES[concept]} to my own system")
        return suggestions[:3]

    def _finish(self, reply: Reply) -> Reply:
        reply.answer = self._redact(safe_text(reply.answer))
        reply.body = self._redact(safe_text(reply.body or reply.answer))
        reply.notes = [self._redact(safe_text(n)) for n in reply.notes]
        # Headings come from course files too: they must not ping or embed either.
        reply.citations = [safe_text(c) for c in reply.citations]
        return reply
