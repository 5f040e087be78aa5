"""The Discord outbox: pushes over REST with the bot token, so the worker needs no gateway."""

from __future__ import annotations

from typing import Any

import httpx

from bot.config import DiscordSettings
from bot.core.models import Address
from bot.schedule.outbox import DeliveryError, PushMessage


def push_components(message: PushMessage) -> list[dict[str, Any]]:
    """Option buttons whose custom ids the client's persistent handlers understand."""
    buttons = [
        {"type": 2, "style": 1, "label": f"{chr(65 + i)}. {option}"[:80],
         "custom_id": f"sb:q:i:{message.item_id}:{position}"}
        for i, (option, position) in enumerate(message.option_values())
    ]  # fmt: skip
    if not buttons and message.item_id and message.kind == "quick-check":
        buttons = [
            {"type": 2, "style": 1, "label": "Try it", "custom_id": f"sb:try:{message.item_id}"}
        ]
    return [{"type": 1, "components": buttons}] if buttons else []


class DiscordOutbox:
    """POST /channels/{id}/messages; mentions never ping (allowed_mentions parses nothing)."""

    def __init__(self, settings: DiscordSettings, timeout: float = 10.0) -> None:
        self._client = httpx.Client(
            base_url=settings.api_url.rstrip("/"),
            headers={"Authorization": f"Bot {settings.token}", "User-Agent": "studybot"},
            timeout=timeout,
        )

    def deliver(self, address: Address, message: PushMessage) -> None:
        """Post one push; DeliveryError lets the scheduler retry and dead-letter."""
        if message.kind == "reminder":
            content = message.text
        else:
            content = f"**Daily quick check ({message.concept}):** {message.text}"
        body = {
            "content": content[:2000],
            "allowed_mentions": {"parse": []},
            "components": push_components(message) if message.kind != "reminder" else [],
        }
        try:
            response = self._client.post(f"/channels/{address.channel}/messages", json=body)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"discord: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise DeliveryError(f"discord: HTTP {response.status_code}")
