"""Terminal chat over the same core: questions, templates, quizzes and progress."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markdown import Markdown
from rich.markup import escape
from rich.text import Text

from bot.adapters.failures import failure_of, note_failure
from bot.adapters.views import markdown
from bot.core.assistant import Assistant
from bot.core.commands import Actor, StudyCommands
from bot.core.errors import InputError
from bot.core.examples import WorkedExamples
from bot.core.models import Address, Citation, Incoming, Reply
from bot.core.trace import Trace
from bot.quiz.service import QuizService
from bot.quiz.views import AnswerResult, QuizPrompt

logger = logging.getLogger(__name__)

HELP = """Ask anything about the course. Commands:
  /quiz [concept]      a quiz question (due cards first); type your answer next
  /stats               your progress
  /level [LEVEL]       show or choose how deep answers go: beginner, intermediate, advanced, auto
  /streak, /link [CODE], /group ACTION [NAME], /course
                       the same as /study on Slack and Discord
  /template            list the prompt templates
  /template ID         fill a template for your own system, step by step
  /template ID example see it filled in for a sample app (a worked example)
  /edit NAME=VALUE     correct what I understood, e.g. /edit system=a hotel chain
  /trace               how your last question was handled (retries, fallback, timings)
  /reset               forget this conversation
  /help                this text
  /quit                leave (Ctrl-D works too)"""


def render_prompt(prompt: QuizPrompt) -> Markdown:
    """A quiz question with lettered options."""
    label = "Review" if prompt.due else "New"
    lines = [f"**{label} question ({prompt.concept}):** {prompt.text}"]
    lines += [f"- **{chr(ord('a') + i)}**) {option}" for i, option in enumerate(prompt.options)]
    if not prompt.options:
        lines.append("_Write your answer in a few sentences._")
    return Markdown("\n".join(lines))


def render_result(result: AnswerResult) -> Markdown:
    """Feedback on an answer: right or wrong, the explanation, the model answer, the source."""
    lines = []
    if result.duplicate:
        lines.append("_You already answered this one; it counted once._")
    if result.kind == "multiple-choice":
        verdict = (
            "Correct!" if result.correct else f"Not quite: the answer is **{result.model_answer}**."
        )
        lines += [verdict, result.explanation]
    else:
        lines.append(
            f"Key points covered: {len(result.covered)}/{len(result.covered) + len(result.missed)}"
        )
        lines += [f"- missed: {point}" for point in result.missed]
        lines.append(f"**Model answer:** {result.model_answer}")
        if result.hint:
            lines.append(result.hint)
        if not result.rating:
            lines.append("How well did you recall it? **again / hard / good / easy**")
    if result.next_due:
        lines.append(f"Next review: {result.next_due[:16].replace('T', ' ')} UTC")
    lines.append(f"_Source: {result.source}_")
    return Markdown("\n\n".join(lines))


def source_line(citation: Citation) -> str:
    """A source for the terminal: label, then the file's path and its page, if known."""
    where = " · ".join(part for part in (citation.path, citation.url) if part)
    return f"- {citation.label}" + (f" ({where})" if where else "")


def render(reply: Reply) -> Group:
    """A core Reply for the terminal: the answer as rich Markdown, its sources as plain text.

    Plain, because a path, a URL or a heading from a course file read as Markdown could
    become a link or styling the file's author never wrote.
    """
    parts: list[RenderableType] = [
        Markdown("\n\n".join([reply.answer, *(f"_{note}_" for note in reply.notes)]))
    ]
    if reply.citations:
        parts.append(Text("\nSources", style="bold"))
        parts.append(Text("\n".join(source_line(c) for c in reply.cited())))
    if reply.followups:
        parts.append(Text())  # the blank line Markdown would leave between the two
        parts.append(
            Markdown("**You could ask next**\n" + "\n".join(f"- {f}" for f in reply.followups))
        )
    return Group(*parts)


