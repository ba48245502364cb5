"""Fit and measure the early hand-off model (early.py) on calibration records.

Each record keeps its answer's tokens with their logprob and entropy (records.py), so the prefix after every
token j <= ``max_tokens`` is one row, labelled with the whole answer's outcome; one pooled model is fitted on all
rows (the prefix length is a feature). A record is stopped at the first j whose probability reaches the
threshold. The threshold is the lowest at which, out of fold, at least ``precision`` of the stopped answers are
ones the stop does not hurt: wrong answers, or answers the post-generation stage escalates anyway at the policy's
operating point (``escalated_anyway``), so the stop only saves the tokens. Every candidate is scanned, so one
unlucky stop among the first few does not end the search; at least ``min_stopped`` must be stopped. No threshold
qualifies → no early model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .early import PREFIX_SIGNALS, EarlyStop, prefix_signals
from .logistic import LogisticModel
from .records import stored_result
from .signals import PRE_SIGNALS

__all__ = ["EARLY_FEATURES", "EarlyFit", "prefix_rows", "fit_early"]

EARLY_FEATURES = PRE_SIGNALS + PREFIX_SIGNALS


def prefix_rows(record: Mapping[str, Any], max_tokens: int) -> list[dict[str, float]]:
    """The early model's signals after each of the record's first ``max_tokens`` tokens."""
    tokens = stored_result(record).tokens
    pre = {name: float(record["signals"][name]) for name in PRE_SIGNALS}
    return [{**pre, **prefix_signals(tokens[:j])} for j in range(1, min(max_tokens, len(tokens)) + 1)]


def _fit(records: Sequence[Mapping[str, Any]], rows: Sequence[Sequence[dict[str, float]]], l2: float) -> LogisticModel:
    from .calibration import fit_model  # calibration imports this module

    flat = [{"signals": row, "correct": r["correct"]} for r, rs in zip(records, rows) for row in rs]
    return fit_model(flat, EARLY_FEATURES, l2=l2)


@dataclass(frozen=True)
class EarlyFit:
    """The fitted early model (None: no threshold met the precision) and what it did out of fold."""

    early: EarlyStop | None
    stop_at: np.ndarray  # per record: the token after which it stopped (out of fold), 0 = not stopped
    max_probability: np.ndarray  # per record: the highest out-of-fold probability over its first tokens
    report: dict[str, Any]


def _threshold(max_p: np.ndarray, wrong: np.ndarray, precision: float, min_stopped: int) -> float | None:
    best = None
    for t in sorted(set(max_p.tolist()), reverse=True):
        stopped = max_p >= t
        n = int(stopped.sum())
        if n >= min_stopped and wrong[stopped].mean() >= precision:
            best = t  # scanned to the end: the lowest qualifying threshold stops the most
    return best


def fit_early(
    records: Sequence[Mapping[str, Any]],
    folds: Sequence[np.ndarray],
    *,
    max_tokens: int = 2,
    precision: float = 0.95,
    escalated_anyway: np.ndarray | None = None,
    routed: np.ndarray | None = None,
    min_stopped: int = 3,
    l2: float = 1.0,
) -> EarlyFit:
    rows = [prefix_rows(r, max_tokens) for r in records]
    # only answers the router let through are ever generated: fit, choose and count on those
    reach = np.ones(len(records), dtype=bool) if routed is None else ~np.asarray(routed, dtype=bool)
    probs: list[np.ndarray] = [np.zeros(len(rs)) for rs in rows]
    for test_idx in folds:
        test = set(test_idx.tolist())
        train = [i for i in range(len(records)) if i not in test and rows[i] and reach[i]]
        if not train:  # nothing generated outside this fold: nothing to learn from, nothing stopped in it
            continue
        model = _fit([records[i] for i in train], [rows[i] for i in train], l2)
        for i in test_idx:
            probs[i] = np.array([model.probability(row) for row in rows[i]])
    max_p = np.array([p.max() if len(p) and reach[i] else 0.0 for i, p in enumerate(probs)])
    wrong = np.array([not r["correct"] for r in records])
    harmless = wrong if escalated_anyway is None else wrong | np.asarray(escalated_anyway, dtype=bool)
    threshold = _threshold(max_p[reach], harmless[reach], precision, min_stopped)
    stop_at = np.zeros(len(records), dtype=int)
    if threshold is not None:
        for i, p in enumerate(probs):
            if not reach[i]:
                continue
            hits = np.flatnonzero(p >= threshold)
            stop_at[i] = int(hits[0]) + 1 if hits.size else 0
    generated = np.array([len(r.get("tokens") or ()) for r in records])
    stopped = stop_at > 0
    saved = int((generated - stop_at)[stopped].sum())
    report = {
        "max_tokens": max_tokens,
        "precision_target": precision,
        "threshold": threshold,
        "generated_rate": float(reach.mean()) if len(records) else 0.0,  # answers the router let through
        "stopped_rate": float(stopped.mean()) if len(records) else 0.0,  # of all questions
        "stopped_of_generated": float(stopped[reach].mean()) if reach.any() else 0.0,
        "stopped_wrong_share": float(wrong[stopped].mean()) if stopped.any() else float("nan"),
        "stopped_harmless_share": float(harmless[stopped].mean()) if stopped.any() else float("nan"),
        "tokens_saved": saved,
        "tokens_saved_share": saved / max(1, int(generated[reach].sum())),  # of the tokens generated without it
    }
    early = None
    if threshold is not None:
        kept = [i for i in range(len(records)) if reach[i] and rows[i]]
        final = _fit([records[i] for i in kept], [rows[i] for i in kept], l2)
        early = EarlyStop(max_tokens, _with_threshold(final, threshold))
    return EarlyFit(early, stop_at, max_p, report)


def _with_threshold(model: LogisticModel, threshold: float) -> LogisticModel:
    return LogisticModel(model.features, model.mean, model.std, model.weights, model.bias, float(threshold))
