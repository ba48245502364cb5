"""`edgekit serve`: an OpenAI-compatible HTTP server for the on-device model.

Endpoints: ``POST /v1/chat/completions`` (plain and SSE streaming),
``GET /v1/models``, ``GET /v1/models/{id}``; with ``web_root`` also the phone
web demo at ``/`` and the bundle's files at ``/bundle/<path>``. Stdlib only
(``ThreadingHTTPServer``): the base install has no server dependency. One
generation runs at a time (the model and its KV cache are not shared between
threads); other requests wait for the lock.

Binds to 127.0.0.1 unless told otherwise. With ``api_key`` set, ``/v1/*``
needs ``Authorization: Bearer <key>`` (compared in constant time); static
files stay public, as a browser fetches them without headers.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edgekit.runtime.errors import ContextOverflowError, EdgekitError, RuntimeGenerationError

from .openai_api import (
    FINISH_MAP,
    ApiError,
    chunk_body,
    completion_body,
    new_id,
    parse_chat_request,
    usage,
)
from .web import content_type, resolve_bundle_file, resolve_static

__all__ = ["ServeOptions", "EdgekitServer", "serve_in_thread", "model_id_for"]

log = logging.getLogger("edgekit.sdk.serve")

MAX_BODY = 4 * 1024 * 1024
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "600",
}


def model_id_for(model: Any, bundle_dir: Path | None = None) -> str:
    """The id clients pass as ``model``: the manifest's model name, else the bundle folder name."""
    manifest = getattr(model, "manifest", None)
    name = (getattr(manifest, "model", None) or {}).get("name") if manifest is not None else None
    if not name and bundle_dir is not None:
        name = Path(bundle_dir).name
    return str(name or "edgekit-local")


@dataclass
class ServeOptions:
    model_id: str
    api_key: str | None = None
    web_root: Path | None = None
    bundle_dir: Path | None = None
    policy_file: Path | None = None  # served at /policy.json: the escalation policy the web demo runs (android_demo)


class EdgekitServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, model: Any, host: str = "127.0.0.1", port: int = 8080, *, options: ServeOptions):
        self.model = model
        self.options = options
        self.generate_lock = threading.Lock()
        self.created = int(time.time())
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: EdgekitServer
    server_version = "edgekit-serve"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # never print; access lines go to logging (headers, hence keys, are never logged)
        log.info("%s %s", self.address_string(), format % args)

    # -- plumbing -------------------------------------------------------------
    def _send_json(self, status: int, body: dict[str, Any], cors: bool = True) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if cors:
            for k, v in _CORS.items():
                self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_error(self, exc: ApiError) -> None:
        self._send_json(exc.status, exc.body())

    def _authorized(self) -> bool:
        key = self.server.options.api_key
        if not key:
            return True
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())

    def _path(self) -> str:
        return urlsplit(self.path).path

    # -- verbs --------------------------------------------------------------------
    def do_OPTIONS(self) -> None:  # CORS preflight
        self.send_response(204)
        for k, v in _CORS.items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        path = self._path()
        try:
            if path.startswith("/v1/"):
                self._check_auth()
                if path == "/v1/models":
                    return self._send_json(200, {"object": "list", "data": [self._model_card()]})
                if path.startswith("/v1/models/"):
                    if path[len("/v1/models/") :] == self.server.options.model_id:
                        return self._send_json(200, self._model_card())
                    raise ApiError(
                        404,
                        f"the model {path[len('/v1/models/') :]!r} does not exist on this server",
                        code="model_not_found",
                    )
                if path == "/v1/chat/completions":
                    raise ApiError(405, "use POST for /v1/chat/completions", code="method_not_allowed")
                raise ApiError(404, f"unknown endpoint {path}", code="unknown_url")
            self._static(path)
        except ApiError as exc:
            self._send_error(exc)

    do_HEAD = do_GET

    def do_POST(self) -> None:
        path = self._path()
        try:
            if path != "/v1/chat/completions":
                raise ApiError(404, f"unknown endpoint POST {path}", code="unknown_url")
            self._check_auth()
            request = parse_chat_request(self._read_json(), self.server.options.model_id)
            if request.stream:
                self._stream(request)
            else:
                self._complete(request)
        except ApiError as exc:
            self._send_error(exc)

    # -- handlers -------------------------------------------------------------------
    def _check_auth(self) -> None:
        if not self._authorized():
            raise ApiError(
                401, "missing or incorrect API key: send Authorization: Bearer <key>", code="invalid_api_key"
            )

    def _model_card(self) -> dict[str, Any]:
        return {
            "id": self.server.options.model_id,
            "object": "model",
            "created": self.server.created,
            "owned_by": "edgekit",
        }

    def _read_json(self) -> Any:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise ApiError(400, "bad Content-Length header") from None
        if length <= 0:
            raise ApiError(400, "request body is empty; send a JSON chat-completions request")
        if length > MAX_BODY:
            raise ApiError(413, f"request body of {length} bytes exceeds {MAX_BODY}", code="request_too_large")
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"request body is not valid JSON ({exc})") from None

    def _generation_error(self, exc: EdgekitError) -> ApiError:
        if isinstance(exc, ContextOverflowError):
            return ApiError(400, str(exc), param="messages", code="context_length_exceeded")
        if isinstance(exc, RuntimeGenerationError):
            return ApiError(400, str(exc), code="invalid_value")
        return ApiError(500, f"local model failed: {exc}", type_="server_error")

    def _complete(self, request) -> None:
        with self.server.generate_lock:
            try:
                result = self.server.model.generate(request.messages, **request.options)
            except EdgekitError as exc:
                raise self._generation_error(exc) from None
        extra = {
            "confidence": result.confidence.to_dict(),
            "finish_reason": str(result.finish_reason),
            "timings": result.timings.to_dict(),
        }
        body = completion_body(
            new_id(),
            request.model,
            result.text,
            FINISH_MAP.get(str(result.finish_reason), "stop"),
            result.prompt_tokens,
            len(result.token_ids),
            extra,
        )
        self._send_json(200, body)

    def _stream(self, request) -> None:
        cid, created, model = new_id(), int(time.time()), request.model
        with self.server.generate_lock:
            try:
                pieces: Iterator[Any] = iter(self.server.model.stream(request.messages, **request.options))
                first = next(pieces, None)
            except EdgekitError as exc:  # bad options or overflow fail before any byte: a normal JSON error
                raise self._generation_error(exc) from None
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            for k, v in _CORS.items():
                self.send_header(k, v)
            self.end_headers()
            self.close_connection = True
            try:
                self._event(chunk_body(cid, model, created, {"role": "assistant", "content": ""}, None))
                result = None
                piece = first
                while piece is not None:
                    if getattr(piece, "result", None) is not None:
                        result = piece.result
                    if piece.text:
                        self._event(chunk_body(cid, model, created, {"content": piece.text}, None))
                    piece = next(pieces, None)
                finish = FINISH_MAP.get(str(result.finish_reason), "stop") if result is not None else "stop"
                self._event(chunk_body(cid, model, created, {}, finish))
                if request.include_usage and result is not None:
                    self._event(
                        chunk_body(cid, model, created, None, None, usage(result.prompt_tokens, len(result.token_ids)))
                    )
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except EdgekitError as exc:
                # headers are out: report in-band as OpenAI does, then end without [DONE]
                err = self._generation_error(exc)
                self._event(err.body())
            except (BrokenPipeError, ConnectionResetError):
                log.info("client went away mid-stream")
            finally:
                close = getattr(pieces, "close", None)
                if close is not None:
                    close()

    def _event(self, body: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(body, ensure_ascii=False).encode("utf-8") + b"\n\n")
        self.wfile.flush()

    def _static(self, path: str) -> None:
        options = self.server.options
        if options.web_root is None:
            raise ApiError(
                404,
                f"nothing at {path}: this server has /v1/chat/completions and /v1/models "
                "(start it with --web for the phone demo)",
                code="unknown_url",
            )
        if path.startswith("/bundle/"):
            target = None
            if options.bundle_dir is not None and getattr(self.server.model, "manifest", None) is not None:
                target = resolve_bundle_file(options.bundle_dir, self.server.model.manifest, path[len("/bundle/") :])
        elif path == "/policy.json" and options.policy_file is not None:
            target = options.policy_file if options.policy_file.is_file() else None
        else:
            target = resolve_static(options.web_root, path)
        if target is None:
            raise ApiError(404, f"no such file: {path}", code="not_found")
        size = target.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", content_type(target))
        self.send_header("Content-Length", str(size))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            with open(target, "rb") as handle:
                while block := handle.read(1 << 20):
                    self.wfile.write(block)
        except (BrokenPipeError, ConnectionResetError):
            log.info("client went away while downloading %s", path)


class serve_in_thread:
    """Run a server on a background thread: ``with serve_in_thread(model, port=0) as server: server.url``.

    Port 0 picks a free port (tests); httpx's own tests use the same pattern (tests/conftest.py, serve_in_thread).
    """

    def __init__(self, model: Any, host: str = "127.0.0.1", port: int = 0, **options: Any):
        bundle_dir = options.get("bundle_dir")
        model_id = options.pop("model_id", None) or model_id_for(model, bundle_dir)
        self.server = EdgekitServer(model, host, port, options=ServeOptions(model_id=model_id, **options))
        self._thread = threading.Thread(target=self.server.serve_forever, name="edgekit-serve", daemon=True)

    def __enter__(self) -> EdgekitServer:
        self._thread.start()
        return self.server

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)
