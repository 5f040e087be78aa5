"""Asking from the CLI: ask, chat, trace and the staff's view of rated answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bot.cli.common import (
    JsonOption,
    TenantOption,
    UserOption,
    app,
    cli_address,
    get_container,
    out,
    print_json,
    ready_course,
)
from bot.core.errors import InputError
from bot.core.text import clean_query


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON contract.")] = False,
    user: Annotated[str | None, typer.Option(help="Who is asking (default: you).")] = None,
    thread: Annotated[str, typer.Option(help="Conversation thread id.")] = "default",
    course: Annotated[str | None, typer.Option(help="Course to answer from.")] = None,
    template: Annotated[str | None, typer.Option(help="Fill this prompt template.")] = None,
    slot: Annotated[
        list[str] | None,
        typer.Option(help="Set a template slot, NAME=VALUE (repeatable; lists comma-separated)."),
    ] = None,
) -> None:
    """Ask a question: an answer from the course, its concept, sources and a filled template."""
    import getpass
    import secrets

    from bot.adapters.console import render
    from bot.adapters.failures import note_failure
    from bot.core.models import Incoming
    from bot.core.trace import Trace

    container = get_container()
    clean_query(question, container.settings.retrieval.max_query_chars)
    if template:
        container.prompts.template(template)
    slot_values = dict(_slot_value(item) for item in slot or [])
    incoming = Incoming(cli_address(), user or getpass.getuser(), question, thread, course)
    trace = Trace("CLI ask", secrets.token_hex(6))
    try:
        ready_course(course)
        reply = container.assistant.ask(
            incoming, template_id=template, trace=trace, slot_values=slot_values
        )
    except Exception as exc:
        note_failure(trace, exc)  # so `studybot trace` shows which dependency failed
        raise
    finally:
        container.assistant.keep_trace(incoming.address, incoming.user, trace)
    if as_json:
        print_json(reply.to_json())
    else:
        out.print(render(reply))


def _slot_value(item: str) -> tuple[str, str]:
    name, equals, value = item.partition("=")
    if not equals or not name.strip():
        raise InputError(f"--slot takes NAME=VALUE, not {item[:40]!r}")
    return name.strip(), value


@app.command()
def chat(
    course: Annotated[str | None, typer.Option(help="Course to answer from.")] = None,
    user: Annotated[str | None, typer.Option(help="Who is chatting (default: you).")] = None,
) -> None:
    """Chat in the terminal: follow-ups, templates step by step, streaming with an LLM."""
    import getpass

    from bot.adapters.console import ConsoleChat

    container = get_container()
    ready_course(course)
    who = user or getpass.getuser()
    core = container.serving_core()
    ConsoleChat(
        core,
        out,
        who,
        course,
        quiz=container.quiz,
        commands=container.commands,
        examples=container.worked_examples,
    ).run()


@app.command()
def trace(user: UserOption = None, tenant: TenantOption = "cli:local") -> None:
    """Explain your last request: duplicate check, retries, breaker, fallback, time per stage."""
    import getpass

    text = get_container().assistant.explain_last(cli_address(tenant), user or getpass.getuser())
    out.print(escape(text.replace("*", "")))


@app.command()
def feedback(
    not_helpful: Annotated[
        bool, typer.Option("--not-helpful", help="Only answers rated unhelpful.")
    ] = False,
    export_eval: Annotated[
        Path | None, typer.Option(help="Write them as eval-set JSONL lines.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Rated answers with question, answer, sources and reason, for the course staff."""
    import dataclasses

    rated = get_container().feedback.rated(not_helpful_only=not_helpful)
    if export_eval:
        lines = [
            json.dumps({"question": r.record.question,
                        "expect": [s.split(" > ")[-1] for s in r.record.sources[:1]],
                        "concept": r.record.concept})
            for r in rated
        ]  # fmt: skip
        export_eval.write_text("".join(line + "\n" for line in lines))
        out.print(f"Wrote {len(lines)} line(s) to {export_eval}; check each expect before use.")
        return
    if as_json:
        print_json([dataclasses.asdict(r) for r in rated])
        return
    for r in rated:
        verdict = "helpful" if r.helpful else "NOT helpful"
        who = escape(f"{r.record.tenant}, {r.user}")
        out.print(f"[bold]{verdict}[/bold] ({who}): {escape(r.record.question)}")
        if r.reason:
            out.print(f"  reason: {escape(r.reason)}")
        out.print(f"  sources: {escape('; '.join(r.record.sources[:3]))}")
    if not rated:
        out.print("No rated answers yet.")
