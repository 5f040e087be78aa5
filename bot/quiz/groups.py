"""Study groups: membership, weekly and all-time leaderboards (AP, rebuildable), group streaks."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime

import redis
from redis.exceptions import RedisError

from bot.core.errors import InputError, NotFoundError, StateUnavailableError
from bot.quiz.progress import streak_length
from bot.state.keys import Keyspace

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{1,31}$")
WEEK_TTL = 6 * 7 * 24 * 3600
UNAVAILABLE = "study groups are unavailable right now, so nothing was changed; try again shortly"


def iso_week(day: date) -> str:
    """The leaderboard week a study day belongs to, e.g. 2026-W10."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def group_slug(name: str) -> str:
    """Validate a group name; its slug is the lower-case, dashed form."""
    name = " ".join(name.split())
    if not _NAME.match(name):
        raise InputError(
            "group names are 2-32 letters, digits, spaces, dots, dashes or underscores"
        )
    return name.lower().replace(" ", "-")


@dataclass(frozen=True)
class Standing:
    """One row of a leaderboard."""

    person: str
    name: str
    points: int


class GroupService:
    """Groups live per tenant; a person's groups are indexed under the person."""

    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self._redis = client
        self._keys = keys

    def _group(self, tenant: str, slug: str) -> str:
        return f"{self._keys.tenant(tenant)}:group:{slug}"

    def _person_groups(self, person: str) -> str:
        return f"{self._keys.person(person)}:groups"

    def create(self, tenant: str, person: str, name: str, now: datetime) -> str:
        """Create a group (the creator joins it); its name is unique per tenant."""
        slug = group_slug(name)
        meta = json.dumps({"name": " ".join(name.split()), "by": person, "at": now.isoformat()})
        try:
            if not self._redis.hsetnx(f"{self._keys.tenant(tenant)}:groups", slug, meta):
                raise InputError(f"a group called {name!r} already exists; join it instead")
        except RedisError as exc:
            raise StateUnavailableError(UNAVAILABLE) from exc
        self.join(tenant, person, slug)
        return slug

    def _require(self, tenant: str, name: str) -> str:
        slug = group_slug(name)
        if not self._redis.hexists(f"{self._keys.tenant(tenant)}:groups", slug):
            raise NotFoundError(f"no group called {name!r}; `group list` shows them")
        return slug

    def join(self, tenant: str, person: str, name: str) -> str:
        """Join a group."""
        try:
            slug = self._require(tenant, name)
            self._redis.sadd(f"{self._group(tenant, slug)}:members", person)
            self._redis.sadd(self._person_groups(person), f"{tenant}|{slug}")
        except RedisError as exc:
            raise StateUnavailableError(UNAVAILABLE) from exc
        return slug

    def leave(self, tenant: str, person: str, name: str) -> str:
        """Leave a group (its leaderboard forgets you)."""
        try:
            slug = self._require(tenant, name)
            if not self._redis.srem(f"{self._group(tenant, slug)}:members", person):
                raise InputError(f"you are not in {name!r}")
            self._redis.srem(self._person_groups(person), f"{tenant}|{slug}")
            for key in self._redis.scan_iter(match=f"{self._group(tenant, slug)}:lb:*"):
                self._redis.zrem(key, person)
        except RedisError as exc:
            raise StateUnavailableError(UNAVAILABLE) from exc
        return slug

    def list(self, tenant: str) -> list[tuple[str, int]]:
        """Every group of the tenant with its member count."""
        groups = self._redis.hgetall(f"{self._keys.tenant(tenant)}:groups")
        return sorted(
            (json.loads(meta)["name"], self._redis.scard(f"{self._group(tenant, slug)}:members"))
            for slug, meta in groups.items()
        )

    def of_person(self, tenant: str, person: str) -> list[str]:
        """Names of the tenant's groups a person belongs to."""
        names = []
        for entry in self._redis.smembers(self._person_groups(person)):
            entry_tenant, _, slug = entry.partition("|")
            meta = self._redis.hget(f"{self._keys.tenant(entry_tenant)}:groups", slug)
            if entry_tenant == tenant and meta:
                names.append(json.loads(meta)["name"])
        return sorted(names)

    def members(self, tenant: str, name: str) -> list[str]:
        """Display names of a group's members."""
        slug = self._require(tenant, name)
        return sorted(
            self._name(p) for p in self._redis.smembers(f"{self._group(tenant, slug)}:members")
        )

    def _name(self, person: str) -> str:
        return (
            self._redis.hget(f"{self._keys.person(person)}:profile", "name")
            or f"student-{person[:6]}"
        )

    def leaderboard(
        self, tenant: str, name: str, period: str, today: date, top: int = 10
    ) -> list[Standing]:
        """This week's ("week") or all-time ("all") points, best first."""
        slug = self._require(tenant, name)
        board = "all" if period == "all" else iso_week(today)
        rows = self._redis.zrevrange(
            f"{self._group(tenant, slug)}:lb:{board}", 0, top - 1, withscores=True
        )
        return [Standing(person, self._name(person), int(points)) for person, points in rows]

    def streak(self, tenant: str, name: str, today: date) -> int:
        """Consecutive days on which at least one member studied."""
        slug = self._require(tenant, name)
        days = self._redis.smembers(f"{self._group(tenant, slug)}:days")
        return streak_length({date.fromisoformat(d) for d in days}, today)

    def record_review(self, person: str, points: int, day: str) -> None:
        """Credit a review to every group of the person.

        AP: a failure is logged, not raised; `studybot leaderboard --rebuild`
        recomputes the boards from the review logs.
        """
        try:
            for entry in self._redis.smembers(self._person_groups(person)):
                tenant, _, slug = entry.partition("|")
                self.record_review_to(self._group(tenant, slug), person, points, day)
        except RedisError:
            logger.warning("leaderboard update skipped; rebuild later")

    def rebuild(self, tenant: str, points_by_review: dict[str, int]) -> int:
        """Recompute a tenant's leaderboards and group days from members' review logs."""
        rebuilt = 0
        for slug in self._redis.hkeys(f"{self._keys.tenant(tenant)}:groups"):
            group = self._group(tenant, slug)
            for key in self._redis.scan_iter(match=f"{group}:lb:*"):
                self._redis.delete(key)
            self._redis.delete(f"{group}:days")
            for person in self._redis.smembers(f"{group}:members"):
                for raw in self._redis.lrange(f"{self._keys.person(person)}:reviews", 0, -1):
                    review = json.loads(raw)
                    self.record_review_to(
                        group, person, points_by_review[review["rating"]], review["day"]
                    )
            rebuilt += 1
        return rebuilt

    def record_review_to(self, group: str, person: str, points: int, day: str) -> None:
        """Credit one review to one group (used by rebuild)."""
        week = f"{group}:lb:{iso_week(date.fromisoformat(day))}"
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.zincrby(f"{group}:lb:all", points, person)
            pipe.zincrby(week, points, person)
            pipe.expire(week, WEEK_TTL)
            pipe.sadd(f"{group}:days", day)
            pipe.execute()

    def move_member(self, source: str, target: str) -> None:
        """Hand every group membership and point of one person to another (account linking)."""
        for entry in self._redis.smembers(self._person_groups(source)):
            tenant, _, slug = entry.partition("|")
            group = self._group(tenant, slug)
            self._redis.srem(f"{group}:members", source)
            self._redis.sadd(f"{group}:members", target)
            self._redis.sadd(self._person_groups(target), entry)
            for key in self._redis.scan_iter(match=f"{group}:lb:*"):
                points = self._redis.zscore(key, source)
                if points:
                    self._redis.zincrby(key, points, target)
                    self._redis.zrem(key, source)
