"""Daily quiz pushes: subscriptions, the per-minute tick, retries, and the dead-letter queue."""

from __future__ import annotations

import json
import logging
import random
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import redis
from redis.exceptions import RedisError
from tenacity import Retrying, stop_after_attempt, wait_random_exponential

from bot import metrics
from bot.core.errors import InputError, NotFoundError, StateUnavailableError
from bot.core.models import Address
from bot.quiz.bank import MultipleChoice, QuizBank
from bot.quiz.progress import validate_timezone
from bot.schedule.outbox import Outbox, PushMessage
from bot.state.keys import Keyspace

logger = logging.getLogger(__name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
DONE_TTL = 3 * 24 * 3600
UNAVAILABLE = "subscriptions are unavailable right now, so nothing was changed; try again shortly"


def parse_days(text: str | None) -> list[str]:
    """Parse "mon,wed,fri", "weekdays" or "daily" (the default) into day names."""
    if not text or text.strip().lower() in {"daily", "every day", "all"}:
        return list(DAYS)
    if text.strip().lower() == "weekdays":
        return list(DAYS[:5])
    days = [d.strip().lower()[:3] for d in re.split(r"[,\s]+", text) if d.strip()]
    if not days or any(d not in DAYS for d in days):
        raise InputError("days must be names like mon,wed,fri, or weekdays, or daily")
    return sorted(set(days), key=DAYS.index)


@dataclass(frozen=True)
class Subscription:
    """A channel's daily quiz: local time, timezone, days of week, optional concept."""

    platform: str
    tenant: str
    channel: str
    time: str  # "HH:MM" local
    timezone: str
    days: list[str] = field(default_factory=lambda: list(DAYS))
    concept: str | None = None
    course: str = ""

    @property
    def address(self) -> Address:
        """Where the push goes."""
        return Address(self.platform, self.tenant, self.channel)

    def due_date(self, now: datetime) -> date | None:
        """The local date whose push is due at `now` (catch-up included), else None.

        A push is due from its local time until the end of that local day, so a
        worker that was down at 07:00 still posts at 09:00, once.
        """
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        if DAYS[local.weekday()] not in self.days:
            return None
        hour, minute = (int(p) for p in self.time.split(":"))
        # Built on the local wall clock: on a DST change day the time still means local time.
        scheduled = datetime(local.year, local.month, local.day, hour, minute, tzinfo=zone)
        return local.date() if now >= scheduled.astimezone(UTC) else None


class _LeaseLost(Exception):
    """Another worker holds the channel's lease now; this one must not post."""


# Compare-and-extend must be atomic: a GET then EXPIRE could extend another worker's lease.
_RENEW_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class PushScheduler:
    """Finds due subscriptions and delivers each exactly once per local day."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keyspace,
        outbox: Outbox,
        banks: Callable[[str], QuizBank],
        *,
        attempts: int = 4,
        backoff_seconds: float = 1.0,
        lease_seconds: int = 120,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._outbox = outbox
        self._banks = banks
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._lease = lease_seconds

    # -- subscriptions ---------------------------------------------------------

    def _subs(self, tenant_key: str) -> str:
        return f"{self._keys.tenant(tenant_key)}:subs"

    def _index(self) -> str:
        return f"{self._keys.prefix}:{{subs}}:all"

    def subscribe(self, sub: Subscription) -> Subscription:
        """Create or replace a channel's subscription (input validated first)."""
        if not _TIME.match(sub.time):
            raise InputError("time must be HH:MM in 24-hour form, e.g. 07:30")
        validate_timezone(sub.timezone)
        hour, minute = sub.time.split(":")
        sub = Subscription(**{**asdict(sub), "time": f"{int(hour):02d}:{minute}"})
        if sub.concept and sub.concept not in self._banks(sub.course).concepts():
            raise NotFoundError(f"no quiz items for {sub.concept!r}")
        tenant_key = sub.address.tenant_key
        try:
            self._redis.hset(self._subs(tenant_key), sub.channel, json.dumps(asdict(sub)))
            self._redis.sadd(self._index(), f"{tenant_key}|{sub.channel}")
        except RedisError as exc:
            raise StateUnavailableError(UNAVAILABLE) from exc
        return sub

    def unsubscribe(self, address: Address) -> None:
        """Stop a channel's daily quiz."""
        try:
            if not self._redis.hdel(self._subs(address.tenant_key), address.channel):
                raise NotFoundError("this channel has no daily quiz")
            self._redis.srem(self._index(), f"{address.tenant_key}|{address.channel}")
        except RedisError as exc:
            raise StateUnavailableError(UNAVAILABLE) from exc

    def subscriptions(self, address: Address | None = None) -> list[Subscription]:
        """A tenant's subscriptions (all tenants' when no address is given)."""
        if address:
            raw = self._redis.hgetall(self._subs(address.tenant_key)).values()
            return sorted((Subscription(**json.loads(r)) for r in raw), key=lambda s: s.channel)
        found = []
        for entry in self._redis.smembers(self._index()):
            tenant_key, _, channel = entry.rpartition("|")
            raw = self._redis.hget(self._subs(tenant_key), channel)
            if raw:
                found.append(Subscription(**json.loads(raw)))
        return found

    # -- delivering ------------------------------------------------------------

    def message_for(self, sub: Subscription, local_date: date) -> PushMessage:
        """The item of the day: stable for a channel and date, varied across days."""
        bank = self._banks(sub.course)
        items = bank.by_concept(sub.concept)
        if not items:
            raise NotFoundError(f"no quiz items for {sub.course}")
        seed = f"{sub.tenant}|{sub.channel}|{local_date}"
        item = random.Random(seed).choice(items)
        order, options = [], []
        if isinstance(item, MultipleChoice):  # one shuffle for the channel's day
            order = item.shown_order(seed)
            options = [item.options[i] for i in order]
        return PushMessage(
            local_date.isoformat(),
            item.id,
            item.concept,
            item.kind,
            item.text,
            options,
            sub.course,
            order,
        )

    def tick(self, now: datetime) -> list[str]:
        """Deliver every due, not yet delivered push; returns "tenant|channel" of those sent."""
        sent = []
        for sub in self.subscriptions():
            local_date = sub.due_date(now)
            if local_date is None:
                continue
            guard = f"{self._keys.tenant(sub.address.tenant_key)}:pushed:{sub.channel}:{local_date}"
            # SET NX is the exactly-once guard: arq's own unique cron can run twice.
            # A lease, not a flag, so a worker that dies mid-push hands over. That makes the
            # one channel in flight at a crash at-least-once: if its post had landed, it is
            # posted again when the lease runs out. A channel marked done never is.
            holder = f"sending:{secrets.token_hex(4)}"
            if not self._redis.set(guard, holder, nx=True, ex=self._lease):
                continue
            message = self.message_for(sub, local_date)
            try:
                delivered = self._deliver(sub.address, message, lease=(guard, holder))
            except _LeaseLost:
                logger.warning("lost the push lease of %s; another worker has it", sub.channel)
                continue
            if delivered:
                self._redis.set(guard, "done", ex=DONE_TTL)
                sent.append(f"{sub.address.tenant_key}|{sub.channel}")
            else:
                self._redis.set(guard, "dead-lettered", ex=DONE_TTL)
        return sent

    def remind(self, now: datetime) -> int:
        """Opted-in students with due cards get one reminder a local day, outside quiet hours."""
        reminded = 0
        for person in self._redis.smembers(f"{self._keys.prefix}:{{subs}}:reminders"):
            prefix = self._keys.person(person)
            profile = self._redis.hgetall(f"{prefix}:profile")
            if "reminders" not in profile:
                continue
            local = now.astimezone(ZoneInfo(profile.get("tz", "UTC")))
            if _in_quiet_hours(local.strftime("%H:%M"), profile.get("quiet", "22:00-08:00")):
                continue
            due = self._redis.zcount(f"{prefix}:due", "-inf", now.timestamp())
            if not due:
                continue
            guard = f"{prefix}:reminded:{local.date()}"
            if not self._redis.set(guard, "1", nx=True, ex=DONE_TTL):
                continue
            plural = "s" if due != 1 else ""
            text = f"You have {due} quiz card{plural} due; a few minutes now keeps your streak."
            message = PushMessage(local.date().isoformat(), "", "", "reminder", text)
            reminded += self._deliver(Address(**json.loads(profile["reminders"])), message)
        return reminded

    def push_now(self, address: Address, course: str, now: datetime) -> PushMessage:
        """Send a channel's quiz at once (an admin's test); the daily guard is untouched."""
        raw = self._redis.hget(self._subs(address.tenant_key), address.channel)
        sub = (
            Subscription(**json.loads(raw))
            if raw
            else Subscription(
                address.platform, address.tenant, address.channel, "00:00", "UTC", course=course
            )
        )
        message = self.message_for(sub, now.astimezone(ZoneInfo(sub.timezone)).date())
        if not self._deliver(address, message):
            raise StateUnavailableError("the push failed and went to the dead-letter queue")
        return message

    def _deliver(
        self, address: Address, message: PushMessage, lease: tuple[str, str] | None = None
    ) -> bool:
        """Retry with exponential backoff and jitter; dead-letter after the last attempt.

        With a `lease` (guard key, holder), each attempt first renews it, so slow retries
        never outlast it and let a second worker post too; a lost lease raises _LeaseLost.
        """
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(self._attempts),
                wait=wait_random_exponential(multiplier=self._backoff, max=30 * self._backoff),
                reraise=True,
            ):
                if lease and not self._renew(*lease):
                    raise _LeaseLost
                with attempt:
                    try:
                        self._outbox.deliver(address, message)
                    except Exception:
                        metrics.PUSHES.labels(address.platform, "failed").inc()
                        raise
            metrics.PUSHES.labels(address.platform, "sent").inc()
            return True
        except _LeaseLost:
            raise
        except Exception as exc:
            logger.warning("push to %s failed %d times: %s", address.channel, self._attempts, exc)
            self._dead_letter(address, message, f"{type(exc).__name__}: {exc}"[:300])
            metrics.PUSHES.labels(address.platform, "dead_lettered").inc()
            return False

    def _renew(self, guard: str, holder: str) -> bool:
        """Extend the lease if this worker still holds it (check and extend in one step)."""
        renewed = self._redis.eval(_RENEW_LEASE, 1, guard, holder, self._lease)
        return bool(renewed)

    # -- dead letters ----------------------------------------------------------

    def _dlq(self) -> str:
        return f"{self._keys.prefix}:{{dlq}}:pushes"

    def _dead_letter(self, address: Address, message: PushMessage, error: str) -> None:
        entry = {
            "id": secrets.token_hex(6),
            "address": asdict(address),
            "message": asdict(message),
            "error": error,
            "attempts": self._attempts,
            "at": time.time(),
        }
        self._redis.hset(self._dlq(), entry["id"], json.dumps(entry))

    def dead_letters(self) -> list[dict[str, object]]:
        """Failed pushes, oldest first."""
        entries = [json.loads(v) for v in self._redis.hvals(self._dlq())]
        return sorted(entries, key=lambda e: e["at"])

    def retry(self, entry_id: str) -> bool:
        """Re-drive one dead letter; it leaves the queue only when delivered."""
        raw = self._redis.hget(self._dlq(), entry_id)
        if raw is None:
            raise NotFoundError(f"no dead letter {entry_id[:40]!r}")
        entry = json.loads(raw)
        self._redis.hdel(self._dlq(), entry_id)  # a failure below adds a fresh entry
        return self._deliver(Address(**entry["address"]), PushMessage(**entry["message"]))

    def drop(self, entry_id: str) -> None:
        """Discard one dead letter."""
        if not self._redis.hdel(self._dlq(), entry_id):
            raise NotFoundError(f"no dead letter {entry_id[:40]!r}")


def _in_quiet_hours(clock: str, quiet: str) -> bool:
    """Whether "HH:MM" falls in a quiet range like "22:00-08:00" (which may wrap midnight)."""
    start, _, end = quiet.partition("-")
    return start <= clock < end if start <= end else clock >= start or clock < end
