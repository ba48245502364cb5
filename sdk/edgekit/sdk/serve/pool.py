"""A TCP server with a fixed pool of worker threads and a bounded queue of accepted connections.

The stdlib ``ThreadingMixIn`` starts one thread per connection, unbounded: 300 idle sockets made 304 threads.
Here ``workers`` threads serve connections from a queue of at most ``queue_size``; when both are full the
acceptor answers ``503`` with an OpenAI-shaped JSON error itself (a few bytes, never blocking it) and closes.
Each connection's socket gets ``idle_timeout`` (``BaseHTTPRequestHandler.timeout``), so a client that connects
and sends nothing frees its worker after that long.

``stop()`` refuses what is still queued, wakes workers blocked on idle connections (``shutdown(SHUT_RDWR)``
on their sockets, which makes a blocked ``recv`` return), and joins the workers.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

__all__ = ["BoundedPoolMixin", "busy_response"]

log = logging.getLogger("edgekit.sdk.serve")


def busy_response(message: str, status: int = 503, reason: str = "Service Unavailable") -> bytes:
    body = json.dumps(
        {"error": {"message": message, "type": "server_error", "param": None, "code": "server_busy"}}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Retry-After: 1\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class BoundedPoolMixin:
    """Mix in before ``socketserver.TCPServer``; call ``start_pool(workers, queue_size)`` before serving."""

    if TYPE_CHECKING:
        # Provided by socketserver.BaseServer, which this class is mixed in before.
        def finish_request(self, request: Any, client_address: Any) -> None: ...

        def handle_error(self, request: Any, client_address: Any) -> None: ...

        def shutdown_request(self, request: Any) -> None: ...

    def start_pool(self, workers: int, queue_size: int) -> None:
        if workers < 1 or queue_size < 1:
            raise ValueError(f"workers={workers} and queue_size={queue_size} must both be >= 1")
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.stopping = threading.Event()
        self._active: dict[int, socket.socket] = {}  # worker ident -> the connection it serves
        self._active_lock = threading.Lock()
        self._busy_sockets: set[int] = set()  # fds of connections running a generation (never cut on stop)
        self._workers = [
            threading.Thread(target=self._work, name=f"edgekit-serve-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._workers:
            thread.start()

    # -- socketserver hooks ---------------------------------------------------------------------
    # request: Any as in socketserver.BaseServer (socket or datagram); a TCPServer's is a socket.socket.
    def process_request(self, request: Any, client_address: Any) -> None:
        if self.stopping.is_set():
            self._refuse(request, "the server is shutting down")
            return
        try:
            self._queue.put_nowait((request, client_address))
        except queue.Full:
            self._refuse(request, "all workers are busy and the queue is full; retry shortly")

    def _refuse(self, request: socket.socket, message: str) -> None:
        metrics = getattr(self, "metrics", None)
        if metrics is not None:
            metrics.count("rejected_busy")
        try:
            request.settimeout(0.5)
            try:  # read what already arrived, so close() does not reset the connection before the reply is read
                request.setblocking(False)
                request.recv(65536)
            except OSError:
                pass
            request.settimeout(0.5)
            request.sendall(busy_response(message))
            request.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            request.close()

    def _work(self) -> None:
        me = threading.get_ident()
        while True:
            item = self._queue.get()
            if item is None:
                return
            request, client_address = item
            with self._active_lock:
                self._active[me] = request
            try:
                self.finish_request(request, client_address)
            except Exception:  # noqa: BLE001 - a connection's failure must never kill a worker
                self.handle_error(request, client_address)
            finally:
                with self._active_lock:
                    self._active.pop(me, None)
                self.shutdown_request(request)

    def queued(self) -> int:
        return self._queue.qsize()

    def mark_generating(self, request: socket.socket, on: bool) -> None:
        with self._active_lock:
            (self._busy_sockets.add if on else self._busy_sockets.discard)(request.fileno())

    def stop_pool(self, grace: float) -> bool:
        """Refuse queued connections, cut idle ones, wait up to ``grace`` s for workers; True if all ended."""
        self.stopping.set()
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self._refuse(item[0], "the server is shutting down")
        with self._active_lock:
            for sock in self._active.values():
                if sock.fileno() not in self._busy_sockets:  # a generation finishes or cancels by itself
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        for _ in self._workers:
            self._queue.put(None)
        deadline = time.monotonic() + grace
        for thread in self._workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._workers if t.is_alive()]
        if alive:
            log.warning("%d worker(s) still running after %.0f s: %s", len(alive), grace, ", ".join(alive))
        return not alive
