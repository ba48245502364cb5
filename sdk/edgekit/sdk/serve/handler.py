"""The HTTP request handler of `edgekit serve`: routing, guards, generation that stops when nobody listens.

Every request gets an answer: a JSON body (success or an OpenAI-shaped error), an SSE stream, or a static
file; a client that left gets nothing and costs nothing more (its generation stops at the next token).
Nothing raised here reaches the stdlib's traceback printer.
"""

from __future__ import annotations

import hmac
import json
import logging
import select
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from edgekit.runtime.constraints import ConstraintError
from edgekit.runtime.errors import ContextOverflowError, EdgekitError, RuntimeGenerationError, ToolError

from .hybrid_route import HybridChunks, answer_body, hybrid_options
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .openai_api import (
    FINISH_MAP,
    ApiError,
    chunk_body,
    completion_body,
    error_body,
    new_id,
    parse_chat_request,
    parse_completion_request,
    text_chunk_body,
    text_completion_body,
    tool_call_deltas,
    usage,
)
from .web import app_shell_path, content_type, resolve_bundle_file, resolve_static

if TYPE_CHECKING:
    from .server import EdgekitServer

__all__ = ["Handler", "MAX_BODY"]

log = logging.getLogger("edgekit.sdk.serve")

MAX_BODY = 4 * 1024 * 1024
_POLL_S = 0.1  # how often a request waiting for the generation slot checks that its client is still there
_CORS_PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "600",
}


