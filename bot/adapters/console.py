"""Terminal chat over the same core: history, streaming in LLM mode, /reset, /template, /quit."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown
from rich.markup import escape

from bot.core.assistant import Assistant
from bot.core.errors import InputError, StateUnavailableError
from bot.core.models import Address, Incoming, Reply

HELP = """Ask anything about the course. Commands:
  /template            list the prompt templates
  /template ID         fill a template for your own system, step by step
  /reset               forget this conversation
  /help                this text
  /quit                leave (Ctrl-D works too)"""


def render(reply: Reply) -> Markdown:
    """A core Reply as rich Markdown for the terminal."""
    text = reply.markdown()
    if reply.followups:
        text += "\n\n**You could ask next**\n" + "\n".join(f"- {f}" for f in reply.followups)
    return Markdown(text)


class ConsoleChat:
    """A read-eval-print loop; one thread per session, so history stays with it."""

    def __init__(
        self,
        assistant: Assistant,
        console: Console,
        user: str,
        course: str | None = None,
        read: Callable[[str], str] = input,
    ) -> None:
        self._assistant = assistant
        self._console = console
        self._read = read
        self._address = Address("console", "local", "terminal")
        self._user = user
        self._course = course
        self._thread = uuid.uuid4().hex[:12]

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
            except (InputError, StateUnavailableError) as exc:
                self._console.print(f"[yellow]{escape(str(exc))}[/yellow]")

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
            template = self._assistant.prompts.template(template_id)
            self._show(self._ask(f"Apply {template.title.lower()} to my system", template.id))
        elif line.startswith("/"):
            raise InputError(f"unknown command {line.split()[0]!r}; /help lists them")
        else:
            self._show(self._ask(line))

    def _ask(self, text: str, template_id: str | None = None) -> Reply:
        if not self._assistant.llm:
            return self._assistant.ask(self._incoming(text), template_id=template_id)
        streamed: list[str] = []
        with Live(Markdown(""), console=self._console, transient=True) as live:

            def on_token(token: str) -> None:
                streamed.append(token)
                live.update(Markdown("".join(streamed)))

            return self._assistant.ask(self._incoming(text), on_token, template_id)

    def _show(self, reply: Reply) -> None:
        self._console.print(render(reply))
        self._console.print()