class ConsoleChat:
    """A read-eval-print loop; one thread per session, so history stays with it."""

    def __init__(
        self,
        assistant: Assistant,
        console: Console,
        user: str,
        course: str | None = None,
        read: Callable[[str], str] = input,
        quiz: QuizService | None = None,
        commands: StudyCommands | None = None,
        examples: WorkedExamples | None = None,
    ) -> None:
        self._assistant = assistant
        self._console = console
        self._read = read
        self._address = Address("console", "local", "terminal")
        self._user = user
        self._course = course
        self._thread = uuid.uuid4().hex[:12]
        self._quiz: QuizService | None = quiz
        self._commands = commands
        self._example_service = examples
        self._open_prompt: QuizPrompt | None = None
        self._to_rate: str | None = None

    def _incoming(self, text: str) -> Incoming:
        return Incoming(self._address, self._user, text, self._thread, self._course)

    def run(self) -> None:
        """Loop until /quit or end of input."""
        mode = "LLM" if self._assistant.llm else "extractive"
        self._console.print(f"[bold]studybot[/bold] ({mode} answers). /help for commands.")
        while True:
            try:
                line = self._read("you> ").strip()
            except (EOFError, KeyboardInterrupt):
                self._console.print()
                return
            if not line:
                continue
            if line in {"/quit", "/exit"}:
                return
            try:
                self._handle(line)
            except Exception as exc:  # whatever failed, say what is unavailable and go on
                logger.debug("command failed", exc_info=exc)
                self._console.print(f"[yellow]{escape(failure_of(exc).message)}[/yellow]")

    def _handle(self, line: str) -> None:
        if line == "/help":
            self._console.print(HELP)
        elif line == "/reset":
            self._assistant.reset(self._incoming("reset"))
            self._thread = uuid.uuid4().hex[:12]
            self._console.print("Conversation forgotten.")
        elif line == "/template" or line.startswith("/template "):
            template_id = line.removeprefix("/template").strip()
            if not template_id:
                for template in self._assistant.prompts.user_templates():
                    slots = ", ".join(s.name for s in template.slots)
                    self._console.print(f"[bold]{template.id}[/bold]: {template.title} ({slots})")
                return
            template_id, _, rest = template_id.partition(" ")
            template = self._assistant.prompts.template(template_id)
            if rest.strip().lower() == "example":
                course = self._course_name()
                self._console.print(Markdown(self._examples().show(course, template.id)))
                return
            self._show(self._ask("Fill this template in for my system", template.id))
        elif line == "/quiz" or line.startswith("/quiz "):
            self._next_question(line.removeprefix("/quiz").strip() or None)
        elif line.startswith("/edit"):
            name, equals, value = line.removeprefix("/edit").strip().partition("=")
            if not equals or not name.strip() or not value.strip():
                raise InputError("/edit takes NAME=VALUE, e.g. /edit system=a hotel chain")
            # The same path as a correction typed in chat: "no, the system is ...".
            label = name.strip().replace("_", " ")
            self._show(
                self._ask(f"no, the {label} {'are' if label.endswith('s') else 'is'} {value}")
            )
        elif line == "/trace":
            text = self._assistant.explain_last(self._address, self._user)
            self._console.print(escape(text.replace("*", "")))
        elif self._commands and self._commands.handles(line[1:].split(" ", 1)[0]):
            actor = Actor.of(self._incoming(line), admin=True)  # the local operator
            self._console.print(Markdown(markdown(self._commands.run(actor, line[1:]))))
        elif line.startswith("/"):
            raise InputError(f"unknown command {line.split()[0]!r}; /help lists them")
        elif self._to_rate:
            result = self._quiz_service().rate(self._incoming(line), self._to_rate, line)
            self._to_rate = None
            self._console.print(render_result(result))
        elif self._open_prompt:
            prompt = self._open_prompt
            result = self._quiz_service().answer(self._incoming(line), prompt.prompt_id, line)
            self._open_prompt = None
            if result.kind == "quick-check" and not result.rating:
                self._to_rate = prompt.prompt_id
            self._console.print(render_result(result))
        else:
            self._show(self._ask(line))

    def _quiz_service(self) -> QuizService:
        if self._quiz is None:
            raise InputError("quizzes are not available here")
        return self._quiz

    def _examples(self) -> WorkedExamples:
        if self._example_service is None:
            raise InputError("worked examples are not available here")
        return self._example_service

    def _course_name(self) -> str:
        return self._assistant.course_for(self._incoming("course"))

    def _next_question(self, concept: str | None) -> None:
        prompt = self._quiz_service().next_prompt(
            self._incoming("quiz"), self._course_name(), concept
        )
        if prompt is None:
            self._console.print(
                "You're all caught up: nothing is due and every item has been seen."
            )
            return
        self._open_prompt, self._to_rate = prompt, None
        self._console.print(render_prompt(prompt))

    def _ask(self, text: str, template_id: str | None = None) -> Reply:
        trace = Trace("terminal chat", uuid.uuid4().hex[:12])
        try:
            if not self._assistant.llm:
                return self._assistant.ask(self._incoming(text), None, template_id, trace)
            streamed: list[str] = []
            with Live(Markdown(""), console=self._console, transient=True) as live:

                def on_token(token: str) -> None:
                    streamed.append(token)
                    live.update(Markdown("".join(streamed)))

                return self._assistant.ask(self._incoming(text), on_token, template_id, trace)
        except Exception as exc:
            note_failure(trace, exc)  # so /trace shows which dependency failed
            raise
        finally:
            self._assistant.keep_trace(self._address, self._user, trace)

    def _show(self, reply: Reply) -> None:
        self._console.print(render(reply))
        self._console.print()
