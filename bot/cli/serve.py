"""Running the bot from the CLI: Slack, Discord and the benchmark."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import (
    app,
    get_container,
    out,
    run_app,
)
from bot.config import Settings


@run_app.command("slack")
def run_slack(
    http: Annotated[
        bool, typer.Option("--http", help="Serve HTTP events instead of Socket Mode.")
    ] = False,
    port: Annotated[int, typer.Option(help="HTTP port.")] = 3000,
) -> None:
    """Run the Slack bot: Socket Mode (SLACK_APP_TOKEN) or HTTP events (SLACK_SIGNING_SECRET)."""
    from bot.adapters.slack.app import SlackBot, check_settings

    container = get_container()
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

    container = get_container()
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