class _Cancelled(Exception):
    """The generation stopped early; ``reason`` is "client" (it left) or "shutdown"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Watch:
    """Tells between tokens whether the client hung up or the server is stopping.

    A readable socket whose peek returns b"" has reached EOF: the client closed it (HTTP clients do not
    half-close while waiting for a response; uvicorn's ``is_disconnected`` reads the same signal).
    Pipelined bytes of a next request are data, not EOF, and do not cancel.
    """

    def __init__(self, sock: socket.socket, stopping: Any):
        self.sock = sock
        self.stopping = stopping
        self._poll = None
        if hasattr(select, "poll"):
            self._poll = select.poll()
            self._poll.register(sock, select.POLLIN | select.POLLPRI)

    def readable(self) -> bool:
        if self._poll is not None:
            return bool(self._poll.poll(0))
        return bool(select.select([self.sock], [], [], 0)[0])

    def client_gone(self) -> bool:
        try:
            if not self.readable():
                return False
            return self.sock.recv(1, socket.MSG_PEEK | getattr(socket, "MSG_DONTWAIT", 0)) == b""
        except BlockingIOError:
            return False
        except (OSError, ValueError):
            return True

    def check(self) -> None:
        if self.stopping.is_set():
            raise _Cancelled("shutdown")
        if self.client_gone():
            raise _Cancelled("client")


class _Never:
    @staticmethod
    def is_set() -> bool:
        return False


_NEVER = _Never()


def _generation_error(exc: EdgekitError) -> ApiError:
    if isinstance(exc, ToolError):  # a message's tool_calls, or tools combined with response_format
        field = "response_format" if exc.field == "constraint" else exc.field
        return ApiError(400, str(exc), param=field, code="invalid_value")
    if isinstance(exc, ConstraintError):  # only response_format makes a constraint: llguidance refused its schema
        return ApiError(400, f"response_format is invalid: {exc.detail}", param="response_format", code="invalid_value")
    if isinstance(exc, ContextOverflowError):
        return ApiError(400, str(exc), param="messages", code="context_length_exceeded")
    if isinstance(exc, RuntimeGenerationError):
        # a SamplingOptionError names its option, which is also the request field (logit_bias ids outside the
        # vocabulary are only known to the runtime)
        return ApiError(400, str(exc), param=getattr(exc, "option", None), code="invalid_value")
    return ApiError(500, f"local model failed: {exc}", type_="server_error")


_SHUTDOWN = ApiError(
    503, "the server is shutting down; retry on another instance or later", "server_error", code="server_shutting_down"
)


class Handler(BaseHTTPRequestHandler):
    server: EdgekitServer
    server_version = "edgekit-serve"
    error_content_type = "application/json"
    # a request line without a version is HTTP/0.9 to the stdlib, which then writes no status line at all;
    # answer every client with a status line and headers
    default_request_version = "HTTP/1.0"
    _status: int | None  # the status code sent for this request (None until send_response)

    # -- stdlib hooks ---------------------------------------------------------------------------
    def setup(self) -> None:
        # typeshed declares timeout a ClassVar; StreamRequestHandler.setup reads self.timeout: an instance value works.
        self.timeout = self.server.options.idle_timeout  # type: ignore[misc]
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # never print; access lines go to logging (headers, hence keys, are never logged)
        log.info("%s %s", self.address_string(), format % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's own errors (bad request line, header too long, unknown method) in the OpenAI shape."""
        try:
            reason = HTTPStatus(code).phrase
        except ValueError:
            reason = "error"
        self.log_error("code %d, message %s", code, message)
        self.close_connection = True
        text = f"{message or reason}" + (f": {explain}" if explain else "")
        self._send_json(code, error_body(text, "invalid_request_error" if code < 500 else "server_error"), cors=False)

    def handle_one_request(self) -> None:
        """The stdlib's loop body, plus: a request whose head stalls past the timeout gets a 408, not silence."""
        self._headers_done = False
        self.raw_requestline = b""
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline = self.request_version = self.command = ""
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            method = getattr(self, "do_" + self.command, None)
            if method is None:
                self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"unsupported method {self.command!r}")
                return
            method()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True
            if self.raw_requestline and not self._headers_done:
                self.send_error(HTTPStatus.REQUEST_TIMEOUT, "the request head did not arrive in time")

    def finish(self) -> None:
        """Before closing, read what the client still sends (an unread body) for a moment: closing a socket with
        unread input makes the kernel send RST, and the client may lose the error reply it has not read yet
        (Apache's "lingering close")."""
        try:
            super().finish()
            if self.close_connection and _Watch(self.connection, _NEVER).readable():
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(0.2)
                deadline, seen = time.monotonic() + 1.0, 0
                while time.monotonic() < deadline and seen < (1 << 20):
                    data = self.connection.recv(65536)
                    if not data:
                        break
                    seen += len(data)
        except (OSError, ValueError):
            pass

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status = code
        super().send_response(code, message)

    # -- dispatch ---------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    def _dispatch(self, verb: str) -> None:
        self._status = None
        self._headers_done = False
        self._origin_ok = False
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        label = "other"
        try:
            self._guard()
            route = _ROUTES.get((verb if verb != "HEAD" else "GET", path))
            if route is None and path.startswith("/v1/models/") and verb in ("GET", "HEAD"):
                route = Handler._model_card_route
            if route is not None:
                label = path if route is not Handler._model_card_route else "/v1/models/{id}"
                route(self, path)
            elif verb == "OPTIONS":
                label = "preflight"
                self._preflight()
            elif path.startswith("/v1/") or path in _PATHS:
                raise ApiError(
                    405 if path in _PATHS else 404,
                    f"{verb} {path}: " + ("method not allowed" if path in _PATHS else "unknown endpoint"),
                    code="method_not_allowed" if path in _PATHS else "unknown_url",
                )
            elif verb in ("GET", "HEAD"):
                label = "static"
                self._static(path)
            else:
                raise ApiError(404, f"unknown endpoint {verb} {path}", code="unknown_url")
        except ApiError as exc:
            self.close_connection = True  # the body may be unread; never parse it as the next request
            self._send_error(exc)
        except _Cancelled as exc:
            self.close_connection = True
            self.server.metrics.count("cancelled")
            if exc.reason == "shutdown" and not self._headers_done:
                self._send_error(_SHUTDOWN)
            else:
                log.info(
                    "%s %s: %s; generation stopped",
                    self.address_string(),
                    path,
                    "client went away" if exc.reason == "client" else "server shutting down",
                )
        except (BrokenPipeError, ConnectionResetError, TimeoutError) as exc:
            self.close_connection = True
            log.info("%s %s: client went away (%s)", self.address_string(), path, type(exc).__name__)
        except Exception:  # noqa: BLE001 - a bug must cost one request a 500, never the connection silently
            self.close_connection = True
            log.exception("internal error answering %s %s", verb, path)
            if not self._headers_done:
                self._send_error(
                    ApiError(500, "internal server error; see the server log", "server_error", code="internal_error")
                )
        finally:
            if self._status is not None:
                self.server.metrics.request(label, self._status)

    # -- plumbing ---------------------------------------------------------------------------------
    def _end_headers(self, cors: bool = True) -> None:
        if cors and self._origin_ok:
            self.send_header("Access-Control-Allow-Origin", self.headers["Origin"])
            self.send_header("Vary", "Origin")
        self.end_headers()
        self._headers_done = True

    def _send_bytes(
        self, status: int, data: bytes, ctype: str, cors: bool = True, extra: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            if self.close_connection:
                self.send_header("Connection", "close")
            self._end_headers(cors)
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
            log.info("%s: client went away before the reply was sent", self.address_string())

    def _send_json(self, status: int, body: dict[str, Any], cors: bool = True) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8", "replace")
        self._send_bytes(status, data, "application/json", cors)

    def _send_error(self, exc: ApiError) -> None:
        self._send_json(exc.status, exc.body())

    def _guard(self) -> None:
        """Host (DNS rebinding) and Origin (cross-site) checks, before any route runs."""
        policy = self.server.origin_policy
        host = self.headers.get("Host")
        if not policy.host_allowed(host):
            raise ApiError(
                403,
                f"Host {host!r} is not served here (DNS rebinding guard); use the address the "
                "server listens on, localhost, or start it with --allow-origin for that name",
                "invalid_request_error",
                code="host_not_allowed",
            )
        origin = self.headers.get("Origin")
        if not policy.origin_allowed(origin, host):
            raise ApiError(
                403,
                f"Origin {origin!r} may not call this server; start it with --allow-origin {origin} to allow that page",
                code="origin_not_allowed",
            )
        self._origin_ok = origin is not None

    def _authorized(self) -> bool:
        key = self.server.options.api_key
        if not key:
            return True
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())

    def _check_auth(self) -> None:
        if not self._authorized():
            raise ApiError(
                401, "missing or incorrect API key: send Authorization: Bearer <key>", code="invalid_api_key"
            )

    def _model(self) -> Any:
        model = self.server.model
        if model is None:
            raise ApiError(
                503,
                "the model is still loading; retry shortly (GET /health says when it is ready)",
                "server_error",
                code="model_loading",
            )
        return model

    def _read_json(self) -> Any:
        if self.headers.get("Transfer-Encoding", "").lower() not in ("", "identity"):
            raise ApiError(411, "chunked request bodies are not supported; send Content-Length", code="length_required")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise ApiError(400, "bad Content-Length header") from None
        if length <= 0:
            raise ApiError(400, "request body is empty; send a JSON request")
        if length > MAX_BODY:
            raise ApiError(413, f"request body of {length} bytes exceeds {MAX_BODY}", code="request_too_large")
        try:
            raw = self.rfile.read(length)
        except TimeoutError:
            raise ApiError(
                408,
                f"the request body ({length} bytes by Content-Length) did not arrive in time",
                code="request_timeout",
            ) from None
        if len(raw) < length:
            raise ConnectionResetError("request body ended early")
        try:
            data = json.loads(raw)
        except RecursionError:
            raise ApiError(400, "request body is nested too deeply to parse; send a flat JSON object") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"request body is not valid JSON ({exc})") from None
        try:  # a lone UTF-16 surrogate ("\ud83d") parses but is not text: no tokenizer can encode it
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start : exc.end].encode("unicode_escape").decode()
            raise ApiError(
                400,
                f"request body contains a lone UTF-16 surrogate ({bad}), which is not valid "
                "Unicode text; send complete surrogate pairs or UTF-8",
                code="invalid_value",
            ) from None
        except RecursionError:
            raise ApiError(400, "request body is nested too deeply; send a flat JSON object") from None
        return data

    # -- routes -----------------------------------------------------------------------------------
    def _health(self, path: str) -> None:
        if self.server.model is None:
            self._send_json(503, {"status": "loading", "model": self.server.options.model_id})
        else:
            self._send_json(200, {"status": "ok", "model": self.server.options.model_id})

    def _metrics(self, path: str) -> None:
        self._check_auth()
        backend = getattr(self.server.model, "backend", None)
        calls = getattr(backend, "calls", None)  # a DecodeBatcher (--parallel N) counts its calls by batch size
        text = self.server.metrics.render(self.server.generating, self.server.queued(), calls)
        self._send_bytes(200, text.encode(), METRICS_CONTENT_TYPE)

    def _models(self, path: str) -> None:
        self._check_auth()
        self._send_json(200, {"object": "list", "data": [self._card()]})

    def _model_card_route(self, path: str) -> None:
        self._check_auth()
        wanted = path[len("/v1/models/") :]
        if wanted != self.server.options.model_id:
            raise ApiError(404, f"the model {wanted!r} does not exist on this server", code="model_not_found")
        self._send_json(200, self._card())

    def _card(self) -> dict[str, Any]:
        return {
            "id": self.server.options.model_id,
            "object": "model",
            "created": self.server.created,
            "owned_by": "edgekit",
        }

    def _preflight(self) -> None:
        self.send_response(204)
        if self._origin_ok:
            for k, v in _CORS_PREFLIGHT.items():
                self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self._end_headers()

    def _chat(self, path: str) -> None:
        self._check_auth()
        model = self._model()
        request = parse_chat_request(self._read_json(), self.server.options.model_id)
        if self.server.options.tool_examples is not None and request.options.get("tools"):
            request.options["tool_examples"] = self.server.options.tool_examples  # the runtime picks per request
        if self.server.hybrid is not None:
            self._hybrid(request)
            return
        self._generate(model, request, _ChatShape(request), request.messages, {})

    def _completions(self, path: str) -> None:
        self._check_auth()
        model = self._model()
        request = parse_completion_request(self._read_json(), self.server.options.model_id)
        self._generate(model, request, _TextShape(request), request.prompt, {"chat": False})

    # -- generation -------------------------------------------------------------------------------
    def _generate(self, model: Any, request: Any, shape: _Shape, source: Any, extra: dict[str, Any]) -> None:
        watch = _Watch(self.connection, self.server.stopping)
        self.server.mark_generating(self.connection, True)
        try:
            with self.server.generation_slot(watch.check):
                started = time.perf_counter()
                pieces = self._start(model, source, {**request.options, **extra}, watch)
                try:
                    if request.stream:
                        result = self._stream(shape, pieces, watch)
                    else:
                        result = self._collect(pieces, watch)
                        self._send_json(200, shape.complete(result))
                finally:
                    pieces.close()
        finally:
            self.server.mark_generating(self.connection, False)
        if result is not None:
            self.server.metrics.generation(
                result.prompt_tokens, len(result.token_ids), time.perf_counter() - started, result.context_overflow
            )

    def _hybrid(self, request: Any) -> None:
        """The hybrid flow (hybrid_route.py): local first, the cloud when the policy says so."""
        if request.logprobs:
            raise ApiError(
                400,
                "logprobs is not available from a server that escalates to a cloud (--cloud-url): a cloud answer "
                "has no local token probabilities; omit logprobs, or serve without --cloud-url",
                param="logprobs",
                code="unsupported_parameter",
            )
        hybrid = self.server.hybrid
        assert hybrid is not None  # the caller checked
        watch = _Watch(self.connection, self.server.stopping)
        self.server.mark_generating(self.connection, True)
        answer = None
        try:
            with self.server.generation_slot(watch.check):
                started = time.perf_counter()
                options = hybrid_options(request)
                pieces = self._primed(lambda messages: hybrid.stream(messages, **options), request.messages)
                try:
                    if request.stream:
                        answer = self._hybrid_stream(request, pieces, watch)
                    else:
                        answer = self._collect_answer(pieces, watch)
                        self._send_json(200, answer_body(request, new_id(), answer))
                finally:
                    pieces.close()  # closes the local stream too: its KV cache goes back to the pool
        finally:
            self.server.mark_generating(self.connection, False)
        if answer is not None:
            cost = answer.cost
            self.server.metrics.generation(
                cost.local_prompt_tokens, cost.local_completion_tokens, time.perf_counter() - started, False
            )
            self.server.metrics.hybrid_answer(answer.route.value)

    @staticmethod
    def _primed(flow: Callable[[Any], Iterator[Any]], source: Any) -> _Pieces:
        """``flow(source)`` primed with its first item: bad options and overflow raise here, before any byte."""
        try:
            return _Pieces(flow(source))
        except RuntimeGenerationError as exc:
            if not _tool_turns(source) or "chat template" not in str(exc):
                raise _generation_error(exc) from None
        except EdgekitError as exc:
            raise _generation_error(exc) from None
        try:  # the bundle's template refuses "tool" turns: render them the generic way instead
            return _Pieces(flow(_generic_tool_turns(source)))
        except EdgekitError as exc:
            raise _generation_error(exc) from None

    @staticmethod
    def _collect_answer(pieces: _Pieces, watch: _Watch) -> Any:
        for event in pieces:
            if event.answer is not None:
                return event.answer
            watch.check()
        raise RuntimeError("the hybrid flow ended without an answer")

    def _hybrid_stream(self, request: Any, pieces: _Pieces, watch: _Watch) -> Any:
        chunks = HybridChunks(request, new_id(), int(time.time()))
        with self._sse():
            self._event(chunks.first())
            for event in pieces:
                for body in chunks.feed(event):
                    self._event(body)
                if chunks.answer is not None:
                    break
                watch.check()
            if chunks.answer is None:
                raise RuntimeError("the hybrid flow ended without an answer")
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        return chunks.answer

    @contextmanager
    def _sse(self) -> Iterator[None]:
        """An SSE response: the headers, then the body the block writes; an error after the headers is reported
        in-band (as OpenAI does) and the stream ends without [DONE]."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self._end_headers()
        self.close_connection = True
        try:
            yield
        except EdgekitError as exc:
            self._event(_generation_error(exc).body())
        except _Cancelled as exc:
            if exc.reason == "shutdown":
                self._event(_SHUTDOWN.body())
            raise
        except (BrokenPipeError, ConnectionResetError, TimeoutError):  # a write found the client gone
            raise _Cancelled("client") from None

    def _start(self, model: Any, source: Any, options: dict[str, Any], watch: _Watch) -> _Pieces:
        """The stream, primed with its first piece: bad options and overflow raise here, before any byte."""
        return self._primed(lambda prompt: model.stream(prompt, **options), source)

    def _collect(self, pieces: _Pieces, watch: _Watch) -> Any:
        for piece in pieces:
            if piece.result is not None:
                return piece.result
            watch.check()
        raise RuntimeError("the runtime's stream ended without a result")

    def _stream(self, shape: _Shape, pieces: _Pieces, watch: _Watch) -> Any:
        result = None
        with self._sse():
            self._event(shape.first())
            for piece in pieces:
                if piece.result is not None:
                    result = piece.result
                    break
                event = shape.piece(piece)
                if event is not None:
                    self._event(event)
                watch.check()
            if result is None:
                raise RuntimeError("the runtime's stream ended without a result")
            for event in shape.last(result):
                self._event(event)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        return result

    def _event(self, body: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(body, ensure_ascii=False).encode("utf-8", "replace") + b"\n\n")
        self.wfile.flush()

    # -- static files (--web) ---------------------------------------------------------------------
    def _static(self, path: str) -> None:
        options = self.server.options
        if options.web_root is None:
            raise ApiError(
                404,
                f"nothing at {path}: this server has /v1/chat/completions, /v1/completions, "
                "/v1/models, /health and /metrics (start it with --web for the phone demo)",
                code="unknown_url",
            )
        if path.startswith("/bundle/"):
            self._check_auth()  # the weights: only for holders of the key
            manifest = self.server.manifest
            target = None
            if options.bundle_dir is not None and manifest is not None:
                target = resolve_bundle_file(options.bundle_dir, manifest, path[len("/bundle/") :])
        elif path == "/policy.json" and options.policy_file is not None:
            self._check_auth()
            target = options.policy_file if options.policy_file.is_file() else None
        else:
            # the app shell is public (the browser loads it before it can know a key); anything else is not served
            target = resolve_static(options.web_root, path) if app_shell_path(path) else None
        if target is None:
            raise ApiError(404, f"no such file: {path}", code="not_found")
        size = target.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", content_type(target))
        self.send_header("Content-Length", str(size))
        self.send_header("Cache-Control", "no-cache")
        self._end_headers()
        if self.command == "HEAD":
            return
        with open(target, "rb") as handle:
            while block := handle.read(1 << 20):
                if self.server.stopping.is_set():
                    raise _Cancelled("shutdown")
                self.wfile.write(block)


class _Pieces:
    """The runtime's stream with its first piece already taken (so errors surface before headers)."""

    def __init__(self, stream: Iterator[Any]):
        self._it = iter(stream)
        self._first = next(self._it)

    def __iter__(self) -> Iterator[Any]:
        first, self._first = self._first, None
        if first is not None:
            yield first
        yield from self._it

    def close(self) -> None:
        close = getattr(self._it, "close", None)
        if close is not None:
            close()  # GeneratorExit inside the runtime returns its KV cache to the pool


