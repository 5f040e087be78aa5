"""The `studybot` command line: one typer app, each module of this package adding an area's."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import typer
from rich.markup import escape

from bot.cli import ask, course, pushes, serve, study  # noqa: F401  (they add the commands)
from bot.cli.common import State, app, err
from bot.core.errors import InputError, UnavailableError

logger = logging.getLogger("bot")


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 ok, 2 bad input, 1 anything else."""
    State.container = None
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
        State.container = None


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
