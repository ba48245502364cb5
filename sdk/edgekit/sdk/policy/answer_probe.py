"""The policy file's answer probe: a linear term on the answer's mean hidden state, and the post models that read it.

The probe's post models and one shared probe are fitted jointly (answer_fit.py): the probe is PCA of the mean
state then standardised components, both linear, so it folds into one weight per hidden dimension (as the prompt
probe does, prompt_probe.py)::

    answer_probe = bias + weights . h             h = Result.answer_hidden_mean

and each of its ``models`` lists ``answer_probe`` as a feature with mean 0, std 1 and weight 1: the same
standardised logistic regression as the signal models, with the probe's score added to its logit. They decide a
free-text answer whose state the policy can read. An answer it cannot read (a bundle without the ``last_hidden``
output, a model of another width than the one calibrated) and any answer to a request that offered tools (the
probe was fitted on plain questions; on the held-out command set, reading it for every answer ranked worse than
the signal models, 71.6% against 76.6% of requests right at 30% escalated, and for the answers without a call
75.2%) are decided by the policy's signal models, ``post.models``, and the decision says so (signal
``answer_probe_missing`` = 1).

Measured on the default model (588 answers of the shipped sets, 40 tokens, out-of-fold, mean of 3 fold seeds):
post-stage AUROC for "local answer wrong" 0.880 with the signal models alone, 0.904 with the joint probe on 16
components of the mean state (8 / 32 / 64: 0.892 / 0.891 / 0.898); a probe on the last state alone reaches
0.791, on the mean 0.839 (Kossen et al. 2024, "Semantic Entropy Probes", read single-generation states the
same way).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from edgekit.runtime.errors import ConfigError

from .folded import folded_dict, read_folded
from .logistic import LogisticModel

__all__ = ["ANSWER_STATES", "PROBE_SIGNAL", "MISSING_SIGNAL", "AnswerProbe", "probe_state"]

# the states an answer probe may read (record["hidden"] key and Result attribute answer_hidden_mean)
ANSWER_STATES = ("answer_mean",)
PROBE_SIGNAL = "answer_probe"  # the post models' feature that carries the probe's score
MISSING_SIGNAL = "answer_probe_missing"  # 1 when the answer's state is not read (the signal models decide)


def probe_state(result: Any, tools_offered: bool = False) -> Any:
    """What the answer probe reads of a ``Result``: its mean hidden state, or None for a tool call or any answer to
    a request that offered tools (the probe was fitted on plain questions: the tools section moves the states)."""
    if tools_offered or getattr(result, "tool_calls", None):
        return None
    return getattr(result, "answer_hidden_mean", None)


@dataclass(frozen=True)
class AnswerProbe:
    """``answer_probe = bias + weights . hidden``, the logit term its ``models`` add (feature ``answer_probe``)."""

    weights: tuple[float, ...]  # one per hidden dimension
    bias: float
    state: str = "answer_mean"
    components: int = 0  # PCA components it was fitted with (informative)
    meta: dict[str, Any] = field(default_factory=dict)
    models: dict[str, LogisticModel] = field(default_factory=dict)  # family -> post model reading the score

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
        blind = sorted(name for name, model in self.models.items() if PROBE_SIGNAL not in model.features)
        if blind:
            raise ConfigError(
                f"policy answer_probe: models {', '.join(blind)} do not read {PROBE_SIGNAL!r}; "
                "re-run `edgekit calibrate`"
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
        return folded_dict(self, models={name: model.to_dict() for name, model in self.models.items()})

    @classmethod
    def from_dict(cls, data: Any, where: str = "policy") -> AnswerProbe:
        fields = read_folded(data, where, "answer_probe", "answer_mean")
        models = data.get("models") or {}
        if not isinstance(models, Mapping):
            raise ConfigError(f"{where}: answer_probe.models must be an object of family -> model")
        return cls(**fields, models={str(k): LogisticModel.from_dict(v) for k, v in models.items()})
