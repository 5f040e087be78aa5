"""The `studybot` command line: ask, chat, search, ingest, eval, bench and more."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.config import REPO_ROOT, Settings
from bot.core.errors import InputError, UnavailableError
from bot.core.text import clean_query

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


class _State:
    """Per-invocation state: the composition root, built on first use."""

    container: Any = None


def _container() -> Any:
    if _State.container is None:
        from bot.wiring import Container

        _State.container = Container(Settings())
    return _State.container


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    from bot.logs import configure_logging

    # Text by default; STUDYBOT_LOG_FORMAT=json gives one JSON object per line (compose, k8s).
    log_format = Settings().log_format
    configure_logging(log_format, logging.INFO if verbose else logging.WARNING, sys.stderr)


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
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


def _ready_course(course: str | None) -> str:
    """Resolve the course and index the bundled material on first use."""
    container = _container()
    name = container.catalog.resolve(course)
    if container.index.count(name) == 0 and name in container.catalog.bundled():
        with _progress(f"First run: indexing {name}") as progress:
            report = container.catalog.ensure_indexed(name, progress)
        if report:
            err.print(escape(report.summary()))
    return name


def _print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders (default: every bundled course).")
    ] = None,
    course: Annotated[str | None, typer.Option(help="Course to ingest into.")] = None,
) -> None:
    """Add or update course material (.md .txt .html .pdf .docx .pptx); only changes re-embed."""
    container = _container()
    if paths:
        # A course folder named on its own ingests into the course of that name.
        name = course or (paths[0].name if len(paths) == 1 and paths[0].is_dir() else None)
        jobs = [(paths, name or container.settings.default_course)]
    elif course:
        jobs = [([container.settings.knowledge_dir / course], course)]
    else:
        jobs = [([container.settings.knowledge_dir / c], c) for c in container.catalog.bundled()]
        if not jobs:
            raise InputError(f"no course folders in {container.settings.knowledge_dir}")
    skipped = 0
    for job_paths, job_course in jobs:
        from bot.retrieval.index import validate_course

        validate_course(job_course)
        with _progress(f"Embedding {job_course}") as progress:
            report = container.ingestor.ingest(list(job_paths), job_course, progress)
        for file, reason in report.skipped:
            err.print(f"skipped {escape(file)}: {escape(reason)}")
        skipped += len(report.skipped)
        out.print(escape(report.summary()))
        # A whole course folder carries its quiz bank: validate and sync it too.
        course_folder = (container.settings.knowledge_dir / job_course).resolve()
        if [Path(p).resolve() for p in job_paths] == [course_folder]:
            quiz_report = container.catalog.sync_quizzes(job_course)
            if quiz_report:
                out.print(escape(quiz_report.summary(job_course)))
    if skipped:
        raise InputError(f"{skipped} file(s) could not be read and were skipped")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option(min=1, max=50, help="How many passages.")] = 5,
    course: Annotated[str | None, typer.Option(help="Course to search.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Find the course passages that answer QUERY (hybrid dense + BM25 search)."""
    container = _container()
    text = clean_query(query, container.settings.retrieval.max_query_chars)
    name = _ready_course(course)
    result = container.searcher.search(text, name, k=k)
    if as_json:
        _print_json([p.to_source() for p in result.passages] if result.in_scope else [])
        return
    if not result.in_scope:
        nearest = ", ".join(dict.fromkeys(p.chunk.title for p in result.passages[:3]))
        out.print(
            f"Nothing in {name} covers that closely. Nearest topics: {escape(nearest) or 'none'}."
        )
        return
    for rank, passage in enumerate(result.passages, 1):
        snippet = " ".join(passage.chunk.text.split())
        snippet = snippet[:280] + ("..." if len(snippet) > 280 else "")
        out.print(
            f"[bold]{rank}. {escape(passage.chunk.section)}[/bold]  "
            f"[dim]{escape(passage.chunk.location)} · score {passage.score:.2f}[/dim]"
        )
        out.print(f"   {escape(snippet)}\n")


