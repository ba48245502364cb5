"""Early hand-off: after each of the first ``max_tokens`` generated tokens, the policy may stop and escalate.

A model that is lost often shows it in its first tokens (a low-probability opening, a flat distribution), and a
cascade that always waits for the whole local answer pays for tokens it then throws away. The early model is one
standardised logistic regression (logistic.py) on the question's signals and the answer prefix's:

- ``prefix_tokens``: tokens generated so far (1 .. ``max_tokens``);
- ``prefix_mean_logprob``, ``prefix_min_logprob``: over those tokens;
- ``prefix_mean_entropy``, ``prefix_max_entropy``: the same for the entropy of each token's distribution.

After token j (j <= ``max_tokens``) with ``p >= threshold`` the policy escalates with rule
``early:model:<family>``; past ``max_tokens`` only the post-generation stage decides. ``edgekit calibrate``
fits it on the tokens its records keep and picks the threshold for a precision (most answers it stops are
wrong), so an early stop rarely costs a cloud call the post stage would not have made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgekit.runtime.errors import ConfigError

from .logistic import LogisticModel

__all__ = ["PREFIX_SIGNALS", "EarlyStop", "prefix_signals"]

PREFIX_SIGNALS = (
    "prefix_tokens",
    "prefix_mean_logprob",
    "prefix_min_logprob",
    "prefix_mean_entropy",
    "prefix_max_entropy",
)
_FLOOR = -50.0  # as post_signals does: a -inf logprob (sampled at probability 0) would break standardisation


def prefix_signals(tokens: Sequence[Any]) -> dict[str, float]:
    """The prefix signals of ``tokens`` (objects with ``logprob`` and ``entropy``, at least one)."""
    if not tokens:
        raise ValueError("prefix_signals needs at least one token")
    logprobs = [max(float(t.logprob), _FLOOR) for t in tokens]
    entropies = [float(t.entropy) for t in tokens]
    return {
        "prefix_tokens": float(len(tokens)),
        "prefix_mean_logprob": sum(logprobs) / len(logprobs),
        "prefix_min_logprob": min(logprobs),
        "prefix_mean_entropy": sum(entropies) / len(entropies),
        "prefix_max_entropy": max(entropies),
    }


@dataclass(frozen=True)
class EarlyStop:
    max_tokens: int
    model: LogisticModel

    def __post_init__(self) -> None:
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ConfigError(f"policy early.max_tokens={self.max_tokens!r} must be an integer >= 1")

    def to_dict(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "model": self.model.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "policy") -> EarlyStop:
        if not isinstance(data, Mapping) or "model" not in data or "max_tokens" not in data:
            raise ConfigError(f'{where}: "early" needs "max_tokens" and "model"; re-run `edgekit calibrate`')
        return cls(data["max_tokens"], LogisticModel.from_dict(data["model"]))
