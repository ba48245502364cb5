"""What to do when prompt + max_new_tokens would not fit in the bundle's max context.

Policies (``context_policy=``):
- ``error`` (default): raise ``ContextOverflowError`` with the numbers and the fixes;
- ``truncate``: drop the oldest turns (system messages and the last message are
  kept) until it fits; if the kept messages alone are still too long, or the
  prompt is a plain string, keep only the newest prompt tokens (BOS kept);
  ``Result.dropped_messages`` / ``context_overflow`` say that it happened;
- ``signal``: generate nothing and return ``finish_reason="context"`` with
  ``context_overflow=True``, so the hybrid client can escalate to a model
  with a longer context.
Never a crash: every path ends in a Result or an EdgekitError.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .errors import ContextOverflowError, RuntimeGenerationError

__all__ = ["ContextPolicy", "FittedPrompt", "fit_prompt"]


class ContextPolicy(str, Enum):
    ERROR = "error"
    TRUNCATE = "truncate"
    SIGNAL = "signal"

    @classmethod
    def parse(cls, value: str | ContextPolicy) -> ContextPolicy:
        try:
            return cls(value)
        except ValueError:
            known = ", ".join(p.value for p in cls)
            raise RuntimeGenerationError(f"context_policy={value!r} is unknown; use one of: {known}") from None


@dataclass(frozen=True)
class FittedPrompt:
    ids: list[int]
    refused: bool = False  # signal policy: do not generate
    overflow: bool = False
    dropped_messages: int = 0


def fit_prompt(
    source: str | Sequence[dict[str, Any]],
    encode: Callable[[Any], list[int]],
    max_new_tokens: int,
    max_context: int,
    policy: ContextPolicy,
    bos_id: int | None = None,
) -> FittedPrompt:
    """Token ids of ``source`` (a string or a messages list), fitted to the context by ``policy``."""
    ids = encode(source)
    if not ids:
        raise RuntimeGenerationError("the prompt is empty (0 tokens); pass some text or messages")
    if len(ids) + max_new_tokens <= max_context:
        return FittedPrompt(ids)
    if policy is ContextPolicy.ERROR:
        raise ContextOverflowError(
            f"prompt ({len(ids)} tokens) + max_new_tokens ({max_new_tokens}) exceed the bundle's max context "
            f"({max_context} tokens); shorten the prompt, lower max_new_tokens, or pass "
            "context_policy='truncate' (drop oldest turns) or 'signal' (hand off to the cloud)"
        )
    if policy is ContextPolicy.SIGNAL:
        return FittedPrompt(ids, refused=True, overflow=True)

    budget = max_context - max_new_tokens
    if budget < 1:
        raise ContextOverflowError(
            f"max_new_tokens ({max_new_tokens}) alone fills the bundle's max context ({max_context} tokens); "
            f"lower max_new_tokens below {max_context}"
        )
    dropped = 0
    if not isinstance(source, str):
        messages = list(source)
        while len(ids) > budget:
            droppable = [i for i, m in enumerate(messages[:-1]) if m.get("role") != "system"]
            if not droppable:
                break
            del messages[droppable[0]]
            dropped += 1
            ids = encode(messages)
    if len(ids) > budget:
        # keep the newest tokens; a leading BOS stays (models are trained with it)
        head = [ids[0]] if bos_id is not None and ids[0] == bos_id else []
        ids = head + ids[len(ids) - (budget - len(head)) :]
    return FittedPrompt(ids, overflow=True, dropped_messages=dropped)
