"""/healthz, /readyz and /metrics over HTTP, and the graceful stop on SIGTERM of every server."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot import metrics

logger = logging.getLogger(__name__)

Readiness = Callable[[], dict[str, Any]]


class Health:
    """The three operability endpoints of one process.

    /healthz: the process answers (liveness). /readyz: every dependency check passes
    (200), else 503; both with the per-check results as JSON. /metrics: Prometheus.
    """

    def __init__(self, readiness: Readiness) -> None:
        self._readiness = readiness
        self.draining = False  # set on SIGTERM: not ready, so no new traffic is routed here

    async def healthz(self, request: web.Request) -> web.Response:
        """Live as long as the event loop answers."""
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        """Run the checks off the event loop (they do blocking I/O) and report each."""
        if self.draining:
            return web.json_response(
                {"status": "stopping", "checks": {"shutdown": "draining in-flight work"}},
                status=503,
            )
        checks = await asyncio.to_thread(self._readiness)
        ready = all(result is True for result in checks.values())
        return web.json_response(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status=200 if ready else 503,
        )

    async def metrics(self, request: web.Request) -> web.Response:
        """This process's registry in Prometheus' text format."""
        body, content_type = await asyncio.to_thread(metrics.render)
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    def add_routes(self, app: web.Application) -> web.Application:
        """Add the endpoints to an aiohttp app (bolt's, or a bare one); returns it."""
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)
        return app


async def start_server(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve `app` on host:port (0: any free port); stop it with `runner.cleanup()`.

    A port already in use is logged as an error, not fatal: the process still does its work
    (an orchestrator sees the failing probes); two local processes just need their own
    STUDYBOT_HTTP_PORT.
    """
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        logger.error("no /healthz, /readyz or /metrics: cannot listen on port %d (%s)", port, exc)
        return runner
    ports = sorted({address[1] for address in runner.addresses})
    logger.info("serving /healthz, /readyz and /metrics on port %s", ", ".join(map(str, ports)))
    return runner


def stop_event() -> asyncio.Event:
    """An event set by the first SIGTERM or SIGINT; a second one exits at once (status 1)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            logger.warning("%s again: exiting without waiting for the work in flight", sig.name)
            os._exit(1)
        logger.info("%s: stopping", sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    return stop


async def drain(deadline: float, pending: Callable[[], list[asyncio.Task[Any]]]) -> bool:
    """Wait until no task `pending()` names is left, or the deadline (loop time) passes.

    Work in flight may start more work (a listener's follow-up calls), so this looks again
    after each wait. Past the deadline what is left is cancelled; returns whether all finished.
    """
    loop = asyncio.get_running_loop()
    while True:
        tasks = [t for t in pending() if not t.done() and t is not asyncio.current_task()]
        if not tasks:
            return True
        remaining = deadline - loop.time()
        if remaining <= 0:
            logger.warning(
                "shutdown: %d task(s) still running at the deadline; cancelled", len(tasks)
            )
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return False
        logger.info("shutdown: waiting for %d task(s) in flight", len(tasks))
        await asyncio.wait(tasks, timeout=remaining)


def other_tasks() -> list[asyncio.Task[Any]]:
    """Every task of the loop but the caller's."""
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


async def serve_until_stopped(
    app: web.Application, host: str, port: int, health: Health, grace: float
) -> bool:
    """Serve until SIGTERM/SIGINT, then stop accepting, finish in-flight work, and return.

    In-flight work is every other task on the loop: request handlers first, then the
    background tasks they started (bolt runs listeners as tasks after the ack). Returns
    whether everything finished within `grace` seconds.
    """
    loop = asyncio.get_running_loop()
    stop = stop_event()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=max(grace, 0.1))
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    logger.info("listening on %s:%d", host, port)
    await stop.wait()
    deadline = loop.time() + grace
    health.draining = True
    logger.info("shutdown: stopped accepting; finishing work in flight (at most %.0f s)", grace)
    # Closes the listening socket and idle connections, waits for running handlers.
    await runner.cleanup()
    finished = await drain(deadline, other_tasks)
    logger.info("shutdown: done")
    return finished
