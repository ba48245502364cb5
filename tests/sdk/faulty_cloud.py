"""A misbehaving OpenAI-compatible cloud on 127.0.0.1, for the deadline, stream-cut and key-echo tests.

Real sockets, so the client's real httpx transport (timeouts, keep-alive, SSE
line reading) is what gets exercised; the faults are the ones a slow or broken
cloud or proxy shows in practice:

- ``trickle``: 200 with a JSON/SSE body that arrives one byte every ``interval`` s (each read succeeds,
  so a per-read timeout never fires);
- ``keepalive``: an SSE stream that only sends ``: keep-alive`` comments, never content;
- ``empty``: an SSE stream of well-formed chunks whose deltas carry no text (a role, then ``content: ""``),
  the keep-alive some gateways send instead of comments;
- ``cut``: a stream (or a JSON body) that stops mid-way and closes the connection;
- ``stall``: a stream that sends its ``pieces``, then only keep-alive comments (the deadline cuts it mid-answer);
- ``echo_key``: HTTP ``status`` whose error message quotes the request's key altered as ``echo`` says
  (``lower``, ``upper``, ``spaced``: groups of 4 split by spaces, ``wrapped``: cut by a newline and padded),
  followed by a fragment of it, the way proxies and gateways quote keys they log;
- ``ok``: a well-formed answer.

Every loop is bounded (``max_seconds``) and stops when the server is closed, so a test that fails never
leaves a thread sending forever.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Fault:
    mode: str = "ok"
    interval: float = 1.0
    status: int = 400
    pieces: tuple[str, ...] = ("Par", "is")
    max_seconds: float = 20.0
    echo: str = "lower"


@dataclass
class FaultyCloud:
    fault: Fault = field(default_factory=Fault)
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]  # type: ignore[union-attr]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FaultyCloud:
        cloud = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                cloud.requests.append({"body": body, "authorization": self.headers.get("Authorization")})
                handler = getattr(cloud, "_" + cloud.fault.mode)
                try:
                    handler(self, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up: what these faults are for

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # a short poll interval: shutdown() waits for it, once per test
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.server.shutdown()  # type: ignore[union-attr]
        self.server.server_close()  # type: ignore[union-attr]

    # -- bodies ---------------------------------------------------------------------
    @staticmethod
    def _completion(text: str) -> bytes:
        return json.dumps(
            {
                "object": "chat.completion",
                "model": "faulty",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            }
        ).encode()

    @staticmethod
    def _event(piece: str | None, finish: str | None = None) -> bytes:
        delta = {"content": piece} if piece is not None else {}
        event = {
            "object": "chat.completion.chunk",
            "model": "faulty",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(event)}\n\n".encode()

    def _headers(self, h: BaseHTTPRequestHandler, stream: bool, length: int | None = None, status: int = 200) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "text/event-stream" if stream else "application/json")
        if length is not None:
            h.send_header("Content-Length", str(length))
        else:
            h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.flush()

    def _bounded_ticks(self):
        deadline = time.monotonic() + self.fault.max_seconds
        while time.monotonic() < deadline and not self.stop.wait(self.fault.interval):
            yield

    # -- modes ------------------------------------------------------------------------
    def _ok(self, h, body):
        if body.get("stream"):
            data = b"".join(self._event(p) for p in self.fault.pieces) + self._event(None, "stop") + b"data: [DONE]\n\n"
            self._headers(h, True, len(data))
        else:
            data = self._completion("".join(self.fault.pieces))
            self._headers(h, False, len(data))
        h.wfile.write(data)

    def _trickle(self, h, body):
        data = (
            b"".join(self._event(p) for p in self.fault.pieces) + b"data: [DONE]\n\n"
            if body.get("stream")
            else self._completion("".join(self.fault.pieces))
        )
        self._headers(h, bool(body.get("stream")), len(data))
        for i, _ in zip(range(len(data)), self._bounded_ticks()):
            h.wfile.write(data[i : i + 1])
            h.wfile.flush()

    def _keepalive(self, h, body):
        self._headers(h, True)
        for _ in self._bounded_ticks():
            h.wfile.write(b": keep-alive\n\n")
            h.wfile.flush()

    def _stall(self, h, body):
        self._headers(h, True)
        h.wfile.write(b"".join(self._event(p) for p in self.fault.pieces))
        h.wfile.flush()
        for _ in self._bounded_ticks():
            h.wfile.write(b": keep-alive\n\n")
            h.wfile.flush()

    def _empty(self, h, body):
        self._headers(h, True)
        h.wfile.write(self._role_event())
        h.wfile.flush()
        for _ in self._bounded_ticks():
            h.wfile.write(self._event(""))
            h.wfile.flush()

    @staticmethod
    def _role_event() -> bytes:
        event = {
            "object": "chat.completion.chunk",
            "model": "faulty",
            "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}],
        }
        return f"data: {json.dumps(event)}\n\n".encode()

    def _cut(self, h, body):
        if body.get("stream"):
            self._headers(h, True)
            h.wfile.write(b"".join(self._event(p) for p in self.fault.pieces))
        else:
            data = self._completion("".join(self.fault.pieces))
            self._headers(h, False, len(data))
            h.wfile.write(data[: len(data) // 2])
        h.wfile.flush()
        h.close_connection = True

    def _echo_key(self, h, body):
        key = (h.headers.get("Authorization") or "").removeprefix("Bearer ")
        altered = {
            "lower": key.lower(),
            "upper": key.upper(),
            "spaced": " ".join(key[i : i + 4] for i in range(0, len(key), 4)),
            "wrapped": f"  {key[: len(key) // 2]}\n{key[len(key) // 2 :]}  ",
        }[self.fault.echo]
        message = f"Invalid key {altered}; did you mean {key[2:12]}...{key.upper()[-9:]}?"
        data = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
        self._headers(h, False, len(data), status=self.fault.status)
        h.wfile.write(data)
