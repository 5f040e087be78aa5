"""HTTP middleware in front of bolt: a body Slack could never have sent gets 400, not 500."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FORM = "application/x-www-form-urlencoded"


def well_formed(body: bytes, content_type: str) -> bool:
    """A JSON object (events), or a form whose `payload`, if any, is a JSON object."""
    try:
        text = body.decode("utf-8")
        if content_type == "application/json":
            return isinstance(json.loads(text), dict)
        if content_type == FORM:
            fields = parse_qs(text, keep_blank_values=True, strict_parsing=True)
            payload = fields.get("payload")
            return payload is None or isinstance(json.loads(payload[0]), dict)
    except ValueError:  # bad UTF-8, JSON or form encoding
        return False
    return False


def reject_malformed(path: str) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """An aiohttp middleware for bolt's events `path`; other routes pass untouched."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # aiohttp keeps the body it read, so bolt reads the same bytes afterwards.
        checked = request.method == "POST" and request.path == path
        if checked and not well_formed(await request.read(), request.content_type):
            return web.json_response(
                {"ok": False, "error": "the body is not JSON or a form"}, status=400
            )
        return await handler(request)

    return middleware
