"""A local stand-in for an OpenAI-compatible chat completions API, on a loopback port."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (a timeout, a killed bot) is normal here, not a traceback on
    stderr: a stalled handler can outlive its test and print into the next one's output."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class OpenAIStub:
    """Serves /v1/chat/completions; each request takes the next scripted behaviour.

    Behaviours: {"text": str}, {"sleep": seconds, "text": str}, {"hold": threading.Event,
    "text": str} (answers once the test sets the event, or after 10 s), {"status": code} (with an
    optional error "message"), {"json": dict} (structured output), {"drop": True} (the
    connection closes with no response). Requests are recorded.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: deque[dict[str, Any]] = deque()
        self.default: dict[str, Any] = {"text": "Jitter spreads retries out [1]."}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                stub.requests.append(
                    {"path": self.path, "body": body, "headers": dict(self.headers)}
                )
                behaviour = stub.script.popleft() if stub.script else stub.default
                if "sleep" in behaviour:
                    time.sleep(behaviour["sleep"])
                if "hold" in behaviour:
                    behaviour["hold"].wait(10)
                if behaviour.get("drop"):  # the provider dies mid-request: no response at all
                    self.close_connection = True
                    return
                if "status" in behaviour:
                    message = behaviour.get("message", "stub failure")
                    payload = json.dumps({"error": {"message": message, "type": "server"}})
                    self.send_response(behaviour["status"])
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(payload.encode())
                    return
                content = (
                    json.dumps(behaviour["json"]) if "json" in behaviour else behaviour["text"]
                )
                if body.get("stream"):
                    self._stream(body, content)
                else:
                    self._complete(body, content)

            def _complete(self, body: dict[str, Any], content: str) -> None:
                payload = {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "stub"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                }
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any], content: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                words = content.split(" ")
                for i, word in enumerate(words):
                    piece = word + (" " if i < len(words) - 1 else "")
                    chunk = {
                        "id": "chatcmpl-stub",
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": body.get("model", "stub"),
                        "choices": [
                            {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                        ],
                    }
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                done = {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": body.get("model", "stub"),
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                }
                self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
                self.wfile.flush()

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OpenAIStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of the chat completion calls received."""
        return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]
