"""Who runs a command, with platform-neutral roles the core checks."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.models import Incoming

STUDENT, CHANNEL_MANAGER, ADMIN = "student", "channel-manager", "admin"


@dataclass(frozen=True)
class Actor:
    """The person behind a command: where they are, and what they may change.

    A face maps its own permissions: Slack workspace admins and a channel's creator,
    Discord's Manage Channels, the CLI's local operator (an admin, explicitly).
    """

    incoming: Incoming
    roles: frozenset[str] = frozenset({STUDENT})

    @classmethod
    def of(cls, incoming: Incoming, *, manager: bool = False, admin: bool = False) -> Actor:
        """An actor with the roles a face found."""
        roles = (
            {STUDENT} | ({CHANNEL_MANAGER} if manager else set()) | ({ADMIN} if admin else set())
        )
        return cls(incoming, frozenset(roles))

    @property
    def manages_channel(self) -> bool:
        """May change the channel's course and daily quiz."""
        return bool({ADMIN, CHANNEL_MANAGER} & self.roles)
