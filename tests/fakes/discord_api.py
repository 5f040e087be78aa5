"""A local stand-in for Discord's REST API and gateway on a loopback port; records every call."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from bot.standins.loopback import LoopbackServer

BOT = {"id": "999", "username": "studybot", "discriminator": "0", "global_name": None,
       "avatar": None, "bot": True}  # fmt: skip


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py decodes JSON only when Content-Type is exactly application/json
    # (aiohttp's json_response would append "; charset=utf-8").
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


@dataclass
class GatewayConnection:
    """One client's gateway websocket: the shard it identified as, and whether it is open."""

    socket: web.WebSocketResponse
    shard: list[int] | None = None  # [shard_id, shard_count] from its IDENTIFY
    open: bool = True
    sequence: int = 0


class DiscordAPIStub:
    """Answers the REST routes the bot uses; interaction callbacks return the interaction."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any, float]] = []
        self.gateways: list[GatewayConnection] = []
        self._ids = itertools.count(5000)
        self._server = LoopbackServer()
        self.port = 0

    async def _handle(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body: Any = None
        if request.content_type == "application/json":
            body = await request.json()
        elif request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            body = {}
            async for part in reader:
                if part.name == "payload_json":
                    body.update(json.loads(await part.text()))
                else:
                    body.setdefault("files", []).append(len(await part.read()))
        self.calls.append((request.method, path, body, time.monotonic()))
        if path == "/users/@me":
            return _json(BOT)
        if path == "/gateway/bot":
            limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
            return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})
        if path == "/oauth2/applications/@me":
            return _json({"id": "888", "name": "studybot", "description": "", "icon": None,
                          "bot_public": True, "bot_require_code_grant": False, "verify_key": "k",
                          "owner": BOT, "team": None, "flags": 0})  # fmt: skip
        if path.startswith("/applications/") and "/commands" in path:
            return _json([])
        if path.startswith("/interactions/") and path.endswith("/callback"):
            return _json({"interaction": {"id": path.split("/")[2], "type": 2}})
        if path.endswith("/threads") and request.method == "POST":
            parent = path.split("/")[2]
            return _json({"id": "8888", "type": 11, "guild_id": "777", "parent_id": parent,
                          "owner_id": BOT["id"], "name": (body or {}).get("name", ""),
                          "member_count": 1, "message_count": 0, "flags": 0,
                          "rate_limit_per_user": 0,
                          "thread_metadata": {"archived": False, "auto_archive_duration": 1440,
                                              "archive_timestamp": "2026-03-02T10:00:00+00:00",
                                              "locked": False}})  # fmt: skip
        if path.startswith(("/webhooks/", "/channels/")) and request.method in {"POST", "PATCH"}:
            return _json(self._message(body or {}))
        return _json({})

    def _message(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"id": str(next(self._ids)), "channel_id": "1", "type": 0, "author": BOT,
                "content": body.get("content") or "", "embeds": body.get("embeds") or [],
                "components": [], "attachments": [], "mentions": [], "mention_roles": [],
                "pinned": False, "mention_everyone": False, "tts": False, "flags": 0,
                "timestamp": "2026-03-02T10:00:00+00:00", "edited_timestamp": None}  # fmt: skip

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        # discord.py asks for zlib-stream frames, but it reads plain text JSON frames as well.
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        connection = GatewayConnection(socket)
        self.gateways.append(connection)
        await socket.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for frame in socket:
            if frame.type is not WSMsgType.TEXT:
                break
            message = json.loads(frame.data)
            if message["op"] == 1:  # HEARTBEAT
                await socket.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif message["op"] == 2:  # IDENTIFY
                connection.shard = message["d"].get("shard")
                await self._send(connection, "READY", {
                    "v": 10, "user": BOT, "guilds": [], "shard": connection.shard,
                    "session_id": f"session-{len(self.gateways)}",
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": "888", "flags": 0},
                })  # fmt: skip
        connection.open = False
        return socket

    async def _send(self, connection: GatewayConnection, event: str, data: Any) -> None:
        connection.sequence += 1
        frame = {"op": 0, "t": event, "s": connection.sequence, "d": data}
        await connection.socket.send_json(frame)

    def dispatch(self, shard_id: int, event: str, data: Any) -> None:
        """Send one event over the open connection of a shard, as Discord routes by guild."""
        [connection] = [c for c in self.gateways if c.open and c.shard and c.shard[0] == shard_id]
        self._server.run(self._send(connection, event, data))

    def start(self) -> DiscordAPIStub:
        app = web.Application()
        app.router.add_route("*", "/api/v10/{tail:.*}", self._handle)
        app.router.add_get("/gateway", self._gateway)
        self.port = self._server.serve(app)
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def base_url(self) -> str:
        """What DISCORD_API_URL points at."""
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        """What GET /gateway/bot names: this stand-in's websocket."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    def identified(self) -> list[list[int]]:
        """[shard_id, shard_count] of every IDENTIFY so far, in arrival order."""
        return [c.shard for c in self.gateways if c.shard]

    def of(self, fragment: str, method: str = "POST") -> list[Any]:
        """Bodies of the calls whose path contains `fragment`."""
        return [b for m, p, b, _ in self.calls if fragment in p and m == method]

    def wait_for(
        self, fragment: str, count: int = 1, method: str = "POST", timeout: float = 20
    ) -> list[Any]:
        """Poll until `count` such calls arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.of(fragment, method)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{fragment}: expected {count}, got {len(self.of(fragment, method))}")
