"""Next-token metrics of an exported model against the float reference (numpy only).

For every position t of the validation text (teacher forcing: both models see
the true prefix): top-1 agreement (argmax equal), KL(reference || exported) of
the next-token distributions, and the negative log-likelihood of the true next
token under each model, from which perplexity follows. These are stronger signals
than greedy text matches (a near-tie first token makes
greedy output a weak signal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["log_softmax", "PositionStats", "compare_positions"]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64 for the reductions, returned as float32."""
    x = logits.astype(np.float64, copy=False)
    shifted = x - x.max(axis=-1, keepdims=True)
    return (shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))).astype(np.float32)


@dataclass
class PositionStats:
    """Running sums over compared positions."""

    positions: int = 0
    agree: int = 0
    kl_sum: float = 0.0
    kl_max: float = 0.0
    nll_reference: float = 0.0
    nll_exported: float = 0.0

    def add(self, other: PositionStats) -> None:
        self.positions += other.positions
        self.agree += other.agree
        self.kl_sum += other.kl_sum
        self.kl_max = max(self.kl_max, other.kl_max)
        self.nll_reference += other.nll_reference
        self.nll_exported += other.nll_exported

    def summary(self) -> dict[str, float | int]:
        n = max(self.positions, 1)
        ppl_ref = math.exp(self.nll_reference / n)
        ppl_exp = math.exp(self.nll_exported / n)
        return {
            "positions": self.positions,
            "top1_agreement": self.agree / n,
            "mean_kl": self.kl_sum / n,
            "max_kl": self.kl_max,
            "perplexity_reference": ppl_ref,
            "perplexity_exported": ppl_exp,
            "perplexity_ratio": ppl_exp / ppl_ref,
        }


def compare_positions(
    reference_logprobs: np.ndarray, exported_logits: np.ndarray, targets: np.ndarray, rows_per_step: int = 16
) -> PositionStats:
    """Compare rows position by position; ``targets[i]`` is the true token after position i.

    Works ``rows_per_step`` rows at a time so the float64 temporaries stay a few MiB
    (the runner's peak RSS is reported as the runtime's memory need).
    """
    stats = PositionStats()
    for begin in range(0, len(targets), rows_per_step):
        end = min(begin + rows_per_step, len(targets))
        ref = reference_logprobs[begin:end].astype(np.float64)
        exp = log_softmax(exported_logits[begin:end]).astype(np.float64)
        kl = np.maximum((np.exp(ref) * (ref - exp)).sum(axis=-1), 0.0)  # rounding can dip a ~0 KL below 0
        rows = np.arange(end - begin)
        stats.add(
            PositionStats(
                positions=end - begin,
                agree=int((ref.argmax(-1) == exp.argmax(-1)).sum()),
                kl_sum=float(kl.sum()),
                kl_max=float(kl.max()),
                nll_reference=float(-ref[rows, targets[begin:end]].sum()),
                nll_exported=float(-exp[rows, targets[begin:end]].sum()),
            )
        )
    return stats
