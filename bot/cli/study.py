"""Studying from the CLI: quizzes, the bank lint, stats, groups, levels and account links."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from bot.cli.common import (
    CourseOption,
    JsonOption,
    TenantOption,
    UserOption,
    app,
    cli_address,
    get_container,
    group_app,
    out,
    print_json,
    quiz_app,
    ready_course,
    run_command,
    student,
)
from bot.core.errors import InputError


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
    container = get_container()
    if lint:
        _lint_bank(container, course or container.settings.default_course, as_json)
        return
    name = ready_course(course)
    if stale:
        report = container.catalog.sync_quizzes(name)
        found = report.stale if report else []
        if as_json:
            print_json(found)
        else:
            out.print(f"{len(found)} stale item(s)" + "".join(f"\n  {i}" for i in found))
        return
    prompt = container.quiz.next_prompt(student(user), name, concept)
    if as_json:
        print_json(dataclasses.asdict(prompt) if prompt else None)
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
        print_json([dataclasses.asdict(f) for f in findings])
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

    result = get_container().quiz.answer(student(user), prompt_id, response)
    if as_json:
        print_json(dataclasses.asdict(result))
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

    result = get_container().quiz.rate(student(user), prompt_id, rating)
    if as_json:
        print_json(dataclasses.asdict(result))
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

    view = run_command("stats", user, "cli:local", course=ready_course(course), show=not as_json)
    if chart:
        from bot.quiz.progress import render_chart

        chart.write_bytes(render_chart(view.stats))
    if as_json:
        print_json({**dataclasses.asdict(view.stats), "weakest": view.stats.weakest})


@group_app.command("create")
def group_create(name: str, user: UserOption = None, tenant: TenantOption = "cli:local") -> None:
    """Create a study group (you join it)."""
    run_command(f"group create {name}", user, tenant)


@group_app.command("join")
def group_join(name: str, user: UserOption = None, tenant: TenantOption = "cli:local") -> None:
    """Join a study group."""
    run_command(f"group join {name}", user, tenant)


@group_app.command("leave")
def group_leave(name: str, user: UserOption = None, tenant: TenantOption = "cli:local") -> None:
    """Leave a study group."""
    run_command(f"group leave {name}", user, tenant)


@group_app.command("list")
def group_list(tenant: TenantOption = "cli:local") -> None:
    """Every group and its size."""
    run_command("group list", None, tenant)


@group_app.command("members")
def group_members(name: str, tenant: TenantOption = "cli:local") -> None:
    """Who is in a group."""
    run_command(f"group members {name}", None, tenant)


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
    view = run_command(f"group leaderboard {name}", None, tenant, show=False)
    rows = view.week if period == "week" else view.all_time
    for rank, row in enumerate(rows, 1):
        out.print(f"{rank:>2}. {escape(row.name)}  {row.points}")
    if chart:
        from bot.quiz.progress import render_leaderboard

        label = "this week" if period == "week" else "all time"
        chart.write_bytes(
            render_leaderboard([(r.name, r.points) for r in rows], f"{name}, {label}")
        )
    out.print(f"Group streak: {view.streak} day(s)")


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
    count = get_container().quiz.groups.rebuild(cli_address(tenant).tenant_key, points)
    out.print(f"Rebuilt {count} group leaderboard(s).")


@app.command()
def reminders(
    enable: Annotated[bool, typer.Option("--on/--off", help="Daily reminder when cards are due.")],
    quiet: Annotated[str, typer.Option(help="Quiet hours, local time.")] = "22:00-08:00",
    timezone: Annotated[str | None, typer.Option(help="Your IANA timezone.")] = None,
    user: UserOption = None,
) -> None:
    """Opt in or out of a daily reminder when you have cards due."""
    quiz = get_container().quiz
    if timezone:
        quiz.set_timezone(student(user), timezone)
    quiz.set_reminders(student(user), enable, quiet)
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
    run_command(f"level {choice or ''}", user, tenant)


@app.command()
def link(
    code: Annotated[str | None, typer.Argument(help="A code from your other account.")] = None,
    user: UserOption = None,
    tenant: TenantOption = "cli:local",
) -> None:
    """Link accounts: without a code, get one; with a code, merge into that account."""
    run_command(f"link {code or ''}", user, tenant)