def _eval_templates(file: Path | None, course: str | None, as_json: bool) -> None:
    from bot.templates_eval import TEMPLATE_EVAL_DIR, evaluate_files, load_cases, render

    files = [file] if file else sorted(TEMPLATE_EVAL_DIR.glob("*.jsonl"))
    if missing := [f for f in files if not f.is_file()]:
        raise InputError(f"no such eval file: {missing[0]}")
    try:
        cases = {f: load_cases(f) for f in files}
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    reports = evaluate_files(_container().assistant, cases, _ready_course(course))
    if as_json:
        _print_json([r.to_dict() for r in reports])
    else:
        out.print(render(reports))


def _eval_answers(file: Path, course: str | None, as_json: bool) -> None:
    from bot.answers_eval import evaluate_answers, render

    if not file.is_file():
        raise InputError(f"no such eval file: {file}")
    report = evaluate_answers(_container().assistant, file, _ready_course(course))
    if as_json:
        _print_json([report.to_dict()])
    else:
        out.print(render([report]))
        for failure in report.failures:
            out.print(f"[bold]{failure['question']}[/]: {', '.join(failure['failed'])}")


@app.command("eval")
def evaluate(
    file: Annotated[Path, typer.Argument(help="JSONL eval set.")] = DEFAULT_EVAL_FILE,
    course: Annotated[str | None, typer.Option(help="Course to evaluate.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    templates: Annotated[
        bool, typer.Option("--templates", help="Measure template intent and slots instead.")
    ] = False,
    answers: Annotated[
        bool, typer.Option("--answers", help="Check every composed answer reads as a whole.")
    ] = False,
) -> None:
    """Measure retrieval (recall@1/3/5, MRR per mode), understanding, or composed answers."""
    from bot.retrieval.evaluation import KS, evaluate, load_questions

    if templates:
        _eval_templates(None if file == DEFAULT_EVAL_FILE else file, course, as_json)
        return
    if answers:
        _eval_answers(file, course, as_json)
        return
    container = _container()
    questions = load_questions(file)
    name = _ready_course(course)
    retrieval = container.settings.retrieval
    report = evaluate(
        container.searcher, questions, name, retrieval.min_similarity, retrieval.min_coverage
    )
    if as_json:
        _print_json(report.to_dict())
        return
    table = Table(title=f"Retrieval on {file.name} ({report.overall['hybrid'].questions} in scope)")
    table.add_column("mode")
    for k in KS:
        table.add_column(f"recall@{k}", justify="right")
    table.add_column("MRR", justify="right")
    for mode, scores in report.overall.items():
        table.add_row(mode, *(f"{scores.recall(k):.3f}" for k in KS), f"{scores.mrr:.3f}")
    out.print(table)
    per_concept = Table(title="recall@5 per concept")
    per_concept.add_column("concept")
    per_concept.add_column("n", justify="right")
    for mode in report.overall:
        per_concept.add_column(mode, justify="right")
    for concept, group in sorted(report.by_concept.items()):
        per_concept.add_row(
            concept,
            str(group["hybrid"].questions),
            *(f"{group[m].recall(5):.3f}" for m in report.overall),
        )
    out.print(per_concept)
    out.print(
        f"Abstention when similarity < {report.threshold:.2f} and lexical coverage < "
        f"{report.coverage:.2f}: {report.off_topic_abstained}/{report.off_topic} off-topic "
        f"abstained, {len(report.in_scope_abstained)} in-scope wrongly abstained "
        "(best pair on this set: similarity {:.3f}, coverage {:.3f})".format(
            *report.best_thresholds()
        )
    )
    for question in report.in_scope_abstained:
        out.print(f"  wrongly abstained: {escape(question)}")


def _cli_address(tenant: str = "cli:local", channel: str = "cli") -> Any:
    from bot.core.models import Address

    platform, _, tenant_id = tenant.partition(":")
    if not platform or not tenant_id:
        raise InputError(
            f"tenant must look like platform:id, e.g. slack:T123 (got {tenant[:40]!r})"
        )
    return Address(platform, tenant_id, channel)


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

    container = _container()
    clean_query(question, container.settings.retrieval.max_query_chars)
    if template:
        container.prompts.template(template)
    slot_values = dict(_slot_value(item) for item in slot or [])
    incoming = Incoming(_cli_address(), user or getpass.getuser(), question, thread, course)
    trace = Trace("CLI ask", secrets.token_hex(6))
    try:
        _ready_course(course)
        reply = container.assistant.ask(
            incoming, template_id=template, trace=trace, slot_values=slot_values
        )
    except Exception as exc:
        note_failure(trace, exc)  # so `studybot trace` shows which dependency failed
        raise
    finally:
        container.assistant.keep_trace(incoming.address, incoming.user, trace)
    if as_json:
        _print_json(reply.to_json())
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

    container = _container()
    _ready_course(course)
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
def templates(
    example: Annotated[
        str | None,
        typer.Option(help="Show this template filled in for a sample app (a worked example)."),
    ] = None,
    course: CourseOption = None,
) -> None:
    """List the prompt templates and their slots, or show one's worked example."""
    container = _container()
    if example:
        from rich.markdown import Markdown

        name = _ready_course(course)
        out.print(Markdown(container.worked_examples.show(name, example)))
        return
    for template in container.prompts.user_templates():
        out.print(f"[bold]{template.id}[/bold] ({template.concept}): {escape(template.title)}")
        out.print(f"  {escape(template.description)}")
        for slot in template.slots:
            required = "" if slot.required else ", optional"
            out.print(f"  - {slot.name} ({slot.type}{required}): {escape(slot.description)}")


@app.command()
def gaps(
    tenant: Annotated[
        str, typer.Option(help="Workspace or server, e.g. slack:T123.")
    ] = "cli:local",
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Questions the course could not answer, newest first, with how often they were asked."""
    import datetime

    found = _container().assistant.gaps(_cli_address(tenant), limit)
    if as_json:
        _print_json(
            [{"question": g.question, "count": g.count, "last_asked": g.last_asked} for g in found]
        )
        return
    if not found:
        out.print("No content gaps recorded.")
    for gap in found:
        when = datetime.datetime.fromtimestamp(gap.last_asked).strftime("%Y-%m-%d %H:%M")
        out.print(f"{gap.count:>4}x  {when}  {escape(gap.question)}")


def _student(user: str | None, tenant: str = "cli:local") -> Any:
    import getpass

    from bot.core.models import Incoming

    return Incoming(_cli_address(tenant), user or getpass.getuser(), "quiz", "quiz")


@quiz_app.callback(invoke_without_command=True)
def quiz(
    ctx: typer.Context,
    concept: Annotated[str | None, typer.Option(help="Only this concept.")] = None,
    course: CourseOption = None,
    user: UserOption = None,
    stale: Annotated[
        bool, typer.Option("--stale", help="List items whose source changed.")
    ] = False,
    lint: Annotated[
        bool,
        typer.Option("--lint", help="Check the bank for biased, duplicated or miscited items."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Get the next quiz question: a due card first, else a new one."""
    if ctx.invoked_subcommand:
        return
    container = _container()
    if lint:
        _lint_bank(container, course or container.settings.default_course, as_json)
        return
    name = _ready_course(course)
    if stale:
        report = container.catalog.sync_quizzes(name)
        found = report.stale if report else []
        if as_json:
            _print_json(found)
        else:
            out.print(f"{len(found)} stale item(s)" + "".join(f"\n  {i}" for i in found))
        return
    prompt = container.quiz.next_prompt(_student(user), name, concept)
    if as_json:
        _print_json(dataclasses.asdict(prompt) if prompt else None)
    elif prompt is None:
        out.print("You're all caught up: nothing is due and every item has been seen.")
    else:
        from bot.adapters.console import render_prompt

        out.print(render_prompt(prompt))
        out.print(f"[dim]Answer with: studybot quiz answer {prompt.prompt_id} YOUR-ANSWER[/dim]")


def _lint_bank(container: Any, course: str, as_json: bool) -> None:
    """Lint one course's bank straight from its files; any finding exits 2."""
    from bot.quiz.lint import lint_bank

    folder = container.settings.knowledge_dir / course
    if not (folder / "quizzes").is_dir():
        raise InputError(f"no quiz bank for {course!r} (looked in {folder / 'quizzes'})")
    findings = lint_bank(folder, course, container.embedder.embed)
    if as_json:
        _print_json([dataclasses.asdict(f) for f in findings])
    else:
        out.print("\n".join(map(str, findings)) or f"{course} quiz bank: clean")
    if findings:
        raise typer.Exit(2)


@quiz_app.command("answer")
def quiz_answer(
    prompt_id: Annotated[str, typer.Argument(help="The question's id.")],
    response: Annotated[str, typer.Argument(help="Your answer (a letter for multiple choice).")],
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """Answer a quiz question."""
    import dataclasses

    from bot.adapters.console import render_result

    result = _container().quiz.answer(_student(user), prompt_id, response)
    if as_json:
        _print_json(dataclasses.asdict(result))
    else:
        out.print(render_result(result))
        if result.kind == "quick-check" and not result.rating:
            out.print(f"[dim]Rate it: studybot quiz rate {prompt_id} again|hard|good|easy[/dim]")


@quiz_app.command("rate")
def quiz_rate(
    prompt_id: Annotated[str, typer.Argument(help="The question's id.")],
    rating: Annotated[str, typer.Argument(help="again, hard, good or easy.")],
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rate how well you recalled a quick check; it schedules the next review."""
    import dataclasses

    from bot.adapters.console import render_result

    result = _container().quiz.rate(_student(user), prompt_id, rating)
    if as_json:
        _print_json(dataclasses.asdict(result))
    else:
        out.print(render_result(result))


@app.command()
def stats(
    course: CourseOption = None,
    user: UserOption = None,
    chart: Annotated[Path | None, typer.Option(help="Also save a PNG chart here.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Your progress: due cards, streak, mastery per concept."""
    import dataclasses

    from bot.adapters.console import render_stats

    container = _container()
    name = _ready_course(course)
    result = container.quiz.stats(_student(user), name)
    if chart:
        from bot.quiz.progress import render_chart

        chart.write_bytes(render_chart(result))
    if as_json:
        _print_json({**dataclasses.asdict(result), "weakest": result.weakest})
    else:
        out.print(render_stats(result))


TenantOption = Annotated[str, typer.Option(help="Workspace or server, e.g. slack:T123.")]


@app.command()
def trace(user: UserOption = None, tenant: TenantOption = "cli:local") -> None:
    """Explain your last request: duplicate check, retries, breaker, fallback, time per stage."""
    import getpass

    text = _container().assistant.explain_last(_cli_address(tenant), user or getpass.getuser())
    out.print(escape(text.replace("*", "")))


@group_app.command("create")
def group_create(name: str, user: UserOption = None, tenant: TenantOption = "cli:local") -> None:
    """Create a study group (you join it)."""
    _command(f"group create {name}", user, tenant)


@group_app.command("join")
def group_join(name: str, user: UserOption = None, tenant: TenantOption = "cli:local") -> None:
    """Join a study group."""
    _command(f"group join {name}", user, tenant)


@group_app.command("leave")
def group_leave(name: str, user: UserOption = None, tenant: TenantOption = "cli:local") -> None:
    """Leave a study group."""
    _command(f"group leave {name}", user, tenant)


@group_app.command("list")
def group_list(tenant: TenantOption = "cli:local") -> None:
    """Every group and its size."""
    _command("group list", None, tenant)


@group_app.command("members")
def group_members(name: str, tenant: TenantOption = "cli:local") -> None:
    """Who is in a group."""
    _command(f"group members {name}", None, tenant)


def _command(line: str, user: str | None, tenant: str) -> None:
    """A `/study` subcommand run by the core for the local operator (an admin), printed."""
    from rich.markdown import Markdown

    from bot.adapters.views import markdown
    from bot.core.commands import Actor
    from bot.core.commands.views import ErrorView

    view = _container().commands.run(Actor.of(_student(user, tenant), admin=True), line)
    if isinstance(view, ErrorView) and view.unavailable:
        raise UnavailableError(view.message)
    if isinstance(view, ErrorView):
        raise InputError(view.message)
    out.print(Markdown(markdown(view, channel=lambda channel: channel)))


@group_app.command("leaderboard")
def group_leaderboard(
    name: str,
    period: Annotated[str, typer.Option(help="week or all")] = "week",
    tenant: TenantOption = "cli:local",
    chart: Annotated[Path | None, typer.Option(help="Also save a PNG chart here.")] = None,
) -> None:
    """Points this week (or all time) and the group's streak."""
    if period not in {"week", "all"}:
        raise InputError("period must be week or all")
    groups = _container().quiz.groups
    tenant_key = _cli_address(tenant).tenant_key
    today = _now().date()
    rows = groups.leaderboard(tenant_key, name, period, today)
    for rank, row in enumerate(rows, 1):
        out.print(f"{rank:>2}. {escape(row.name)}  {row.points}")
    if chart:
        from bot.quiz.progress import render_leaderboard

        label = "this week" if period == "week" else "all time"
        chart.write_bytes(
            render_leaderboard([(r.name, r.points) for r in rows], f"{name}, {label}")
        )
    out.print(f"Group streak: {groups.streak(tenant_key, name, today)} day(s)")


@app.command()
def leaderboard(
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Recompute from review logs.")] = False,
    tenant: TenantOption = "cli:local",
) -> None:
    """Rebuild a tenant's group leaderboards from the students' review logs (AP repair)."""
    from bot.quiz.service import POINTS

    if not rebuild:
        raise InputError("use --rebuild (group leaderboards: studybot group leaderboard NAME)")
    points = {rating.name.lower(): value for rating, value in POINTS.items()}
    count = _container().quiz.groups.rebuild(_cli_address(tenant).tenant_key, points)
    out.print(f"Rebuilt {count} group leaderboard(s).")


@app.command()
def reminders(
    enable: Annotated[bool, typer.Option("--on/--off", help="Daily reminder when cards are due.")],
    quiet: Annotated[str, typer.Option(help="Quiet hours, local time.")] = "22:00-08:00",
    timezone: Annotated[str | None, typer.Option(help="Your IANA timezone.")] = None,
    user: UserOption = None,
) -> None:
    """Opt in or out of a daily reminder when you have cards due."""
    quiz = _container().quiz
    if timezone:
        quiz.set_timezone(_student(user), timezone)
    quiz.set_reminders(_student(user), enable, quiet)
    out.print(f"Reminders {'on' if enable else 'off'}" + (f", quiet {quiet}" if enable else ""))


@app.command()
def level(
    choice: Annotated[
        str | None,
        typer.Argument(help="beginner, intermediate, advanced, or auto (infer it from quizzes)."),
    ] = None,
    user: UserOption = None,
    tenant: TenantOption = "cli:local",
) -> None:
    """Show or choose how deep answers and quiz feedback go."""
    _command(f"level {choice or ''}", user, tenant)


@app.command()
def link(
    code: Annotated[str | None, typer.Argument(help="A code from your other account.")] = None,
    user: UserOption = None,
    tenant: TenantOption = "cli:local",
) -> None:
    """Link accounts: without a code, get one; with a code, merge into that account."""
    _command(f"link {code or ''}", user, tenant)


@app.command()
def subscribe(
    time_of_day: Annotated[str, typer.Argument(metavar="HH:MM", help="Local time.")],
    timezone: Annotated[str, typer.Argument(help="IANA timezone, e.g. Europe/Berlin.")],
    days: Annotated[str | None, typer.Argument(help="mon,wed,fri | weekdays | daily")] = None,
    concept: Annotated[str | None, typer.Option(help="Only this concept.")] = None,
    channel: Annotated[str, typer.Option(help="Channel id.")] = "cli",
    tenant: TenantOption = "cli:local",
    course: CourseOption = None,
) -> None:
    """Subscribe a channel to a daily quiz."""
    from bot.schedule.pushes import Subscription, parse_days

    container = _container()
    address = _cli_address(tenant)
    sub = container.pushes.subscribe(
        Subscription(
            address.platform, address.tenant, channel, time_of_day, timezone,
            parse_days(days), concept, _ready_course(course),
        )
    )  # fmt: skip
    out.print(
        f"Daily quiz for {escape(channel)} at {sub.time} {sub.timezone} on {','.join(sub.days)}"
    )


@app.command()
def unsubscribe(
    channel: Annotated[str, typer.Option(help="Channel id.")] = "cli",
    tenant: TenantOption = "cli:local",
) -> None:
    """Stop a channel's daily quiz."""
    _container().pushes.unsubscribe(_cli_address(tenant, channel))
    out.print(f"Unsubscribed {escape(channel)}.")


@app.command()
def subscriptions(tenant: TenantOption = "cli:local", as_json: JsonOption = False) -> None:
    """A tenant's daily quiz subscriptions."""
    import dataclasses

    found = _container().pushes.subscriptions(_cli_address(tenant))
    if as_json:
        _print_json([dataclasses.asdict(s) for s in found])
        return
    for sub in found:
        concept = f" ({sub.concept})" if sub.concept else ""
        out.print(f"{sub.channel}: {sub.time} {sub.timezone} {','.join(sub.days)}{concept}")
    if not found:
        out.print("No subscriptions.")


@app.command()
def push(
    now_channel: Annotated[
        str | None, typer.Option("--now", help="Push to this channel now.")
    ] = None,
    tick: Annotated[
        bool, typer.Option("--tick", help="Run one scheduler tick (what the worker does).")
    ] = False,
    at: Annotated[
        str | None, typer.Option(help="With --tick: pretend it is this ISO time.")
    ] = None,
    tenant: TenantOption = "cli:local",
    course: CourseOption = None,
) -> None:
    """Send a push now (admin test), or run one scheduler tick."""
    import datetime as dt

    container = _container()
    if now_channel:
        address = _cli_address(tenant, now_channel)
        message = container.pushes.push_now(address, _ready_course(course), _now())
        out.print(f"Pushed {message.item_id} to {escape(now_channel)}.")
    elif tick:
        try:
            moment = dt.datetime.fromisoformat(at) if at else _now()
        except ValueError as exc:
            raise InputError("--at must be an ISO time, e.g. 2026-03-08T07:00:00+00:00") from exc
        if moment.tzinfo is None:
            raise InputError("--at needs a UTC offset, e.g. 2026-03-08T07:00:00+00:00")
        sent = container.pushes.tick(moment)
        reminded = container.pushes.remind(moment)
        out.print(f"Pushed to {len(sent)} channel(s); reminded {reminded} student(s).")
    else:
        raise InputError("use --now CHANNEL or --tick")


@dlq_app.command("list")
def dlq_list(as_json: JsonOption = False) -> None:
    """Failed pushes, oldest first."""
    entries = _container().pushes.dead_letters()
    if as_json:
        _print_json(entries)
        return
    for entry in entries:
        where = "{platform}:{tenant} {channel}".format(**entry["address"])
        out.print(f"{entry['id']}  {escape(where)}  {escape(str(entry['error']))}")
    if not entries:
        out.print("The dead-letter queue is empty.")


@dlq_app.command("retry")
def dlq_retry(entry_id: str) -> None:
    """Deliver a dead letter again."""
    if _container().pushes.retry(entry_id):
        out.print("Delivered.")
    else:
        raise InputError("still failing; it is back in the dead-letter queue")


@dlq_app.command("drop")
def dlq_drop(entry_id: str) -> None:
    """Discard a dead letter."""
    _container().pushes.drop(entry_id)
    out.print("Dropped.")


run_app = typer.Typer(help="Run the bot on a chat platform.", no_args_is_help=True)
app.add_typer(run_app, name="run")


@run_app.command("slack")
def run_slack(
    http: Annotated[
        bool, typer.Option("--http", help="Serve HTTP events instead of Socket Mode.")
    ] = False,
    port: Annotated[int, typer.Option(help="HTTP port.")] = 3000,
) -> None:
    """Run the Slack bot: Socket Mode (SLACK_APP_TOKEN) or HTTP events (SLACK_SIGNING_SECRET)."""
    from bot.adapters.slack.app import SlackBot, check_settings

    container = _container()
    settings = container.settings.slack
    check_settings(settings, http)
    container.serving_core()  # models, prompts, the fitted classifier and tagger
    bot = SlackBot(container, settings)
    if http:
        import asyncio

        # Serves until SIGTERM, then finishes the answers in flight (bounded) and exits 0.
        grace = container.settings.shutdown_grace_seconds
        asyncio.run(bot.serve(port=port, host="0.0.0.0", grace=grace))
    else:
        import asyncio

        # Health on STUDYBOT_HTTP_PORT; SIGTERM drains in-flight answers as in HTTP mode.
        grace = container.settings.shutdown_grace_seconds
        port = container.settings.http_port
        if not asyncio.run(bot.serve_socket_mode(str(settings.app_token), port, grace)):
            # Answers cancelled at the deadline (their students were told to ask again) may
            # still hold pool threads in a blocking call, a model request say, which the
            # interpreter would wait for at exit, past the grace: exit without them.
            import os

            logging.shutdown()
            sys.stdout.flush()
            os._exit(0)


@run_app.command("discord")
def run_discord() -> None:
    """Run the Discord bot (DISCORD_TOKEN; DISCORD_GUILD_ID syncs commands to one server)."""
    from bot.adapters.discord.app import StudyClient, check_settings

    container = _container()
    settings = container.settings.discord
    check_settings(settings)
    container.serving_core()  # models, prompts, the fitted classifier and tagger
    import asyncio

    client = StudyClient(container, settings)
    # Health on STUDYBOT_HTTP_PORT; on SIGTERM, in-flight answers finish before client.close().
    asyncio.run(
        client.serve(
            settings.token,
            container.settings.http_port,
            grace=container.settings.shutdown_grace_seconds,
        )
    )


@app.command()
def worker() -> None:
    """Run the scheduler (arq): daily pushes every minute, exactly once across workers."""
    from bot.schedule.worker import build_worker

    settings = _container().settings
    # arq handles SIGTERM: no new jobs, the running tick gets the grace period, then exit 0.
    build_worker(settings).run()


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


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

    rated = _container().feedback.rated(not_helpful_only=not_helpful)
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
        _print_json([dataclasses.asdict(r) for r in rated])
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


@app.command()
def courses() -> None:
    """List the courses and how many chunks each has indexed."""
    container = _container()
    for name in container.catalog.known():
        marker = " (default)" if name == container.settings.default_course else ""
        out.print(f"{name}{marker}: {container.index.count(name)} chunks indexed")


@app.command()
def bench(
    quick: Annotated[bool, typer.Option(help="Fewer repetitions (under 2 minutes).")] = False,
    json_file: Annotated[Path | None, typer.Option("--json", help="Also write JSON here.")] = None,
    profile: Annotated[
        Path | None, typer.Option(help="Also profile the warm ask path into this folder.")
    ] = None,
    tiny: Annotated[bool, typer.Option(hidden=True, help="Every scenario once (CI).")] = False,
) -> None:
    """Measure every path side by side: floor, ask, the usual alternative, Slack, quiz, memory."""
    from bot.bench import run_bench
    from bot.bench.measure import Sizes

    size = "tiny" if tiny else "quick" if quick else "full"
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
    report = run_bench(Settings(), getattr(Sizes, size)(), size, profile_dir=profile)
    machine = report.machine
    table = Table(
        title=f"studybot bench ({size}), {report.date}, "
        f"{machine['cores']} cores, {machine['cpu']}, {machine['memory_gib']} GiB"
    )
    for column in ("scenario", "n", "median", "p95", "p99", "unit", "notes"):
        table.add_column(column, justify="left" if column in {"scenario", "notes"} else "right")
    for row in report.rows:
        notes = ", ".join(f"{k}={v}" for k, v in row.notes.items())
        table.add_row(
            row.scenario, str(row.n), f"{row.median:g}", f"{row.p95:g}", f"{row.p99:g}",
            row.unit, notes,
        )  # fmt: skip
    out.print(table)
    quality = Table(title="Retrieval quality on the eval set")
    for column in ("mode", "recall@5", "MRR"):
        quality.add_column(column, justify="left" if column == "mode" else "right")
    for mode, scores in report.quality.items():
        quality.add_row(mode, f"{scores['recall@5']:.3f}", f"{scores['mrr']:.3f}")
    out.print(quality)
    goals = Table(title="Goals")
    for column in ("goal", "measured", "target", "met"):
        goals.add_column(column, justify="left" if column == "goal" else "right")
    for goal in report.goals:
        unit = goal.unit if goal.unit == "x" else f" {goal.unit}"
        goals.add_row(
            goal.name, f"{goal.value:g}{unit}", f"<= {goal.target:g}{unit}",
            "yes" if goal.met else "NO",
        )  # fmt: skip
    out.print(goals)
    if report.profile:
        out.print(f"ask profile: {report.profile}")
    if json_file:
        json_file.write_text(json.dumps(report.as_dict(), indent=2) + "\n")


@model_app.command("export")
def model_export(
    force: Annotated[bool, typer.Option(help="Export again even if present.")] = False,
) -> None:
    """Export all-MiniLM-L6-v2 to ONNX in the data dir (needs torch; done once)."""
    from bot.retrieval.embedding import onnx_model_path
    from bot.retrieval.model_export import export_onnx

    settings = Settings()
    path = onnx_model_path(settings.models_dir, export_if_missing=False)
    if force or not path.exists():
        export_onnx(path)
    out.print(f"{path} ({path.stat().st_size / 1e6:.0f} MB)")


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 ok, 2 bad input, 1 anything else."""
    _State.container = None
    try:
        result = app(
            args=list(argv) if argv is not None else None,
            prog_name="studybot",
            standalone_mode=False,
        )
        return result if isinstance(result, int) else 0
    except InputError as exc:
        err.print(f"studybot: {escape(str(exc))}", soft_wrap=True)
        return 2
    except UnavailableError as exc:  # Redis or Chroma down: not the user's mistake
        err.print(f"studybot: {escape(str(exc))}", soft_wrap=True)
        return 1
    except typer.TyperException as exc:  # usage errors: unknown command, bad option value
        format_message = getattr(exc, "format_message", None)
        message = format_message() if format_message else str(exc)
        err.print(f"studybot: {escape(message)} (see studybot --help)", soft_wrap=True)
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        err.print("studybot: interrupted")
        return 130
    except Exception as exc:
        logger.debug("unexpected failure", exc_info=True)
        err.print(f"studybot: failed: {escape(type(exc).__name__)}: {escape(str(exc))[:300]}")
        return 1
    finally:
        _State.container = None


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
