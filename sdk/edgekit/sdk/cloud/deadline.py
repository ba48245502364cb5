"""A wall-clock deadline for one cloud call, across retries and every read of the answer.

httpx's timeouts are per operation: ``read=60`` bounds each wait for the next
bytes, so a cloud that trickles one byte every 5 s, or keeps an SSE stream
alive with ``: keep-alive`` comments and no content, is never timed out (httpx
has no total timeout; encode/httpx#1450 discusses adding one, and its docs say
the timeouts are "network" timeouts). Python's sync sockets cannot be
cancelled from outside either.

So the blocking I/O of a call runs on a short-lived daemon thread (``Pump``)
that hands what it reads to the caller through a queue; the caller waits on the
queue for at most the time left. At the deadline the caller stops waiting at
once and raises ``CloudDeadlineError`` (the hybrid client then answers
locally), and the worker is told to stop: its socket is shut down
(``socket.shutdown`` wakes a blocked ``recv``; httpx exposes the socket through
the ``network_stream`` response extension and the ``connection.connect_tcp``
trace event), so it does not keep reading a dead answer.
"""

from __future__ import annotations

import math
import queue
import socket
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from edgekit.runtime.errors import CloudTimeoutError

__all__ = ["CloudDeadlineError", "Deadline", "Pump", "Cancelled"]


class CloudDeadlineError(CloudTimeoutError):
    """The whole cloud call (retries and reads included) ran past its deadline."""


class Cancelled(Exception):
    """Raised inside a Pump's worker when the caller stopped waiting (deadline, or the stream was closed)."""


class Deadline:
    """``seconds`` from now; ``None`` or ``inf`` = no deadline."""

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic):
        self.seconds = None if seconds is None or math.isinf(seconds) else float(seconds)
        self.clock = clock
        self.started = clock()

    def remaining(self) -> float | None:
        if self.seconds is None:
            return None
        return self.seconds - (self.clock() - self.started)

    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def error(self, detail: str = "") -> CloudDeadlineError:
        return CloudDeadlineError(f"cloud deadline exceeded after {self.seconds:g} s{detail}")


class _Raised:
    def __init__(self, exc: BaseException):
        self.exc = exc


_END = object()


def _shutdown(stream: Any) -> None:
    """Wake a read blocked on ``stream`` (an httpcore network stream) by shutting its socket down."""
    try:
        sock = stream.get_extra_info("socket")
    except Exception:  # noqa: BLE001 - a stream without that info (a mock transport): nothing to wake
        return
    if isinstance(sock, socket.socket):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


class Pump:
    """Runs ``work(pump)`` on a daemon thread; iterate the pump for what it ``put``s, within the deadline.

    The worker calls ``pump.put(item)`` for each item and ``pump.watch(stream)``
    with the network stream it reads from; an exception in the worker is
    re-raised in the caller. When the deadline passes (or ``cancel()`` is
    called) the caller gets ``CloudDeadlineError`` at once and the worker's
    socket is shut down; its next ``put`` raises ``Cancelled``.
    """

    def __init__(self, work: Callable[[Pump], None], deadline: Deadline, name: str = "edgekit-cloud"):
        self.deadline = deadline
        self.cancelled = threading.Event()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._streams: list[Any] = []
        self._thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self._thread.start()

    # -- worker side --------------------------------------------------------------------
    def put(self, item: Any) -> None:
        if self.cancelled.is_set():
            raise Cancelled()
        self._queue.put(item)

    def watch(self, stream: Any) -> None:
        """Register a network stream to shut down on cancel (called from the worker)."""
        if stream is None:
            return
        with self._lock:
            self._streams.append(stream)
            cancelled = self.cancelled.is_set()
        if cancelled:
            _shutdown(stream)

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """An httpx ``trace`` extension: learns the socket of each new connection as soon as it exists."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self.watch(info.get("return_value"))

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` unless cancelled first; True when the wait ran to its end."""
        return not self.cancelled.wait(seconds)

    def _run(self, work: Callable[[Pump], None]) -> None:
        try:
            work(self)
        except Cancelled:
            return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, who decides
            self._queue.put(_Raised(exc))
            return
        self._queue.put(_END)

    # -- caller side --------------------------------------------------------------------
    def cancel(self) -> None:
        with self._lock:
            self.cancelled.set()
            streams = list(self._streams)
        for stream in streams:
            _shutdown(stream)

    def __iter__(self) -> Generator[Any, None, None]:
        finished = False  # the worker ended (normally or with an error): nothing to stop
        try:
            while True:
                left = self.deadline.remaining()
                try:
                    item = self._queue.get(timeout=None if left is None else max(left, 0.0))
                except queue.Empty:
                    raise self.deadline.error() from None
                if item is _END:
                    finished = True
                    return
                if isinstance(item, _Raised):
                    finished = True
                    if self.deadline.expired():  # the worker's error is a consequence of the deadline
                        raise self.deadline.error() from None
                    raise item.exc
                yield item
        finally:
            if not finished:  # deadline, or the caller stopped iterating: stop the worker too
                self.cancel()
