"""A local stand-in for Slack's Web API on a loopback port; records every call it receives."""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict, deque
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from bot.standins.loopback import LoopbackServer


class SlackAPIStub:
    """Answers Web API methods like Slack does (enough for the bot); scripts failures."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], float]] = []
        self.failures: dict[str, deque[web.Response]] = defaultdict(deque)
        self.admins: set[str] = set()
        self._ts = itertools.count(1)
        self._server = LoopbackServer()
        self.port = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        raw = await request.read()
        if request.method == "GET":
            params = dict(request.query)
        elif request.content_type == "application/json":
            params = json.loads(raw or b"{}")
        elif request.content_type == "application/x-www-form-urlencoded":
            params = dict(parse_qsl(raw.decode()))
        else:
            params = {"_bytes": len(raw)}
        self.calls.append((method, params, time.monotonic()))
        if self.failures[method]:
            return self.failures[method].popleft()
        return web.json_response(self._answer(method, params))

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        ok: dict[str, Any] = {"ok": True}
        if method == "auth.test":
            return {**ok, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1", "user": "studybot"}
        if method in {"chat.postMessage", "chat.update"}:
            return {
                **ok,
                "channel": params.get("channel"),
                "ts": params.get("ts") or f"{next(self._ts)}.000",
            }
        if method == "users.info":
            user = params.get("user")
            return {**ok, "user": {"id": user, "name": user, "is_admin": user in self.admins}}
        if method == "conversations.info":
            return {**ok, "channel": {"id": params.get("channel"), "creator": "UCREATOR"}}
        if method == "conversations.open":
            return {**ok, "channel": {"id": "D" + str(params.get("users", "X"))}}
        if method == "files.getUploadURLExternal":
            return {**ok, "upload_url": f"http://127.0.0.1:{self.port}/upload/F1", "file_id": "F1"}
        if method == "files.completeUploadExternal":
            return {**ok, "files": [{"id": "F1", "title": "progress.png"}]}
        return ok

    async def _upload(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.calls.append(("upload", {"_bytes": len(body), "_head": body[:8]}, time.monotonic()))
        return web.Response(text="OK")

    def application(self) -> web.Application:
        """The stand-in as an aiohttp app, to serve on a loop of one's own (set `port` then)."""
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle)
        app.router.add_get("/api/{method}", self._handle)
        app.router.add_post("/upload/{file}", self._upload)
        return app

    def start(self, port: int = 0) -> SlackAPIStub:
        """Serve on `port` (0: a free one); the same port again brings a stopped API back."""
        self.port = self._server.serve(self.application(), port)
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def base_url(self) -> str:
        """What SLACK_API_URL points at (the trailing slash matters)."""
        return f"http://127.0.0.1:{self.port}/api/"

    def of(self, method: str) -> list[dict[str, Any]]:
        """Parameters of every call to one method."""
        return [params for name, params, _ in self.calls if name == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 20) -> list[dict[str, Any]]:
        """Poll until `count` calls of a method arrived (bolt acks before it works)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.of(method)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{method}: expected {count} call(s), got {len(self.of(method))}")
