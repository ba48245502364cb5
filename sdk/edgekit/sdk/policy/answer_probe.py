"""The policy file's answer probe: a linear term on the answer's mean hidden state, one feature of every post model.

The post models and one shared probe are fitted jointly (answer_fit.py): the probe is PCA of the mean state then
standardised components, both linear, so it folds into one weight per hidden dimension (as the prompt probe does,
prompt_probe.py)::

    answer_probe = bias + weights . h             h = Result.answer_hidden_mean

and each post model lists ``answer_probe`` as a feature with mean 0, std 1 and weight 1: the post decision is
the same standardised logistic regression as before, with the probe's score added to its logit. The term is 0 on
average over the answers it was fitted on, so an answer whose state the policy cannot read (a bundle without the
``last_hidden`` output, or a model of another width than the one calibrated) is decided as an average answer
would be, and the decision says so (signal ``answer_probe_missing`` = 1).

Measured on the default model (588 answers of the shipped sets, 40 tokens, out-of-fold, mean of 3 fold seeds):
post-stage AUROC for "local answer wrong" 0.880 with the signal models alone, 0.904 with the joint probe on 16
components of the mean state (8 / 32 / 64: 0.892 / 0.891 / 0.898); a probe on the last state alone reaches
0.791, on the mean 0.839 (Kossen et al. 2024, "Semantic Entropy Probes", read single-generation states the
same way).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from edgekit.runtime.errors import ConfigError

from .folded import folded_dict, read_folded

__all__ = ["ANSWER_STATES", "PROBE_SIGNAL", "MISSING_SIGNAL", "AnswerProbe"]

# the states an answer probe may read (record["hidden"] key and Result attribute answer_hidden_mean)
ANSWER_STATES = ("answer_mean",)
PROBE_SIGNAL = "answer_probe"  # the post models' feature that carries the probe's score
MISSING_SIGNAL = "answer_probe_missing"  # 1 when the answer's state could not be read (the score is then 0)


@dataclass(frozen=True)
class AnswerProbe:
    """``answer_probe = bias + weights . hidden``, a logit term every post model adds (feature ``answer_probe``)."""

    weights: tuple[float, ...]  # one per hidden dimension
    bias: float
    state: str = "answer_mean"
    components: int = 0  # PCA components it was fitted with (informative)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state not in ANSWER_STATES:
            raise ConfigError(
                f"policy answer_probe: state {self.state!r} is unknown; use one of: {', '.join(ANSWER_STATES)}"
            )
        if not self.weights:
            raise ConfigError("policy answer_probe: weights is empty; re-run `edgekit calibrate`")
        if not all(math.isfinite(w) for w in self.weights) or not math.isfinite(self.bias):
            raise ConfigError(
                "policy answer_probe: weights and bias must be finite numbers; re-run `edgekit calibrate`"
            )

    @property
    def hidden_size(self) -> int:
        return len(self.weights)

    def signals(self, hidden: Sequence[float] | np.ndarray | None) -> dict[str, float]:
        """``{answer_probe, answer_probe_missing}`` for the answer's mean state (None when it has none)."""
        h = None if hidden is None else np.asarray(hidden, dtype=np.float64).reshape(-1)
        if h is None or h.shape[0] != self.hidden_size or not np.all(np.isfinite(h)):
            return {PROBE_SIGNAL: 0.0, MISSING_SIGNAL: 1.0}
        return {PROBE_SIGNAL: self.bias + float(np.dot(np.asarray(self.weights), h)), MISSING_SIGNAL: 0.0}

    def to_dict(self) -> dict[str, Any]:
        return folded_dict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "policy") -> AnswerProbe:
        return cls(**read_folded(data, where, "answer_probe", "answer_mean"))
