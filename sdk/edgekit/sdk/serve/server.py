"""`edgekit serve`: an OpenAI-compatible HTTP server for the on-device model.

Endpoints: ``POST /v1/chat/completions`` and ``POST /v1/completions`` (plain and SSE streaming),
``GET /v1/models``, ``GET /v1/models/{id}``, ``GET /health`` (200 ready, 503 loading), ``GET /metrics``
(Prometheus text); with ``web_root`` also the phone web demo's app shell at ``/``, the bundle's files at
``/bundle/<path>`` and the policy at ``/policy.json``.

Why the stdlib server and not uvicorn/starlette: the failures that mattered (a generation running on for a
client that left, no reply to bad bodies, an abort on Ctrl-C) were in our own handling and needed fixing under
any server; the ones that belong to the server (threads per connection, no timeouts) take a fixed worker pool
and socket timeouts (pool.py); and uvicorn's ``limit_concurrency`` answers 503 in plain text, not the OpenAI
JSON error clients parse. The base install keeps no server dependency.

Concurrency: ``workers`` threads serve connections; generations take one of ``parallel`` slots (1: the
device's cores are all one generation can use); a request waiting for a slot, or generating, stops as soon
as its client hangs up or the server stops (handler.py ``_Watch``). Binds to 127.0.0.1 unless told
otherwise; Host/Origin checks in security.py. With ``api_key`` set, everything except ``/health`` and the web
app shell needs ``Authorization: Bearer <key>`` (compared in constant time).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import HTTPServer
from pathlib import Path
from typing import Any

from .handler import Handler
from .metrics import ServerMetrics
from .pool import BoundedPoolMixin
from .security import OriginPolicy

__all__ = ["ServeOptions", "EdgekitServer", "serve_in_thread", "model_id_for"]

log = logging.getLogger("edgekit.sdk.serve")


def model_id_for(model: Any, bundle_dir: Path | None = None) -> str:
    """The id clients pass as ``model``: the manifest's model name, else the bundle folder name."""
    manifest = getattr(model, "manifest", model)
    info = getattr(manifest, "model", None) if manifest is not None else None
    name = info.get("name") if isinstance(info, dict) else getattr(info, "name", None)  # dict or ModelInfo
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
    allowed_origins: tuple[str, ...] = ()  # --allow-origin: more origins (and their host names) than loopback
    workers: int = 8  # connection threads; idle ones cost a thread each until idle_timeout
    queue_size: int = 16  # accepted connections waiting for a worker; beyond it: 503
    idle_timeout: float = 15.0  # seconds a socket may stay silent (request line, headers, body, a stalled reader)
    parallel: int = 1  # generations at once (each has its own KV cache; they share the cores)
    tool_examples: Any = None  # a ToolExamples pool shown to every request with tools (--tool-examples)

    def __post_init__(self) -> None:
        for name in ("workers", "queue_size", "parallel"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ServeOptions.{name}={value!r}: use an integer >= 1")
        if not self.idle_timeout > 0:
            raise ValueError(f"ServeOptions.idle_timeout={self.idle_timeout!r}: use a positive number of seconds")


class EdgekitServer(BoundedPoolMixin, HTTPServer):
    allow_reuse_address = True
    request_queue_size = 64  # listen() backlog; the worker queue above bounds what is actually held

    def __init__(
        self, model: Any, host: str = "127.0.0.1", port: int = 8080, *, options: ServeOptions, manifest: Any = None
    ):
        self.model = None
        self.hybrid: Any = None  # a HybridClient over the model (--cloud-url): chat answers go through its policy
        self.manifest = manifest if manifest is not None else getattr(model, "manifest", None)
        self.options = options
        self.origin_policy = OriginPolicy(tuple(options.allowed_origins))
        self.metrics = ServerMetrics()
        self.created = int(time.time())
        self.generating = 0
        self._slots = threading.Semaphore(options.parallel)
        self._count_lock = threading.Lock()
        super().__init__((host, port), Handler, bind_and_activate=True)
        self.start_pool(options.workers, options.queue_size)
        if model is not None:
            self.set_model(model)

    def serve_forever(self, poll_interval: float = 0.2) -> None:
        self._serving = True
        super().serve_forever(poll_interval)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn, a reverse-DNS lookup that can stall for seconds offline
        super(HTTPServer, self).server_bind()
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), port

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        assert isinstance(host, str)  # an AF_INET/AF_INET6 server address (bytes only for AF_UNIX)
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}"

    @property
    def ready(self) -> bool:
        return self.model is not None

    def set_model(self, model: Any, hybrid: Any = None) -> None:
        """The model is loaded: /health turns 200 and /v1 answers. ``hybrid``: a ``HybridClient`` over ``model``
        that answers chat completions (hybrid_route.py); /v1/completions stays local."""
        if self.manifest is None:
            self.manifest = getattr(model, "manifest", None)
        self.hybrid = hybrid
        self.model = model

    @contextmanager
    def generation_slot(self, check: Callable[[], None]) -> Iterator[None]:
        """Wait for a free generation slot, calling ``check`` (raises to give up) while waiting."""
        while not self._slots.acquire(timeout=0.1):
            check()
        try:
            with self._count_lock:
                self.generating += 1
            yield
        finally:
            with self._count_lock:
                self.generating -= 1
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver prints a traceback for any error; a client that left is an info line, a bug one log."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            log.info("connection from %s ended: %s", client_address[0] if client_address else "?", exc)
        else:
            log.error("unexpected error on a connection from %s", client_address, exc_info=exc)

    def stop(self, grace: float = 30.0) -> bool:
        """Stop accepting, let in-flight generations cancel (they check between tokens), wait for workers.

        Safe from any thread except one running ``serve_forever``'s loop. True when every worker ended.
        """
        self.stopping.set()
        if getattr(self, "_serving", False):
            self.shutdown()  # blocks until serve_forever's loop ends: only when that loop ever ran
        self.server_close()
        return self.stop_pool(grace)


class serve_in_thread:
    """Run a server on a background thread: ``with serve_in_thread(model, port=0) as server: server.url``.

    Port 0 picks a free port (tests); httpx's own tests use the same pattern (tests/conftest.py, serve_in_thread).
    """

    def __init__(self, model: Any, host: str = "127.0.0.1", port: int = 0, hybrid: Any = None, **options: Any):
        bundle_dir = options.get("bundle_dir")
        model_id = options.pop("model_id", None) or model_id_for(model, bundle_dir)
        self.server = EdgekitServer(None, host, port, options=ServeOptions(model_id=model_id, **options))
        if model is not None:
            self.server.set_model(model, hybrid)
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, name="edgekit-serve", daemon=True
        )

    def __enter__(self) -> EdgekitServer:
        self._thread.start()
        return self.server

    def __exit__(self, *exc: object) -> None:
        self.server.stop(grace=10)
        self._thread.join(timeout=10)
