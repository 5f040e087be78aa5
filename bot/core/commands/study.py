"""`/study` subcommands, written once: parse, check who may, call the services, return a view."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.core.commands.actor import Actor
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
from bot.core.errors import InputError, NotAllowedError, StateUnavailableError

if TYPE_CHECKING:
    from bot.core.assistant import Assistant
    from bot.quiz.levels import LevelService
    from bot.quiz.service import QuizService
    from bot.schedule.pushes import PushScheduler

HELP = [
    ("ask QUESTION", "an answer from the course, with its sources"),
    ("template [ID [example]]", "fill a prompt template for your own system, or see one filled in"),
    ("quiz [concept]", "your next quiz question: due cards first"),
    ("stats", "your progress, with a chart"),
    ("streak", "your study streak"),
    ("level [beginner|intermediate|advanced|auto]", "how deep answers and feedback go"),
    ("link [CODE]", "link your Slack and Discord accounts"),
    ("group create|join|leave|list|members|leaderboard NAME", "study groups"),
    ("course [NAME]", "this channel's course; channel managers may change it"),
    ("subscribe HH:MM TIMEZONE [days] [concept]", "a daily quiz here (channel managers)"),
    ("unsubscribe", "stop this channel's daily quiz (channel managers)"),
    ("subscriptions", "the daily quizzes set up here (channel managers)"),
    ("trace", "how your last question was handled"),
    ("help", "this list"),
]
GROUP_ACTIONS = "use create, join, leave, list, members or leaderboard"


class StudyCommands:
    """The subcommands that read or change a student's or a channel's settings.

    `ask`, `quiz` and `template` start a conversation, a card or a form, which each face
    drives itself; everything else is answered here, once, for every face.
    """

    def __init__(
        self,
        assistant: Callable[[], Assistant],  # a provider: building it loads the model
        quiz: QuizService,
        levels: LevelService,
        pushes: Callable[[], PushScheduler],  # a provider: most commands never push
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._assistant = assistant
        self._quiz = quiz
        self._levels = levels
        self._pushes = pushes
        self._clock = clock
        self._handlers: dict[str, Callable[[Actor, str], View]] = {
            "help": lambda actor, rest: HelpView(HELP),
            "stats": self._stats,
            "streak": self._streak,
            "level": self._level,
            "link": self._link,
            "group": self._group,
            "course": self._course,
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "subscriptions": self._subscriptions,
        }

    def needs_manager(self, line: str) -> bool:
        """Whether the face must find out if the actor manages the channel (it may cost calls)."""
        name, _, rest = line.strip().partition(" ")
        name = name.lower()
        return name in {"subscribe", "unsubscribe", "subscriptions"} or (
            name == "course" and bool(rest.strip())
        )

    def handles(self, name: str) -> bool:
        """Whether a subcommand is answered here (not a conversation a face drives)."""
        return name.lower() in self._handlers

    def run(self, actor: Actor, line: str) -> View:
        """Run `SUBCOMMAND ARGS`; bad input and outages give an ErrorView, refusals RefusedView."""
        name, _, rest = line.strip().partition(" ")
        handler = self._handlers.get(name.lower() or "help")
        if handler is None:
            return ErrorView(f"I don't know `/study {name[:40]}`. Try `/study help`.")
        try:
            return handler(actor, rest.strip())
        except NotAllowedError:
            return RefusedView()
        except InputError as exc:
            return ErrorView(str(exc))
        except StateUnavailableError as exc:
            return ErrorView(str(exc), unavailable=True)

    # -- progress and settings of one student ----------------------------------

    def _course_of(self, actor: Actor) -> str:
        return self._assistant().course_for(actor.incoming)

    def _stats(self, actor: Actor, rest: str) -> View:
        return StatsView(self._quiz.stats(actor.incoming, self._course_of(actor)), chart=True)

    def _streak(self, actor: Actor, rest: str) -> View:
        stats = self._quiz.stats(actor.incoming, self._course_of(actor))
        return StreakView(stats.streak, stats.due_now)

    def _level(self, actor: Actor, rest: str) -> View:
        return Notice(self._levels.command(actor.incoming, self._course_of(actor), rest))

    def _link(self, actor: Actor, rest: str) -> View:
        if rest:
            self._quiz.redeem_link(actor.incoming, rest)
            return Notice("Linked: your cards, streaks and groups now follow you everywhere.")
        code = self._quiz.link_code(actor.incoming)
        return Notice(
            f"Your link code is **{code}** (10 minutes). On your other account: "
            f"`/study link {code}`"
        )

    # -- study groups ----------------------------------------------------------

    def _group(self, actor: Actor, rest: str) -> View:
        action, _, name = rest.partition(" ")
        action, name = action.lower(), name.strip()
        groups = self._quiz.groups
        if groups is None:
            raise InputError("study groups are not available here")
        tenant = actor.incoming.address.tenant_key
        if action == "list":
            return GroupsView(groups.list(tenant))
        if action not in {"create", "join", "leave", "members", "leaderboard"}:
            raise InputError(GROUP_ACTIONS)
        if not name:
            raise InputError(f"name the group, e.g. `/study group {action} Raft Fans`")
        if action == "members":
            return MembersView(name, groups.members(tenant, name))
        if action == "leaderboard":
            today = self._clock().date()
            week, ever = (groups.leaderboard(tenant, name, p, today) for p in ("week", "all"))
            return LeaderboardView(name, groups.streak(tenant, name, today), week, ever)
        person = self._quiz.person(actor.incoming)
        if action == "create":
            groups.create(tenant, person, name, self._clock())
            return Notice(f"Created **{name}**; others can `/study group join {name}`.")
        if action == "join":
            groups.join(tenant, person, name)
            return Notice(f"Joined **{name}**.")
        groups.leave(tenant, person, name)
        return Notice(f"Left **{name}**.")

    # -- the channel's settings (managers) ---------------------------------------

    def _course(self, actor: Actor, rest: str) -> View:
        if not rest:
            return Notice(f"This channel uses **{self._course_of(actor)}**.")
        address = actor.incoming.address
        chosen = self._assistant().set_course(address, rest, actor.manages_channel, True)
        return Notice(f"This channel now uses **{chosen}**.")

    def _require_manager(self, actor: Actor) -> None:
        if not actor.manages_channel:
            raise NotAllowedError("channel managers only")

    def _subscribe(self, actor: Actor, rest: str) -> View:
        from bot.schedule.pushes import Subscription, parse_days

        self._require_manager(actor)
        parts = rest.split()
        if len(parts) < 2:
            raise InputError("usage: /study subscribe HH:MM TIMEZONE [days] [concept]")
        address = actor.incoming.address
        sub = self._pushes().subscribe(
            Subscription(
                address.platform,
                address.tenant,
                address.channel,
                parts[0],
                parts[1],
                parse_days(parts[2] if len(parts) > 2 else None),
                parts[3] if len(parts) > 3 else None,
                self._course_of(actor),
            )
        )
        return Notice(f"Daily quiz here at {sub.time} {sub.timezone} on {','.join(sub.days)}.")

    def _unsubscribe(self, actor: Actor, rest: str) -> View:
        self._require_manager(actor)
        self._pushes().unsubscribe(actor.incoming.address)
        return Notice("Daily quiz stopped for this channel.")

    def _subscriptions(self, actor: Actor, rest: str) -> View:
        self._require_manager(actor)
        return SubscriptionsView(self._pushes().subscriptions(actor.incoming.address))
