"""The arq worker: a cron job each minute runs the push tick, guarded to run exactly once."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from arq import cron
from arq.connections import RedisSettings as ArqRedisSettings
from arq.worker import Worker

from bot.config import Settings
from bot.state.redis_client import embedded_server

logger = logging.getLogger(__name__)


async def push_tick(ctx: dict[str, Any]) -> int:
    """Deliver due pushes; the scheduler's SET NX guard makes concurrent workers safe."""
    container = ctx["container"]
    now = datetime.now(UTC)
    sent = await asyncio.to_thread(container.pushes.tick, now)
    reminded = await asyncio.to_thread(container.pushes.remind, now)
    if sent or reminded:
        logger.info("pushed to %d channel(s), reminded %d student(s)", len(sent), reminded)
    return len(sent) + reminded


def arq_redis_settings(settings: Settings) -> ArqRedisSettings:
    """arq's connection settings from REDIS_URL (or the embedded server's socket)."""
    if settings.redis.url:
        return ArqRedisSettings.from_dsn(settings.redis.url)
    return ArqRedisSettings(unix_socket_path=str(embedded_server(settings.data_dir)))


def build_worker(settings: Settings) -> Worker:
    """A worker whose only job is the per-minute push tick."""
    from bot.wiring import Container

    container = Container(settings)
    return Worker(
        functions=[],
        cron_jobs=[cron(push_tick, second=0, run_at_startup=True, timeout=300)],
        redis_settings=arq_redis_settings(settings),
        ctx={"container": container},
        handle_signals=True,
        queue_name=f"{settings.redis.key_prefix}:arq:queue",
        health_check_key=f"{settings.redis.key_prefix}:arq:health",
    )
