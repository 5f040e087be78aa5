"""An adapter's two thread pools: core work, and quick Redis calls that never queue behind it."""

from __future__ import annotations

import asyncio
import contextvars
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def core_workers(waits_on_network: bool) -> int:
    """How many core calls run at once: about one per CPU, unless they mostly wait on a network.

    Extractive answers are CPU-bound (ONNX, BM25, numpy): threads beyond the CPUs only slow
    each other and take the CPU and the GIL from the event loop that acks. Answers from a
    language model mostly wait on it, so more of them overlap.
    """
    if waits_on_network:
        return 8
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(2, min(8, cpus or 2))


class Bulkheads:
    """Blocking calls run off the event loop, in a pool sized for their kind of work."""

    def __init__(self, name: str, workers: int = 8, quick_workers: int = 4) -> None:
        self._core = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{name}-core")
        self._quick = ThreadPoolExecutor(
            max_workers=quick_workers, thread_name_prefix=f"{name}-quick"
        )

    async def core(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """A core call (answers, quizzes): the event loop keeps acking meanwhile."""
        return await _run(self._core, function, *args, **kwargs)

    async def quick(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """A short Redis call (dedupe, rate limit, traces, thread claims)."""
        return await _run(self._quick, function, *args, **kwargs)

    def shutdown(self) -> None:
        """Drop queued work; called once in-flight answers have had their grace period."""
        self._core.shutdown(wait=False, cancel_futures=True)
        self._quick.shutdown(wait=False, cancel_futures=True)


async def _run(pool: ThreadPoolExecutor, function: Any, *args: Any, **kwargs: Any) -> Any:
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()  # the request id follows the work into the pool
    return await loop.run_in_executor(pool, lambda: context.run(function, *args, **kwargs))
