"""The CLI's shared pieces: the typer apps, consoles, options and the composition root."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from bot.config import REPO_ROOT, Settings
from bot.core.errors import InputError, UnavailableError

app = typer.Typer(
    help="Studybot: a study assistant for a course on distributed systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

model_app = typer.Typer(help="Manage the embedding model.", no_args_is_help=True)
app.add_typer(model_app, name="model")
quiz_app = typer.Typer(help="Quiz yourself: spaced repetition over the course's quiz bank.")
app.add_typer(quiz_app, name="quiz")
group_app = typer.Typer(help="Study groups: create, join, leave, list, members, leaderboard.")
app.add_typer(group_app, name="group")
dlq_app = typer.Typer(help="Pushes that failed every retry.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)
logger = logging.getLogger("bot")
DEFAULT_EVAL_FILE = REPO_ROOT / "tests" / "eval" / "questions.jsonl"
UserOption = Annotated[str | None, typer.Option(help="Who is studying (default: you).")]
CourseOption = Annotated[str | None, typer.Option(help="Course (default: the default course).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


class State:
    """Per-invocation state: the composition root, built on first use."""

    container: Any = None


def get_container() -> Any:
    if State.container is None:
        from bot.wiring import Container

        State.container = Container(Settings())
    return State.container


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    from bot.logs import configure_logging

    # Text by default; STUDYBOT_LOG_FORMAT=json gives one JSON object per line (compose, k8s).
    log_format = Settings().log_format
    configure_logging(log_format, logging.INFO if verbose else logging.WARNING, sys.stderr)


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr, shown only once there is work to report."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err)
    tasks: list[Any] = []

    def update(done: int, total: int) -> None:
        if not tasks:
            bar.start()
            tasks.append(bar.add_task(label, total=total))
        bar.update(tasks[0], completed=done, total=total)

    try:
        yield update
    finally:
        if tasks:
            bar.stop()


def ready_course(course: str | None) -> str:
    """Resolve the course and index the bundled material on first use."""
    container = get_container()
    name = container.catalog.resolve(course)
    if container.index.count(name) == 0 and name in container.catalog.bundled():
        with progress_bar(f"First run: indexing {name}") as progress:
            report = container.catalog.ensure_indexed(name, progress)
        if report:
            err.print(escape(report.summary()))
    return name


def print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def cli_address(tenant: str = "cli:local", channel: str = "cli") -> Any:
    from bot.core.models import Address

    platform, _, tenant_id = tenant.partition(":")
    if not platform or not tenant_id:
        raise InputError(
            f"tenant must look like platform:id, e.g. slack:T123 (got {tenant[:40]!r})"
        )
    return Address(platform, tenant_id, channel)


def student(user: str | None, tenant: str = "cli:local") -> Any:
    import getpass

    from bot.core.models import Incoming

    return Incoming(cli_address(tenant), user or getpass.getuser(), "quiz", "quiz")


TenantOption = Annotated[str, typer.Option(help="Workspace or server, e.g. slack:T123.")]


def run_command(
    line: str,
    user: str | None,
    tenant: str,
    *,
    channel: str = "cli",
    course: str | None = None,
    show: bool = True,
) -> Any:
    """A `/study` subcommand run by the core for the local operator (an admin).

    Prints the view (unless `show` is off) and returns it; a refusal exits 2, an outage 1.
    """
    import getpass

    from bot.core.commands import Actor
    from bot.core.commands.views import ErrorView
    from bot.core.models import Incoming

    who = Incoming(cli_address(tenant, channel), user or getpass.getuser(), line, "cli", course)
    view = get_container().commands.run(Actor.of(who, admin=True), line)
    if isinstance(view, ErrorView) and view.unavailable:
        raise UnavailableError(view.message)
    if isinstance(view, ErrorView):
        raise InputError(view.message)
    if show:
        show_view(view)
    return view


def show_view(view: Any) -> None:
    """A command's view as Markdown in the terminal (channels by their ids)."""
    from rich.markdown import Markdown

    from bot.adapters.views import markdown

    out.print(Markdown(markdown(view, channel=lambda channel: channel)))


run_app = typer.Typer(help="Run the bot on a chat platform.", no_args_is_help=True)


app.add_typer(run_app, name="run")


def now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)
