"""Escalation metrics: AUROC for "the local answer is wrong", accuracy at an escalation rate.

An escalation at rate r sends the top ``ceil(r * n)`` items by score to the
cloud. Their answers count as the cloud's (correct when no cloud was
measured), the rest keep the local answer. The oracle escalates exactly the
items the cloud can fix first, random escalation is the expectation
``acc_local + r * (acc_cloud - acc_local)``. ``recovery = (acc - acc_local) /
(acc_oracle - acc_local)``: the share of what perfect escalation gains.

Calibration: ``expected_calibration_error`` bins the predicted probability of a wrong answer into equal-width
bins and averages ``|mean predicted - observed rate|`` weighted by the bin's share of items (Guo et al. 2017,
"On Calibration of Modern Neural Networks", eq. 3; 10 bins as there). ``reliability`` gives the bins themselves,
for the plot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "percent_cell",
    "auroc",
    "accuracy_at_rate",
    "oracle_accuracy",
    "random_accuracy",
    "recovery",
    "RATES",
    "expected_calibration_error",
    "reliability",
]

RATES = (0.1, 0.2, 0.3, 0.5)


def auroc(scores: Sequence[float] | np.ndarray, positive: Sequence[bool] | np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with mid-ranks for ties). NaN if one class is empty."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=float)
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _k(rate: float, n: int) -> int:
    return min(n, int(math.ceil(rate * n - 1e-9)))


def accuracy_at_rate(
    scores: Sequence[float] | np.ndarray,
    correct: Sequence[bool] | np.ndarray,
    cloud_correct: Sequence[bool] | np.ndarray,
    rate: float,
) -> float:
    s = np.asarray(scores, dtype=float)
    c = np.asarray(correct, dtype=bool)
    cc = np.asarray(cloud_correct, dtype=bool)
    n = len(s)
    if n == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")  # stable: ties keep data order
    escalated = np.zeros(n, dtype=bool)
    escalated[order[: _k(rate, n)]] = True
    return float(np.where(escalated, cc, c).mean())


def oracle_accuracy(
    correct: Sequence[bool] | np.ndarray, cloud_correct: Sequence[bool] | np.ndarray, rate: float
) -> float:
    c = np.asarray(correct, dtype=bool)
    cc = np.asarray(cloud_correct, dtype=bool)
    n = len(c)
    if n == 0:
        return float("nan")
    fixable = int((~c & cc).sum())
    return float((c.sum() + min(_k(rate, n), fixable)) / n)


def random_accuracy(
    correct: Sequence[bool] | np.ndarray, cloud_correct: Sequence[bool] | np.ndarray, rate: float
) -> float:
    c = np.asarray(correct, dtype=float)
    cc = np.asarray(cloud_correct, dtype=float)
    return float(c.mean() + rate * (cc.mean() - c.mean()))


def recovery(acc: float, acc_local: float, acc_oracle: float) -> float:
    gain = acc_oracle - acc_local
    return float("nan") if gain <= 0 else (acc - acc_local) / gain


def reliability(
    probabilities: Sequence[float] | np.ndarray, positive: Sequence[bool] | np.ndarray, bins: int = 10
) -> list[tuple[float, float, int]]:
    """(mean predicted, observed rate, count) of each non-empty equal-width bin of [0, 1]."""
    p = np.clip(np.asarray(probabilities, dtype=float), 0.0, 1.0)
    y = np.asarray(positive, dtype=bool)
    index = np.minimum((p * bins).astype(int), bins - 1)  # p == 1.0 falls into the last bin
    out = []
    for b in range(bins):
        members = index == b
        if members.any():
            out.append((float(p[members].mean()), float(y[members].mean()), int(members.sum())))
    return out


def expected_calibration_error(
    probabilities: Sequence[float] | np.ndarray, positive: Sequence[bool] | np.ndarray, bins: int = 10
) -> float:
    """Weighted mean gap between predicted probability and observed rate over the bins; NaN for no items."""
    cells = reliability(probabilities, positive, bins)
    n = sum(count for _, _, count in cells)
    if n == 0:
        return float("nan")
    return float(sum(count * abs(pred - seen) for pred, seen, count in cells) / n)


def percent_cell(x: float) -> str:
    """A share as a 5-wide percent for the eval tables ("  n/a" for NaN: a slice without that kind)."""
    return "  n/a" if x != x else f"{100 * x:5.1f}"
