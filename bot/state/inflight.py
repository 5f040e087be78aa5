"""Replies being worked on, per process, so a process that died has its students told."""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from dataclasses import asdict, dataclass

import redis

from bot.state.keys import Keyspace

logger = logging.getLogger(__name__)

FORGET_SECONDS = 3600  # nobody swept it for an hour: too old to resolve (Discord's token is not)


@dataclass(frozen=True)
class Placeholder:
    """A "Thinking…" that one process is turning into an answer.

    `ref` finds it again: a Slack message's ts, or a Discord interaction's token (which
    lets anyone holding it answer that one interaction, for 15 minutes).
    """

    platform: str
    tenant: str
    channel: str
    ref: str
    owner: str


class InFlight:
    """A set of placeholders in Redis, and a heartbeat key per process (AP: best effort).

    A live process refreshes its heartbeat every few seconds. Any process may sweep: a
    placeholder whose owner's heartbeat has expired is removed with ZREM, and only the
    process whose ZREM removed it tells the student, so each is resolved once.
    """

    def __init__(self, client: redis.Redis, keys: Keyspace, alive_seconds: float = 10.0) -> None:
        self._redis = client
        # A process that has not said it is alive for this long is taken as dead.
        self._alive_ms = max(1, int(alive_seconds * 1000))
        self.sweep_every = alive_seconds / 3  # beats per heartbeat: one late beat is no death
        self._index = f"{keys.prefix}:{{inflight}}:placeholders"
        self._alive = f"{keys.prefix}:{{inflight}}:alive:"
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    def beat(self) -> None:
        """Say this process is alive (call every few seconds)."""
        try:
            self._redis.set(self._alive + self.owner, "1", px=self._alive_ms)
        except redis.RedisError:
            logger.debug("heartbeat skipped: Redis unreachable")

    def add(self, platform: str, tenant: str, channel: str, ref: str) -> Placeholder:
        """Record a placeholder this process is answering."""
        placeholder = Placeholder(platform, tenant, channel, ref, self.owner)
        try:
            self._redis.zadd(self._index, {_member(placeholder): time.time()})
        except redis.RedisError:
            logger.debug("placeholder not recorded: Redis unreachable")
        return placeholder

    def done(self, placeholder: Placeholder) -> None:
        """The placeholder is resolved."""
        try:
            self._redis.zrem(self._index, _member(placeholder))
        except redis.RedisError:
            logger.debug("placeholder not cleared: Redis unreachable")

    def orphans(self, platform: str) -> list[Placeholder]:
        """Claim the placeholders of dead processes on `platform`; each goes to one caller."""
        try:
            self._redis.zremrangebyscore(self._index, 0, time.time() - FORGET_SECONDS)
            members = self._redis.zrange(self._index, 0, -1)
            found = [Placeholder(**json.loads(m)) for m in members]
            owners = sorted({p.owner for p in found if p.platform == platform})
            if not owners:
                return []
            beats = self._redis.mget([self._alive + o for o in owners])
            alive = dict(zip(owners, beats, strict=True))
            return [
                p
                for p in found
                if p.platform == platform
                and alive.get(p.owner) is None
                and self._redis.zrem(self._index, _member(p))
            ]
        except redis.RedisError:
            return []


def _member(placeholder: Placeholder) -> str:
    return json.dumps(asdict(placeholder), sort_keys=True)
