"""The Redis keyspace: every key scoped by tenant in a hash tag, user input always escaped."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_UNSAFE_TENANT = re.compile(r"[^A-Za-z0-9_.:-]")


def escape(part: str, pattern: re.Pattern[str] = _UNSAFE) -> str:
    """Percent-encode anything that could change a key's shape (":", "{", "*", spaces...)."""
    return pattern.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), part)[:200]


class Keyspace:
    """Builds keys like `sb:{slack:T123}:conv:U1:1699.01`."""

    def __init__(self, prefix: str = "sb") -> None:
        self.prefix = prefix

    def tenant(self, tenant: str) -> str:
        """The tenant's key prefix; the braces keep one tenant on one Cluster slot."""
        return f"{self.prefix}:{{{escape(tenant, _UNSAFE_TENANT)}}}"

    def conversation(self, tenant: str, user: str, thread: str) -> str:
        """A list of the thread's recent turns (JSON)."""
        return f"{self.tenant(tenant)}:conv:{escape(user)}:{escape(thread)}"

    def pending(self, tenant: str, user: str, thread: str) -> str:
        """The template waiting for slots in a thread (JSON)."""
        return f"{self.tenant(tenant)}:pending:{escape(user)}:{escape(thread)}"

    def gaps(self, tenant: str) -> str:
        """Sorted set of off-topic questions by when they were last asked."""
        return f"{self.tenant(tenant)}:gaps"

    def gap_counts(self, tenant: str) -> str:
        """Hash: off-topic question -> times asked."""
        return f"{self.tenant(tenant)}:gaps:count"

    def courses(self, tenant: str) -> str:
        """Hash: "default" or "channel:<id>" -> course name."""
        return f"{self.tenant(tenant)}:courses"

    def traces(self, tenant: str, user: str) -> str:
        """A capped list of the student's recent request traces (JSON), newest first."""
        return f"{self.tenant(tenant)}:trace:{escape(user)}"

    def person_of(self, tenant: str, user: str) -> str:
        """The person id behind a platform account."""
        return f"{self.tenant(tenant)}:person:{escape(user)}"

    def person(self, person_id: str) -> str:
        """A person's own key prefix: every per-student quiz key shares one hash tag."""
        return f"{self.prefix}:{{person:{escape(person_id)}}}"
