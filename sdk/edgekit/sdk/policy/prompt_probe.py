"""The policy file's hidden-state probe: one logistic regression on the prompt's final hidden state.

``probe.HiddenProbe`` fits PCA (``center``, ``basis``) then a standardised logistic regression on the
components. Both steps are linear, so the probe folds into one weight per hidden dimension::

    z     = basis^T (h - center)                    PCA components
    score = bias + sum_j w_j (z_j - mean_j) / std_j
          = (bias - sum_j w_j mean_j / std_j - v . center) + v . h,   v = basis (w / std)

and the file carries ``weights`` = v ([hidden]) and ``bias``: the same probabilities, a dot product to
compute on any device, and no PCA matrix in the file (576 numbers for SmolLM2-135M instead of 576 x 16).

The state is ``Result.prompt_hidden`` (the state that draws the first token, known after prefill), so the
probe decides before generation: ``p >= threshold`` -> cloud, rule ``router:probe``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from edgekit.runtime.errors import ConfigError

from .folded import folded_dict, read_folded

__all__ = ["PROBE_STATES", "PromptProbe"]

# the states a probe may read: only the prompt's, the one known before generation
PROBE_STATES = ("prompt",)


@dataclass(frozen=True)
class PromptProbe:
    """``p = 1 / (1 + exp(-(bias + weights . hidden)))``; escalate before generation when ``p >= threshold``."""

    weights: tuple[float, ...]  # one per hidden dimension
    bias: float
    threshold: float
    state: str = "prompt"
    components: int = 0  # PCA components the folded probe was fitted with (informative)
    meta: dict[str, Any] = field(default_factory=dict)  # what it was fitted on (informative)

    def __post_init__(self) -> None:
        if self.state not in PROBE_STATES:
            raise ConfigError(f"policy probe: state {self.state!r} is unknown; use one of: {', '.join(PROBE_STATES)}")
        if not self.weights:
            raise ConfigError("policy probe: weights is empty; re-run `edgekit calibrate`")
        if not all(math.isfinite(w) for w in self.weights) or not math.isfinite(self.bias):
            raise ConfigError("policy probe: weights and bias must be finite numbers; re-run `edgekit calibrate`")
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"policy probe: threshold {self.threshold!r} must be a probability in [0, 1]")

    @property
    def hidden_size(self) -> int:
        return len(self.weights)

    def probability(self, hidden: Sequence[float] | np.ndarray) -> float:
        h = np.asarray(hidden, dtype=np.float64).reshape(-1)
        if h.shape[0] != self.hidden_size:
            raise ConfigError(
                f"policy probe reads a hidden state of {self.hidden_size} values, the bundle gave {h.shape[0]}; "
                "the policy was calibrated for another model: re-run `edgekit calibrate` on this bundle"
            )
        s = self.bias + float(np.dot(np.asarray(self.weights), h))
        if s >= 0:
            return 1.0 / (1.0 + math.exp(-s))
        e = math.exp(s)
        return e / (1.0 + e)

    @classmethod
    def fold(cls, probe: Any, threshold: float, meta: Mapping[str, Any] | None = None) -> PromptProbe:
        """The folded form of a ``probe.HiddenProbe`` fitted on hidden states only (no extra signals)."""
        k = probe.basis.shape[1]
        if probe.weights.shape[0] != k:
            raise ConfigError("policy probe: only a probe on the hidden state alone folds into the policy file")
        scaled = probe.weights / probe.std
        v = probe.basis @ scaled
        bias = float(probe.bias - np.dot(scaled, probe.mean) - np.dot(v, probe.center))
        return cls(tuple(float(x) for x in v), bias, float(threshold), "prompt", int(k), dict(meta or {}))

    def to_dict(self) -> dict[str, Any]:
        return folded_dict(self, threshold=self.threshold)

    @classmethod
    def from_dict(cls, data: Any, where: str = "policy") -> PromptProbe:
        return cls(**read_folded(data, where, "probe", "prompt", numbers=("threshold",)))
