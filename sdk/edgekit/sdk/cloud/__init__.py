"""The cloud side of the hybrid client: config, HTTP client, retries, breaker, budgets."""

from .breaker import BreakerState, CircuitBreaker
from .budget import Budget, BudgetCaps
from .client import CloudChunk, CloudClient, CloudReply
from .config import CloudConfig
from .deadline import CloudDeadlineError, Deadline
from .scrub import KeyScrubber

__all__ = [
    "CloudConfig",
    "CloudClient",
    "CloudReply",
    "CloudChunk",
    "CloudDeadlineError",
    "Deadline",
    "KeyScrubber",
    "CircuitBreaker",
    "BreakerState",
    "Budget",
    "BudgetCaps",
]
