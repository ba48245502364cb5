"""The cloud side of the hybrid client: config, HTTP client, retries, breaker, budgets."""

from .breaker import BreakerState, CircuitBreaker
from .budget import Budget, BudgetCaps
from .client import CloudChunk, CloudClient, CloudReply
from .config import CloudConfig

__all__ = [
    "CloudConfig",
    "CloudClient",
    "CloudReply",
    "CloudChunk",
    "CircuitBreaker",
    "BreakerState",
    "Budget",
    "BudgetCaps",
]
