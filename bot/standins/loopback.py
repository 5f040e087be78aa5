"""Serve an aiohttp application on a free loopback port from a background event loop."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web


def stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    """Cancel what is still pending on a background loop, then stop and close it.

    Left running, bolt's background ack tasks are destroyed at interpreter exit,
    and the errors they log then break pytest's shutdown.
    """

    async def drain() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(drain(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


class LoopbackServer:
    """An event loop in a thread, optionally serving one aiohttp application."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = 0
        self._runner: web.AppRunner | None = None

    def run(self, coroutine):  # type: ignore[no-untyped-def]
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(20)

    def serve(self, app: web.Application, port: int = 0) -> int:
        """Serve `app` on 127.0.0.1 and `port` (0: a free one); returns the port."""
        runner = web.AppRunner(app)

        async def start() -> int:
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", port)
            await site.start()
            return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        self.port = self.run(start())
        self._runner = runner
        return self.port

    def stop(self) -> None:
        """Stop serving and shut the loop down cleanly."""
        if self._runner is not None:
            self.run(self._runner.cleanup())
        stop_loop(self.loop, self.thread)
