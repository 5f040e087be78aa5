"""Where pushes go: an Outbox per platform; here the log outbox used by the console and tests."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from bot.core.models import Address

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushMessage:
    """A daily quiz for a channel: plain data every platform can render."""

    local_date: str
    item_id: str
    concept: str
    kind: str
    text: str
    options: list[str] = field(default_factory=list)  # in the order shown
    course: str = ""
    positions: list[int] = field(default_factory=list)  # each shown option's place in the bank

    def option_values(self) -> list[tuple[str, int]]:
        """(option, bank position) as shown: buttons carry the position, not the letter."""
        return list(zip(self.options, self.positions or range(len(self.options)), strict=False))


class DeliveryError(Exception):
    """A platform refused or failed a delivery; it may succeed on retry."""


class Outbox(Protocol):
    """Delivers a push to a channel; raises on failure (the scheduler retries)."""

    def deliver(self, address: Address, message: PushMessage) -> None:
        """Post the message to the address's channel."""
        ...


class LogOutbox:
    """Writes each delivery as a JSON line (a file, or the log): the console's outbox."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()

    def deliver(self, address: Address, message: PushMessage) -> None:
        """Append one line; O_APPEND keeps lines from several processes whole."""
        line = json.dumps({"address": asdict(address), "message": asdict(message)})
        if self._path is None:
            logger.info("push %s", line)
            return
        with self._lock, open(self._path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


class PlatformOutbox:
    """Routes each push to its platform's outbox; platforms without one use the fallback."""

    def __init__(self, routes: dict[str, Outbox], fallback: Outbox) -> None:
        self._routes = routes
        self._fallback = fallback

    def deliver(self, address: Address, message: PushMessage) -> None:
        """Deliver through the address's platform."""
        self._routes.get(address.platform, self._fallback).deliver(address, message)