def _tool_turns(source: Any) -> bool:
    return isinstance(source, list) and any(m.get("role") == "tool" for m in source)


def _generic_tool_turns(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For templates without a tool role: a tool result becomes a user turn that says what it is."""
    out = []
    for m in messages:
        if m["role"] == "tool":
            name = m.get("name") or m.get("tool_call_id") or "tool"
            out.append({"role": "user", "content": f"[result of {name}]\n{m['content']}"})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


class _Shape:
    """How one endpoint turns runtime pieces into response bodies."""

    def __init__(self, request: Any):
        self.request = request
        self.cid = new_id(self.prefix)
        self.created = int(time.time())
        self.offset = 0

    prefix = "chatcmpl-"

    def finish(self, result: Any) -> str:
        return FINISH_MAP.get(str(result.finish_reason), "stop")

    def extra(self, result: Any) -> dict[str, Any]:
        return {
            "confidence": result.confidence.to_dict(),
            "finish_reason": str(result.finish_reason),
            "timings": result.timings.to_dict(),
        }

    def usage_event(self, result: Any) -> dict[str, Any] | None:
        return None

    # Each endpoint's shape defines these four.
    def complete(self, result: Any) -> dict[str, Any]:
        raise NotImplementedError

    def first(self) -> dict[str, Any]:
        raise NotImplementedError

    def piece(self, piece: Any) -> dict[str, Any] | None:
        raise NotImplementedError

    def last(self, result: Any) -> list[dict[str, Any]]:
        raise NotImplementedError


class _ChatShape(_Shape):
    def complete(self, result: Any) -> dict[str, Any]:
        return completion_body(
            self.cid,
            self.request.model,
            result.text,
            self.finish(result),
            result.prompt_tokens,
            len(result.token_ids),
            self.extra(result),
            tokens=result.tokens if self.request.logprobs else None,
            tool_calls=[c.to_openai() for c in result.tool_calls],
        )

    def first(self) -> dict[str, Any]:
        return chunk_body(
            self.cid,
            self.request.model,
            self.created,
            {"role": "assistant", "content": ""},
            None,
            tokens=[] if self.request.logprobs else None,
        )

    def piece(self, piece: Any) -> dict[str, Any] | None:
        tokens = [piece.token] if self.request.logprobs and piece.token is not None else None
        if not piece.text and tokens is None:
            return None
        return chunk_body(
            self.cid,
            self.request.model,
            self.created,
            {"content": piece.text},
            None,
            tokens=tokens if self.request.logprobs else None,
        )

    def last(self, result: Any) -> list[dict[str, Any]]:
        events = [
            chunk_body(self.cid, self.request.model, self.created, {"tool_calls": [delta]}, None)
            for delta in tool_call_deltas(result.tool_calls)
        ]
        events.append(chunk_body(self.cid, self.request.model, self.created, {}, self.finish(result)))
        if self.request.include_usage:
            events.append(
                chunk_body(
                    self.cid,
                    self.request.model,
                    self.created,
                    None,
                    None,
                    usage(result.prompt_tokens, len(result.token_ids)),
                )
            )
        return events


class _TextShape(_Shape):
    prefix = "cmpl-"

    def complete(self, result: Any) -> dict[str, Any]:
        return text_completion_body(
            self.cid,
            self.request.model,
            result.text,
            self.finish(result),
            result.prompt_tokens,
            len(result.token_ids),
            self.extra(result),
            tokens=result.tokens if self.request.logprobs else None,
            alternatives=self.request.top_logprobs > 0,
        )

    def first(self) -> dict[str, Any]:
        return text_chunk_body(
            self.cid,
            self.request.model,
            self.created,
            "",
            None,
            tokens=[] if self.request.logprobs else None,
            alternatives=self.request.top_logprobs > 0,
        )

    def piece(self, piece: Any) -> dict[str, Any] | None:
        tokens = [piece.token] if self.request.logprobs and piece.token is not None else None
        if not piece.text and tokens is None:
            return None
        body = text_chunk_body(
            self.cid,
            self.request.model,
            self.created,
            piece.text,
            None,
            tokens=tokens,
            offset=self.offset,
            alternatives=self.request.top_logprobs > 0,
        )
        self.offset += len(piece.token.text) if piece.token is not None else 0
        return body

    def last(self, result: Any) -> list[dict[str, Any]]:
        events = [text_chunk_body(self.cid, self.request.model, self.created, "", self.finish(result))]
        if self.request.include_usage:
            events.append(
                text_chunk_body(
                    self.cid,
                    self.request.model,
                    self.created,
                    None,
                    None,
                    usage(result.prompt_tokens, len(result.token_ids)),
                )
            )
        return events


# (method, path) -> route; HEAD uses the GET route
_ROUTES: dict[tuple[str, str], Callable[[Handler, str], None]] = {
    ("GET", "/health"): Handler._health,
    ("GET", "/metrics"): Handler._metrics,
    ("GET", "/v1/models"): Handler._models,
    ("POST", "/v1/chat/completions"): Handler._chat,
    ("POST", "/v1/completions"): Handler._completions,
}
_PATHS = frozenset(path for _, path in _ROUTES)
