"""A standardised logistic regression, the model every stage of the policy uses::

z_i   = (x_i - mean_i) / std_i                      for each name in `features`
score = bias + sum_i weights_i * z_i
p     = 1 / (1 + exp(-score))                       escalate when p >= threshold
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgekit.runtime.errors import ConfigError

__all__ = ["LogisticModel"]


@dataclass(frozen=True)
class LogisticModel:
    features: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.mean) == len(self.std) == len(self.weights) == n):
            raise ConfigError(
                f"policy model: features ({n}), mean ({len(self.mean)}), std ({len(self.std)}) and weights "
                f"({len(self.weights)}) must have the same length; re-run `edgekit calibrate`"
            )
        if any(not s > 0 for s in self.std):
            raise ConfigError("policy model: every std must be > 0 (calibrate writes 1.0 for constant features)")
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"policy model: threshold {self.threshold!r} must be a probability in [0, 1]")

    def score(self, signals: Mapping[str, float]) -> float:
        total = self.bias
        for name, mean, std, weight in zip(self.features, self.mean, self.std, self.weights):
            try:
                x = float(signals[name])
            except KeyError:
                raise ConfigError(
                    f"policy needs signal {name!r}, which was not computed; known: {sorted(signals)}"
                ) from None
            total += weight * (x - mean) / std
        return total

    def probability(self, signals: Mapping[str, float]) -> float:
        s = self.score(signals)
        # numerically safe logistic
        if s >= 0:
            return 1.0 / (1.0 + math.exp(-s))
        e = math.exp(s)
        return e / (1.0 + e)

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "mean": list(self.mean),
            "std": list(self.std),
            "weights": list(self.weights),
            "bias": self.bias,
            "threshold": self.threshold,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogisticModel:
        try:
            return cls(
                features=tuple(str(f) for f in data["features"]),
                mean=tuple(float(v) for v in data["mean"]),
                std=tuple(float(v) for v in data["std"]),
                weights=tuple(float(v) for v in data["weights"]),
                bias=float(data["bias"]),
                threshold=float(data["threshold"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"policy model is malformed ({type(exc).__name__}: {exc}); re-run `edgekit calibrate`"
            ) from None
