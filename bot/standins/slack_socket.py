"""A local stand-in for Slack's Socket Mode: the Web API stand-in plus the websocket it opens."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from aiohttp import WSMsgType, web

from bot.standins.slack_api import SlackAPIStub


class SlackSocketStub(SlackAPIStub):
    """`apps.connections.open` hands out ws://127.0.0.1:PORT/link, served here.

    Each connection gets a `hello`; the test pushes envelopes (`send_event`, `send_command`,
    `send_interactive`) to the open connection and reads the client's acks by envelope id.
    An envelope sent while no client is connected is not delivered (`send_*` returns its id
    all the same; it is never acked).
    """

    def __init__(self) -> None:
        super().__init__()
        self.acks: dict[str, dict[str, Any]] = {}  # envelope id -> the client's ack
        self.connections = 0  # websockets opened so far
        self.app_tokens: list[str] = []  # the token of each apps.connections.open
        self.refuse: str | None = None  # an error for apps.connections.open, e.g. "invalid_auth"
        self._sockets: list[web.WebSocketResponse] = []
        self._ids = itertools.count(1)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["method"] == "apps.connections.open":
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            self.app_tokens.append(token)
        return await super()._handle(request)

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "apps.connections.open":
            if not self.app_tokens[-1].startswith("xapp-"):  # Slack refuses a bot token here
                return {"ok": False, "error": "not_allowed_token_type"}
            if self.refuse:
                return {"ok": False, "error": self.refuse}
            ticket = len(self.app_tokens)
            url = f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id=A1"
            return {"ok": True, "url": url}
        return super()._answer(method, params)

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()  # answers the client's pings itself
        await socket.prepare(request)
        self._sockets.append(socket)
        self.connections += 1
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": len(self.open_sockets),
                "debug_info": {"host": "applink-standin", "approximate_connection_time": 3600},
                "connection_info": {"app_id": "A1"},
            }
        )
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    data = json.loads(message.data)
                    if isinstance(data, dict) and data.get("envelope_id"):
                        self.acks[str(data["envelope_id"])] = data
        finally:
            self._sockets.remove(socket)
        return socket

    async def _close_all(self, app: web.Application) -> None:
        for socket in list(self._sockets):
            await socket.close()

    def application(self) -> web.Application:
        app = super().application()
        app.router.add_get("/link", self._link)
        app.router.add_get("/link/", self._link)
        app.on_shutdown.append(self._close_all)
        return app

    @property
    def open_sockets(self) -> list[web.WebSocketResponse]:
        return [s for s in self._sockets if not s.closed]

    @property
    def connected(self) -> bool:
        """Whether a client holds an open connection now."""
        return bool(self.open_sockets)

    def send(self, kind: str, payload: dict[str, Any], **extra: Any) -> str:
        """Push one envelope of `kind` to the newest open connection; returns its id."""
        envelope_id = f"env-{next(self._ids)}"
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload, **extra}

        async def push() -> None:
            if self.open_sockets:
                await self.open_sockets[-1].send_json(envelope)

        self._server.run(push())
        return envelope_id

    def send_event(self, body: dict[str, Any], retry_attempt: int = 0) -> str:
        """An Events API body (token, team_id, event, event_id, ...)."""
        return self.send(
            "events_api",
            body,
            accepts_response_payload=False,
            retry_attempt=retry_attempt,
            retry_reason="",
        )

    def send_command(self, form: dict[str, Any]) -> str:
        """A slash command, its form fields as a dict."""
        return self.send("slash_commands", form, accepts_response_payload=True)

    def send_interactive(self, payload: dict[str, Any]) -> str:
        """An interaction payload (block_actions, view_submission, ...)."""
        return self.send("interactive", payload, accepts_response_payload=True)

    def wait_for_ack(self, envelope_id: str, timeout: float = 20) -> dict[str, Any]:
        """Poll until the client acked the envelope; its ack."""
        deadline = time.monotonic() + timeout
        while envelope_id not in self.acks:
            if time.monotonic() > deadline:
                raise AssertionError(f"envelope {envelope_id} was not acked in {timeout} s")
            time.sleep(0.02)
        return self.acks[envelope_id]

    def wait_connected(self, connected: bool = True, timeout: float = 60) -> None:
        """Poll until a client is connected (or, with False, until none is)."""
        deadline = time.monotonic() + timeout
        while self.connected != connected:
            if time.monotonic() > deadline:
                state = "connect" if connected else "disconnect"
                raise AssertionError(f"no client did {state} in {timeout} s")
            time.sleep(0.02)
