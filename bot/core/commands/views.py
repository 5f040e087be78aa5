"""What a command returns: plain data every face renders its own way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.quiz.groups import Standing
    from bot.quiz.progress import Stats
    from bot.schedule.pushes import Subscription


@dataclass(frozen=True)
class Notice:
    """A short reply in Markdown (`**bold**`, backticks); names in it are the user's own."""

    text: str


@dataclass(frozen=True)
class ErrorView:
    """Bad input, or (`unavailable`) a dependency down: one line, nothing changed."""

    message: str
    unavailable: bool = False


@dataclass(frozen=True)
class RefusedView:
    """Only channel managers may do that; each face names them in its own terms."""


@dataclass(frozen=True)
class HelpView:
    """Every subcommand: its usage and what it does."""

    entries: list[tuple[str, str]]


@dataclass(frozen=True)
class StatsView:
    """Progress; `chart` asks the face to attach the PNG (`/study stats`, not `streak`)."""

    stats: Stats
    chart: bool = False


@dataclass(frozen=True)
class GroupsView:
    """A tenant's study groups and their sizes."""

    groups: list[tuple[str, int]]


@dataclass(frozen=True)
class MembersView:
    """A group's members, by display name."""

    group: str
    members: list[str]


@dataclass(frozen=True)
class LeaderboardView:
    """A group's standings this week and of all time, with the group's streak."""

    group: str
    streak: int
    week: list[Standing] = field(default_factory=list)
    all_time: list[Standing] = field(default_factory=list)


@dataclass(frozen=True)
class SubscriptionsView:
    """The daily quizzes set up in a workspace or server."""

    subscriptions: list[Subscription]


@dataclass(frozen=True)
class StreakView:
    """The study streak, and what is due now."""

    days: int
    due_now: int


View = (
    Notice
    | ErrorView
    | RefusedView
    | HelpView
    | StatsView
    | StreakView
    | GroupsView
    | MembersView
    | LeaderboardView
    | SubscriptionsView
)
