"""Command views as Markdown: Discord, the console and the CLI show it; Slack converts it."""

from __future__ import annotations

from collections.abc import Callable

from bot.core.commands.views import (
    ErrorView,
    GroupsView,
    HelpView,
    LeaderboardView,
    MembersView,
    Notice,
    RefusedView,
    StatsView,
    StreakView,
    SubscriptionsView,
    View,
)
from bot.quiz.progress import Stats

HELP_INTRO = (
    "**Studybot** answers questions about the course and quizzes you. "
    "Mention me or DM me with a question, or use:"
)


def channel_mention(channel: str) -> str:
    """`<#C123>`: Slack and Discord both show it as a link to the channel."""
    return f"<#{channel}>"


def markdown(
    view: View,
    channel: Callable[[str], str] = channel_mention,
    managers: str = "channel managers",
) -> str:
    """One view as Markdown; `channel` writes a channel reference, `managers` names them."""
    if isinstance(view, Notice):
        return view.text
    if isinstance(view, RefusedView):
        return f"Only {managers} can change that; ask one of them."
    if isinstance(view, ErrorView):
        return view.message
    if isinstance(view, HelpView):
        return "\n".join([HELP_INTRO, *(f"- `/study {u}`: {what}" for u, what in view.entries)])
    if isinstance(view, StatsView):
        return stats_markdown(view.stats)
    if isinstance(view, StreakView):
        return f"Your streak: **{view.days}** day(s) · due now: {view.due_now}"
    if isinstance(view, GroupsView):
        rows = [f"- {name} ({size} member{'s' * (size != 1)})" for name, size in view.groups]
        return "\n".join(rows) or "No groups yet."
    if isinstance(view, MembersView):
        return f"**{view.group}**: {', '.join(view.members) or 'no members yet'}"
    if isinstance(view, LeaderboardView):
        rows = [f"{i}. {row.name} - {row.points}" for i, row in enumerate(view.week, 1)]
        title = f"**{view.group}** this week (group streak: {view.streak} day(s)):"
        return "\n".join([title, *(rows or ["No points yet."])])
    if isinstance(view, SubscriptionsView):
        lines = [
            f"- {channel(s.channel)} {s.time} {s.timezone} {','.join(s.days)}"
            for s in view.subscriptions
        ]
        return "\n".join(lines) or "No subscriptions."
    raise TypeError(f"no Markdown for {type(view).__name__}")


def stats_markdown(stats: Stats) -> str:
    """Progress: streak, due, today's reviews, cards, points, then mastery per concept."""
    lines = [
        f"**Streak:** {stats.streak} day(s) · **due now:** {stats.due_now} · "
        f"**reviewed today:** {stats.reviewed_today} · **cards:** {stats.cards} · "
        f"**points:** {stats.points}",
        "**Mastery**\n\n"
        + "\n".join(
            f"- {concept}: {value:.0%}" for concept, value in sorted(stats.mastery.items())
        ),
    ]
    if stats.weakest:
        lines.append(f"**Weakest:** {', '.join(stats.weakest)}")
    return "\n\n".join(lines)
