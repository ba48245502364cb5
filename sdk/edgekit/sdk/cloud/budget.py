"""Budget caps on escalation: how often and how much the device may use the cloud.

Windows are rolling (the last 60 s, the last 24 h), not calendar days, so a
device cannot burn two days' budget around midnight. When a cap is reached the
hybrid client answers locally and says which cap (BudgetExceededError).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from edgekit.runtime.errors import BudgetExceededError, ConfigError

__all__ = ["BudgetCaps", "Budget"]

MINUTE = 60.0
DAY = 86_400.0


@dataclass(frozen=True)
class BudgetCaps:
    """None = no cap."""

    escalations_per_minute: int | None = None
    escalations_per_day: int | None = None
    cloud_tokens_per_day: int | None = None

    def __post_init__(self) -> None:
        for name in ("escalations_per_minute", "escalations_per_day", "cloud_tokens_per_day"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ConfigError(f"BudgetCaps.{name}={value!r} must be an integer >= 0 or None")


class Budget:
    """Tracks escalations and cloud tokens in rolling windows."""

    def __init__(self, caps: BudgetCaps | None = None, clock: Callable[[], float] = time.monotonic):
        self.caps = caps or BudgetCaps()
        self.clock = clock
        self._lock = threading.Lock()
        self._escalations: deque[float] = deque()
        self._tokens: deque[tuple[float, int]] = deque()

    def _prune(self, now: float) -> None:
        while self._escalations and now - self._escalations[0] >= DAY:
            self._escalations.popleft()
        while self._tokens and now - self._tokens[0][0] >= DAY:
            self._tokens.popleft()

    def usage(self) -> dict[str, int]:
        with self._lock:
            now = self.clock()
            self._prune(now)
            return {
                "escalations_last_minute": sum(1 for t in self._escalations if now - t < MINUTE),
                "escalations_last_day": len(self._escalations),
                "cloud_tokens_last_day": sum(n for _, n in self._tokens),
            }

    def reserve(self) -> None:
        """Count one escalation, or raise BudgetExceededError naming the cap reached."""
        caps = self.caps
        with self._lock:
            now = self.clock()
            self._prune(now)
            per_minute = sum(1 for t in self._escalations if now - t < MINUTE)
            if caps.escalations_per_minute is not None and per_minute >= caps.escalations_per_minute:
                raise BudgetExceededError(
                    f"escalation budget reached: {per_minute} escalations in the last minute "
                    f"(cap escalations_per_minute={caps.escalations_per_minute})"
                )
            if caps.escalations_per_day is not None and len(self._escalations) >= caps.escalations_per_day:
                raise BudgetExceededError(
                    f"escalation budget reached: {len(self._escalations)} escalations in the last 24 h "
                    f"(cap escalations_per_day={caps.escalations_per_day})"
                )
            tokens = sum(n for _, n in self._tokens)
            if caps.cloud_tokens_per_day is not None and tokens >= caps.cloud_tokens_per_day:
                raise BudgetExceededError(
                    f"cloud token budget reached: {tokens} tokens in the last 24 h "
                    f"(cap cloud_tokens_per_day={caps.cloud_tokens_per_day})"
                )
            self._escalations.append(now)

    def record_tokens(self, n: int) -> None:
        if n <= 0:
            return
        with self._lock:
            self._tokens.append((self.clock(), int(n)))
