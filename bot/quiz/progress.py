"""Progress: study days, due cards, streaks, mastery from FSRS retrievability, a PNG chart."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.errors import InputError

DAY_STARTS_AT = timedelta(hours=4)  # a late-night session still counts for the day before


def utc_now() -> datetime:
    """The real clock (tests inject their own)."""
    return datetime.now(UTC)


def study_day(moment: datetime, timezone: str) -> date:
    """The student's local study day: it runs from 4 a.m. to 4 a.m. local time.

    Subtracting on the local wall clock keeps the boundary at 4 a.m. across DST changes.
    """
    local = moment.astimezone(ZoneInfo(timezone))
    return (local.replace(tzinfo=None) - DAY_STARTS_AT).date()


def validate_timezone(name: str) -> str:
    """An IANA timezone name, or InputError."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(
            f"unknown timezone {name[:60]!r}; use an IANA name like Europe/Berlin"
        ) from exc
    return name


@dataclass
class Stats:
    """A student's progress in one course."""

    due_now: int
    reviewed_today: int
    streak: int
    mastery: dict[str, float]  # concept -> mean retrievability over its items (unseen = 0)
    cards: int
    points: int
    timezone: str
    reviews_by_day: dict[str, int] = field(default_factory=dict)  # last 30 study days
    started: dict[str, int] = field(default_factory=dict)  # concept -> cards studied

    @property
    def weakest(self) -> list[str]:
        """Up to three started concepts with the lowest mastery."""
        return sorted(self.started, key=lambda c: (self.mastery.get(c, 0.0), c))[:3]


def streak_length(days: set[date], today: date) -> int:
    """Consecutive study days up to today; a streak survives until today's session is missed."""
    day = today if today in days else today - timedelta(days=1)
    count = 0
    while day in days:
        count += 1
        day -= timedelta(days=1)
    return count


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory
    import matplotlib.pyplot as plt

    return plt


def _png(figure) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    _pyplot().close(figure)
    return buffer.getvalue()


def render_leaderboard(rows: list[tuple[str, int]], title: str) -> bytes:
    """A PNG bar chart of a group's leaderboard, best at the top."""
    figure, axes = _pyplot().subplots(figsize=(6, 0.5 * max(len(rows), 2) + 1), dpi=100)
    names = [name for name, _ in reversed(rows)]
    axes.barh(names, [points for _, points in reversed(rows)], color="#c44e52")
    axes.set_xlabel("points")
    axes.set_title(title)
    return _png(figure)


def render_chart(stats: Stats, title: str = "Your progress") -> bytes:
    """A PNG with mastery per concept and reviews over the last 30 days."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    concepts = sorted(stats.mastery)
    left.barh(concepts, [stats.mastery[c] * 100 for c in concepts], color="#4c72b0")
    left.set_xlim(0, 100)
    left.set_xlabel("mastery (%)")
    left.set_title("Mastery per concept")
    days = list(stats.reviews_by_day)
    right.bar(range(len(days)), list(stats.reviews_by_day.values()), color="#55a868")
    right.set_xticks(range(0, len(days), 7), [days[i][5:] for i in range(0, len(days), 7)])
    right.set_ylabel("reviews")
    right.set_title("Reviews, last 30 days")
    figure.suptitle(f"{title}: streak {stats.streak} days, {stats.due_now} due")
    return _png(figure)
