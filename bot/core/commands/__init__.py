"""The `/study` command layer: each subcommand once, returning views every face renders."""

from bot.core.commands.actor import Actor
from bot.core.commands.study import StudyCommands

__all__ = ["Actor", "StudyCommands"]
