"""edgekit.sdk: the hybrid client (local first, cloud when the device should) and the CLI.

    from edgekit.sdk import HybridClient, CloudConfig, Policy
    client = HybridClient(local="bundles/smollm2",
                          cloud=CloudConfig("https://api.openai.com/v1", "gpt-4o-mini", api_key_env="OPENAI_API_KEY"))
    answer = client.ask("What is 37 * 89?")     # answer.text, .route, .rule, .signals, .cost

Names are imported lazily (PEP 562), so ``edgekit --help`` does not import httpx or numpy.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "HybridClient": "edgekit.sdk.hybrid",
    "Answer": "edgekit.sdk.hybrid_answer",
    "Route": "edgekit.sdk.hybrid_answer",
    "Cost": "edgekit.sdk.hybrid_answer",
    "HybridEvent": "edgekit.sdk.hybrid_answer",
    "EventKind": "edgekit.sdk.hybrid_answer",
    "CloudConfig": "edgekit.sdk.cloud",
    "CloudClient": "edgekit.sdk.cloud",
    "CloudReply": "edgekit.sdk.cloud",
    "BudgetCaps": "edgekit.sdk.cloud",
    "CircuitBreaker": "edgekit.sdk.cloud",
    "Policy": "edgekit.sdk.policy",
    "Decision": "edgekit.sdk.policy",
    "Redactor": "edgekit.sdk.redaction",
    "Redaction": "edgekit.sdk.redaction",
    "serve_in_thread": "edgekit.sdk.serve",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgekit.sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
