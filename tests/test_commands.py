"""The `/study` command layer: each subcommand once in the core, permissions checked there."""

from bot.core.commands import Actor
from bot.core.commands.views import (
    ErrorView,
    GroupsView,
    HelpView,
    LeaderboardView,
    Notice,
    RefusedView,
    StreakView,
    SubscriptionsView,
)
from tests.conftest import COURSE, student


def test_channel_settings_are_refused_to_students_in_the_core(app):
    commands = app.commands
    ada = Actor.of(student("x", user="ada"))
    boss = Actor.of(student("x", user="boss"), manager=True)
    for line in (
        "course distributed-systems",
        "subscribe 07:30 UTC",
        "unsubscribe",
        "subscriptions",
    ):
        assert commands.needs_manager(line)
        assert commands.run(ada, line) == RefusedView(), line
    assert not commands.needs_manager("course") and not commands.needs_manager("stats")
    assert commands.run(ada, "course") == Notice(f"This channel uses **{COURSE}**.")
    assert commands.run(boss, f"course {COURSE}") == Notice(f"This channel now uses **{COURSE}**.")
    assert "07:30 UTC" in commands.run(boss, "subscribe 07:30 UTC weekdays").text
    assert [s.time for s in commands.run(boss, "subscriptions").subscriptions] == ["07:30"]
    assert commands.run(boss, "unsubscribe") == Notice("Daily quiz stopped for this channel.")
    assert commands.run(boss, "subscriptions") == SubscriptionsView([])


def test_groups_streak_help_and_bad_input(app):
    commands, me = app.commands, Actor.of(student("x", user="cy"))
    assert "Created **Raft Fans**" in commands.run(me, "group create Raft Fans").text
    assert commands.run(me, "group list") == GroupsView([("Raft Fans", 1)])
    board = commands.run(me, "group leaderboard Raft Fans")
    assert isinstance(board, LeaderboardView) and (board.group, board.streak) == ("Raft Fans", 0)
    assert commands.run(me, "streak") == StreakView(0, 0)
    assert isinstance(commands.run(me, "help"), HelpView)
    assert isinstance(commands.run(me, ""), HelpView)
    assert commands.run(me, "group dance Raft Fans") == ErrorView(
        "use create, join, leave, list, members or leaderboard"
    )
    assert "name the group" in commands.run(me, "group join").message
    assert "don't know `/study frobnicate`" in commands.run(me, "frobnicate").message
    assert "choose beginner" in commands.run(me, "level sideways").message
