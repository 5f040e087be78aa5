"""Stores as the core sees them: a Redis failure arrives as the core's StateUnavailableError."""

from __future__ import annotations

import functools
from typing import Any, TypeVar, cast

import redis

from bot.core.errors import StateUnavailableError

REDIS_DOWN = (
    "My storage (Redis) is unreachable right now, so nothing was changed. "
    "Please try again in a minute."
)
Store = TypeVar("Store")


class _CoreFacing:
    """Forwards every call to the store, translating redis.RedisError on the way out."""

    def __init__(self, store: object) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except redis.RedisError as exc:
                raise StateUnavailableError(REDIS_DOWN) from exc

        return call


def core_facing(store: Store) -> Store:
    """The store for the core, which knows its ports' errors and not Redis's."""
    return cast(Store, _CoreFacing(store))
