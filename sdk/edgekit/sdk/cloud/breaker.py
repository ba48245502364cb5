"""A circuit breaker for the cloud: stop calling a cloud that keeps failing.

States (Nygard, "Release It!", ch. 5): closed (calls go through; consecutive
failures are counted), open (calls are refused at once for ``cooldown``
seconds, so the device answers locally without waiting for timeouts), half-open
(after the cooldown one trial call is allowed: success closes, failure re-opens).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import Enum

from edgekit.runtime.errors import CircuitOpenError

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """``before_call()`` raises CircuitOpenError while open; report outcomes with
    ``record_success()`` / ``record_failure()``. ``failures=0`` disables it."""

    def __init__(self, failures: int = 5, cooldown: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.threshold = failures
        self.cooldown = cooldown
        self.clock = clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state_locked()

    def _state_locked(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - self._opened_at >= self.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def before_call(self) -> None:
        if self.threshold <= 0:
            return
        with self._lock:
            state = self._state_locked()
            if state is BreakerState.OPEN:
                left = self.cooldown - (self.clock() - self._opened_at)  # type: ignore[operator]
                raise CircuitOpenError(
                    f"cloud circuit breaker is open after {self._consecutive} consecutive failures; "
                    f"next trial in {left:.0f} s (answering locally meanwhile)"
                )
            if state is BreakerState.HALF_OPEN:
                if self._trial_running:
                    raise CircuitOpenError("cloud circuit breaker is half-open and its one trial call is running")
                self._trial_running = True

    def record_success(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._opened_at = None
            self._trial_running = False

    def record_failure(self) -> None:
        if self.threshold <= 0:
            return
        with self._lock:
            self._consecutive += 1
            was_trial = self._trial_running
            self._trial_running = False
            if was_trial or self._consecutive >= self.threshold:
                self._opened_at = self.clock()
