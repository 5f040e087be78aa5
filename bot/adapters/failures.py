"""Where an adapter hands work to the core: whatever fails, the student is told, briefly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from bot import metrics
from bot.core.errors import InputError, UnavailableError
from bot.core.trace import Trace
from bot.state.core_facing import REDIS_DOWN
from bot.state.inflight import InFlight, Placeholder

logger = logging.getLogger(__name__)

T = TypeVar("T")

GENERIC = "Something went wrong on my side while answering. Please try again in a minute."
PLATFORM_DOWN = "The chat platform did not take my reply just now. Please try again in a minute."
# Errors raised by the chat SDKs and their HTTP client: the platform, not the bot, failed.
PLATFORM_PACKAGES = frozenset({"discord", "slack_sdk", "slack_bolt", "aiohttp"})
RESTARTING = "I'm restarting and couldn't finish this answer. Please ask again in a moment."
TELL_TIMEOUT = 5.0  # a failure message must not hold a shutdown or a worker for long


@dataclass(frozen=True)
class Failure:
    """What went wrong, for the trace (`dependency`) and for the student (`message`)."""

    dependency: str | None  # None: the student's own input
    message: str


def failure_of(exc: BaseException) -> Failure:
    """The short message a student gets for an exception (dependency "bot": unexpected)."""
    if isinstance(exc, InputError):
        return Failure(None, str(exc))
    if isinstance(exc, UnavailableError):
        return Failure(exc.dependency, str(exc))
    if isinstance(exc, redis.RedisError):  # a store that does not translate its errors yet
        return Failure("redis", REDIS_DOWN)
    if type(exc).__module__.partition(".")[0] in PLATFORM_PACKAGES:
        return Failure("platform", PLATFORM_DOWN)
    return Failure("bot", GENERIC)


def note_failure(trace: Trace | None, exc: BaseException) -> Failure:
    """Map the exception and record, on the trace and the metrics, which dependency failed."""
    failure = failure_of(exc)
    if failure.dependency == "bot":
        logger.error("request failed", exc_info=exc)
    elif failure.dependency == "platform":
        metrics.UNAVAILABLE.labels("platform").inc()
        logger.warning("the chat platform refused the reply: %s", exc)
    elif failure.dependency:
        metrics.UNAVAILABLE.labels(failure.dependency).inc()
    if trace is not None and failure.dependency:
        trace.failed, trace.failed_reason = failure.dependency, type(exc).__name__
    return failure


async def tell_quietly(tell: Callable[[str], Awaitable[object]], message: str) -> bool:
    """Send a failure message; the platform itself may be down, so this never raises."""
    try:
        await asyncio.wait_for(tell(message), TELL_TIMEOUT)
        return True
    except Exception as exc:  # nothing more can be shown: log it, the process carries on
        logger.warning("could not tell the student (%s): %s", type(exc).__name__, message)
        return False


async def handoff(
    work: Callable[[], Awaitable[T]],
    tell: Callable[[str], Awaitable[object]],
    trace: Trace | None = None,
) -> T | None:
    """Run `work`; on any failure `tell` the student what is unavailable, and return None.

    Cancelled (a shutdown past its grace period): the student is told to ask again.
    """
    try:
        return await work()
    except asyncio.CancelledError:
        await tell_quietly(tell, RESTARTING)
        raise
    except Exception as exc:
        failure = note_failure(trace, exc)
        await tell_quietly(tell, failure.message)
        return None


async def watch_orphans(
    inflight: InFlight,
    platform: str,
    quick: Callable[..., Awaitable[Any]],
    tell: Callable[[Placeholder, str], Awaitable[object]],
    stopping: Callable[[], bool],
) -> None:
    """Say this process is alive; tell the students of processes that died to ask again.

    A process killed mid-answer (SIGKILL, out of memory) leaves its "Thinking…" behind;
    whichever process sweeps first resolves it, once. Runs until `stopping()`.
    """
    while not stopping():
        await quick(inflight.beat)
        for orphan in await quick(inflight.orphans, platform):
            logger.info("a reply of a process that died: telling its student to ask again")
            await tell_quietly(lambda text, o=orphan: tell(o, text), RESTARTING)
        for _ in range(max(1, int(inflight.sweep_every / 0.25))):  # a drain must not wait
            if stopping():
                return
            await asyncio.sleep(0.25)
