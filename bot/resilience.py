"""Circuit breakers: fail fast while a dependency is down; one probe tests it, success closes."""

# pybreaker (used before) runs every call under one process-wide lock, so concurrent model
# calls queued behind each other, and its half-open state let every process probe at once.
# This breaker holds no lock during a call, and a shared store (Redis) can make the half-open
# probe a lease that one process at a time holds.

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class BreakerOpenError(Exception):
    """The breaker is open (or another caller holds the probe): the call was not made."""

    def __init__(self, name: str, retry_in: float) -> None:
        super().__init__(f"{name} is failing; not called for another {max(retry_in, 0):.1f} s")
        self.name = name
        self.retry_in = retry_in


class BreakerStore(Protocol):
    """Where a breaker keeps its state: this process's memory, or Redis for every process."""

    def opened_at(self) -> float | None:
        """When the breaker last opened (wall clock), or None while it is closed."""

    def add_failure(self) -> int:
        """Count a failure while closed; the count so far."""

    def open(self, now: float) -> None:
        """Open (or re-open) the breaker now; clears the failure count and the probe lease."""

    def close(self) -> None:
        """Close the breaker: no failures, no probe."""

    def claim_probe(self, lease_seconds: float, now: float) -> bool:
        """Take the half-open probe for `lease_seconds`; False when another caller has it."""


class LocalStore:
    """Breaker state in this process; failures `forget_seconds` apart are not counted together."""

    def __init__(self, forget_seconds: float = 60.0) -> None:
        self._lock = threading.Lock()
        self._forget = forget_seconds
        self._failures = 0
        self._last_failure = 0.0
        self._opened_at: float | None = None
        self._probe_until = 0.0

    def opened_at(self) -> float | None:
        """When it opened, or None."""
        return self._opened_at

    def add_failure(self) -> int:
        """One more failure (the first, if the last was long ago)."""
        with self._lock:
            now = time.monotonic()
            if now - self._last_failure > self._forget:
                self._failures = 0
            self._failures, self._last_failure = self._failures + 1, now
            return self._failures

    def open(self, now: float) -> None:
        """Open now."""
        with self._lock:
            self._opened_at, self._failures, self._probe_until = now, 0, 0.0

    def close(self) -> None:
        """Close."""
        with self._lock:
            self._opened_at, self._failures, self._probe_until = None, 0, 0.0

    def claim_probe(self, lease_seconds: float, now: float) -> bool:
        """Only one caller probes until the lease runs out (or the probe ends)."""
        with self._lock:
            if now < self._probe_until:
                return False
            self._probe_until = now + lease_seconds
            return True


class Breaker:
    """Closed: calls go through and failures are counted. Open: calls fail at once.

    After `reset_seconds` the breaker is half-open: one caller probes (the store's lease
    makes it one across processes when the store is shared); success closes the breaker,
    failure opens it for another `reset_seconds`. Only errors for which `counts(exc)` is
    true are failures: an answer that is an error (a 400) still shows the dependency is up.
    """

    def __init__(
        self,
        name: str,
        fail_max: int,
        reset_seconds: float,
        store: BreakerStore | None = None,
        probe_lease_seconds: float | None = None,
        counts: Callable[[BaseException], bool] = lambda exc: True,
    ) -> None:
        self.name = name
        self.fail_max = max(1, fail_max)
        self.reset_seconds = reset_seconds
        self._store = store or LocalStore()
        self._lease = probe_lease_seconds or max(reset_seconds, 1.0)
        self._counts = counts
        self._depth = threading.local()  # nested attempts on one thread pass straight through

    @property
    def state(self) -> str:
        """closed, open or half-open, as the store says now."""
        opened = self._store.opened_at()
        if opened is None:
            return CLOSED
        return OPEN if time.time() - opened < self.reset_seconds else HALF_OPEN

    def _before(self) -> bool:
        """Whether this call is the probe; raises BreakerOpenError when it may not run."""
        opened = self._store.opened_at()
        if opened is None:
            return False
        now = time.time()
        wait = opened + self.reset_seconds - now
        if wait > 0 or not self._store.claim_probe(self._lease, now):
            raise BreakerOpenError(self.name, wait if wait > 0 else self.reset_seconds)
        return True

    @contextmanager
    def attempt(self) -> Iterator[bool]:
        """Guard one call; yields whether it is the half-open probe."""
        depth = getattr(self._depth, "value", 0)
        if depth:
            yield False
            return
        probe = self._before()
        self._depth.value = 1
        try:
            yield probe
        except BaseException as exc:
            if self._counts(exc):
                self._failed(probe)
            elif probe:
                self._store.close()
            raise
        else:
            if probe:
                self._store.close()
        finally:
            self._depth.value = 0

    def _failed(self, probe: bool) -> None:
        if probe or self._store.add_failure() >= self.fail_max:
            self._store.open(time.time())

    def call(self, function: Callable[[], object]) -> object:
        """Run `function` under the breaker."""
        with self.attempt():
            return function()
