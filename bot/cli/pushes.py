"""Daily quizzes from the CLI: subscriptions, pushes, the dead-letter queue and the worker."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from bot.cli.common import (
    CourseOption,
    JsonOption,
    TenantOption,
    app,
    cli_address,
    dlq_app,
    get_container,
    now,
    out,
    print_json,
    ready_course,
    run_command,
)
from bot.core.errors import InputError


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
    line = f"subscribe {time_of_day} {timezone} {days or 'daily'} {concept or ''}"
    run_command(line, None, tenant, channel=channel, course=ready_course(course))


@app.command()
def unsubscribe(
    channel: Annotated[str, typer.Option(help="Channel id.")] = "cli",
    tenant: TenantOption = "cli:local",
) -> None:
    """Stop a channel's daily quiz."""
    run_command("unsubscribe", None, tenant, channel=channel)


@app.command()
def subscriptions(tenant: TenantOption = "cli:local", as_json: JsonOption = False) -> None:
    """A tenant's daily quiz subscriptions."""
    import dataclasses

    view = run_command("subscriptions", None, tenant, show=not as_json)
    if as_json:
        print_json([dataclasses.asdict(s) for s in view.subscriptions])


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

    container = get_container()
    if now_channel:
        address = cli_address(tenant, now_channel)
        message = container.pushes.push_now(address, ready_course(course), now())
        out.print(f"Pushed {message.item_id} to {escape(now_channel)}.")
    elif tick:
        try:
            moment = dt.datetime.fromisoformat(at) if at else now()
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
    entries = get_container().pushes.dead_letters()
    if as_json:
        print_json(entries)
        return
    for entry in entries:
        where = "{platform}:{tenant} {channel}".format(**entry["address"])
        out.print(f"{entry['id']}  {escape(where)}  {escape(str(entry['error']))}")
    if not entries:
        out.print("The dead-letter queue is empty.")


@dlq_app.command("retry")
def dlq_retry(entry_id: str) -> None:
    """Deliver a dead letter again."""
    if get_container().pushes.retry(entry_id):
        out.print("Delivered.")
    else:
        raise InputError("still failing; it is back in the dead-letter queue")


@dlq_app.command("drop")
def dlq_drop(entry_id: str) -> None:
    """Discard a dead letter."""
    get_container().pushes.drop(entry_id)
    out.print("Dropped.")


@app.command()
def worker() -> None:
    """Run the scheduler (arq): daily pushes every minute, exactly once across workers."""
    from bot.schedule.worker import build_worker

    settings = get_container().settings
    # arq handles SIGTERM: no new jobs, the running tick gets the grace period, then exit 0.
    build_worker(settings).run()
