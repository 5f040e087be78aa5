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
from bot.state.redis_client import (
    CLUSTER_SCHEMES,
    SENTINEL_SCHEME,
    SentinelTarget,
    embedded_server,
    scheme,
)

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
    """arq's connection settings: REDIS_QUEUE_URL, else REDIS_URL, else the embedded server.

    arq talks to one server or to a Sentinel-managed master, never to a Cluster. With a
    Cluster REDIS_URL and no REDIS_QUEUE_URL, each worker keeps its arq queue in its own
    embedded server: that queue only schedules the tick, and the per-channel SET NX lease,
    which lives in the cluster, still makes every push happen once across workers.
    """
    url = settings.redis.queue_url or settings.redis.url
    if scheme(url) in CLUSTER_SCHEMES:
        if settings.redis.queue_url:
            raise ValueError("REDIS_QUEUE_URL must be redis:// or redis+sentinel://, not a Cluster")
        logger.info("arq has no Cluster client: this worker queues its tick in its own Redis")
        url = None
    if url and scheme(url) == SENTINEL_SCHEME:
        target = SentinelTarget.parse(url)
        return ArqRedisSettings(
            host=target.sentinels,
            sentinel=True,
            sentinel_master=target.service,
            database=target.db,
            username=target.username,
            password=target.password,
        )
    if url:
        return ArqRedisSettings.from_dsn(url)
    return ArqRedisSettings(unix_socket_path=str(embedded_server(settings.data_dir)))


async def start_health(ctx: dict[str, Any]) -> None:
    """arq's on_startup: /healthz, /readyz (Redis, Chroma) and /metrics on STUDYBOT_HTTP_PORT."""
    from aiohttp import web

    from bot.health import Health, start_server

    container = ctx["container"]
    health = Health(lambda: container.readiness(model=False))  # pushes embed nothing
    app = health.add_routes(web.Application())
    ctx["health"] = await start_server(app, "0.0.0.0", container.settings.http_port)


async def stop_health(ctx: dict[str, Any]) -> None:
    """arq's on_shutdown: stop serving the health endpoints."""
    if "health" in ctx:
        await ctx.pop("health").cleanup()


def build_worker(settings: Settings) -> Worker:
    """A worker whose only job is the per-minute push tick.

    On SIGTERM arq stops picking jobs and, with job_completion_wait, lets a running tick
    finish for up to the grace period before it cancels it (without it, arq cancels at once).
    """
    from bot.core.safety import install_log_redaction
    from bot.wiring import Container

    container = Container(settings)
    install_log_redaction(container.redactor)
    return Worker(
        functions=[],
        cron_jobs=[cron(push_tick, second=0, run_at_startup=True, timeout=300)],
        redis_settings=arq_redis_settings(settings),
        ctx={"container": container},
        on_startup=start_health,
        on_shutdown=stop_health,
        handle_signals=True,
        job_completion_wait=int(settings.shutdown_grace_seconds),
        queue_name=f"{settings.redis.key_prefix}:arq:queue",
        health_check_key=f"{settings.redis.key_prefix}:arq:health",
    )
