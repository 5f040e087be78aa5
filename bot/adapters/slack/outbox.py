"""The Slack outbox: daily quizzes via chat.postMessage, paced per channel."""

from __future__ import annotations

import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

from bot.adapters.slack.translate import render_push
from bot.config import SlackSettings
from bot.core.models import Address
from bot.schedule.outbox import DeliveryError, PushMessage


class SlackOutbox:
    """Posts pushes with the bot token; at most one message per channel per second."""

    PACE_SECONDS = 1.0  # Slack's guideline for posting to one channel

    def __init__(self, settings: SlackSettings) -> None:
        self._client = WebClient(
            token=settings.bot_token,
            base_url=settings.api_url,
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=2),
                RateLimitErrorRetryHandler(max_retry_count=1),
            ],
        )
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def _pace(self, channel: str) -> None:
        with self._lock:
            now = time.monotonic()
            ready = self._last.get(channel, 0.0) + self.PACE_SECONDS
            self._last[channel] = max(now, ready)
        if ready > now:
            time.sleep(ready - now)

    def deliver(self, address: Address, message: PushMessage) -> None:
        """Post one push; DeliveryError lets the scheduler retry and dead-letter."""
        self._pace(address.channel)
        if message.kind == "reminder":
            text, blocks = message.text, None
        else:
            text, blocks = render_push(message)
        try:
            self._client.chat_postMessage(channel=address.channel, text=text, blocks=blocks)
        except SlackApiError as exc:
            raise DeliveryError(f"slack: {exc.response.get('error', 'error')}") from exc
