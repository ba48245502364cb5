"""Hidden-state probes: logistic regression on the model's final hidden state, measured beside today's signals.

The runtime hands out two states per answer (``Result.prompt_hidden``, ``Result.answer_hidden``: the LM head's
input where the model drew its first and its last token). Linear probes on such states predict whether an answer
is right (Azaria & Mitchell 2023, "The Internal State of an LLM Knows When It's Lying"; Orgad et al. 2024, "LLMs
Know More Than They Show"). A probe here is the policy's own logistic regression (calibration.fit_logistic) on
the state reduced by PCA (numpy SVD of the training rows only: with ~300 labelled items and a 576-wide state the
full vector would overfit), optionally next to the stage's signals:

- pre-generation: the prompt's state (known after prefill, before any token is decoded);
- post-generation: the mean of the states that drew the answer's tokens (records written before the runtime
  kept it: the answer's last state);
- joint (when given): the policy's post models fitted with the answer probe (answer_fit.py).

Records carry the states as base64 float32 (``record["hidden"]``, written by ``edgekit eval escalation``);
every figure is out-of-fold on the calibration's stratified folds, the PCA refitted inside each fold.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "HIDDEN_KEYS",
    "encode_hidden",
    "decode_hidden",
    "has_hidden",
    "principal_axes",
    "HiddenProbe",
    "fit_probe",
    "probe_scores",
    "probe_comparison",
    "format_comparison",
]

# record["hidden"] key -> Result attribute; the pre stage reads "prompt", the post stage "answer"
HIDDEN_KEYS = {"prompt": "prompt_hidden", "answer": "answer_hidden", "answer_mean": "answer_hidden_mean"}
# the mean of the states that drew the answer's tokens, which the answer probe reads (records written before the
# runtime kept it have none)
OPTIONAL_KEYS = ("answer_mean",)
# PCA components a probe keeps (of 576 for SmolLM2-135M). Out-of-fold AUROC of the probe alone on the shipped set
# with the default model (gguf, max_new_tokens 40, seed 0), pre / post: 4 -> 0.811 / 0.800, 8 -> 0.806 / 0.835,
# 16 -> 0.832 / 0.838, 32 -> 0.856 / 0.836, 64 -> 0.857 / 0.819; 16 is the best for the post stage.
COMPONENTS = 16


def encode_hidden(result: Any) -> dict[str, str] | None:
    """The result's hidden states as {"prompt": base64, "answer": base64, "answer_mean": base64} (little-endian
    float32), or None without the first two; "answer_mean" is left out when the result has none."""
    out = {}
    for key, attr in HIDDEN_KEYS.items():
        value = getattr(result, attr, None)
        if value is None:
            if key in OPTIONAL_KEYS:
                continue
            return None
        out[key] = base64.b64encode(np.asarray(value, dtype="<f4").tobytes()).decode("ascii")
    return out


def decode_hidden(record: Mapping[str, Any], key: str) -> np.ndarray:
    """One state of a record as float64 [hidden]."""
    return np.frombuffer(base64.b64decode(record["hidden"][key]), dtype="<f4").astype(np.float64)


def has_hidden(records: Sequence[Mapping[str, Any]], keys: Sequence[str] | None = None) -> bool:
    """Every record has the states ``keys`` (default: those the side-by-side probes read, the prompt's and the
    answer's)."""
    needed = [key for key in HIDDEN_KEYS if key not in OPTIONAL_KEYS] if keys is None else keys
    return bool(records) and all(
        isinstance(r.get("hidden"), Mapping) and all(key in r["hidden"] for key in needed) for r in records
    )


def principal_axes(rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows' mean [h] and their first ``k`` principal axes [h, k] (right singular vectors of the centred
    rows; k = 0 gives none)."""
    center = rows.mean(axis=0)
    if not k:
        return center, np.zeros((rows.shape[1], 0))
    _, _, vt = np.linalg.svd(rows - center, full_matrices=False)
    return center, vt[:k].T


@dataclass(frozen=True)
class HiddenProbe:
    """PCA of the state (``center``, ``basis``), then a standardised logistic regression on the components
    and the extra signals."""

    center: np.ndarray  # [hidden]
    basis: np.ndarray  # [hidden, k]
    mean: np.ndarray  # [k + n_signals]
    std: np.ndarray
    weights: np.ndarray
    bias: float

    def features(self, hidden: np.ndarray, signals: np.ndarray) -> np.ndarray:
        parts = [(hidden - self.center) @ self.basis] if self.basis.shape[1] else []
        return np.hstack([*parts, signals]) if signals.size else np.hstack(parts)

    def probability(self, hidden: np.ndarray, signals: np.ndarray) -> np.ndarray:
        z = (self.features(hidden, signals) - self.mean) / self.std
        return 1.0 / (1.0 + np.exp(-np.clip(z @ self.weights + self.bias, -40, 40)))


def fit_probe(
    hidden: np.ndarray, signals: np.ndarray, wrong: np.ndarray, components: int = COMPONENTS, l2: float = 1.0
) -> HiddenProbe:
    """Fit on rows ``hidden`` [n, h] (and ``signals`` [n, s], s may be 0) for the label ``wrong`` [n]."""
    from .calibration import fit_logistic, standardise

    center, basis = principal_axes(hidden, max(0, min(components, hidden.shape[0] - 1, hidden.shape[1])))
    probe = HiddenProbe(center, basis, np.zeros(0), np.ones(0), np.zeros(0), 0.0)
    X = probe.features(hidden, signals)
    mean, std = standardise(X)
    w, b = fit_logistic((X - mean) / std, wrong.astype(float), l2=l2)
    return HiddenProbe(center, basis, mean, std, w, b)


# stage -> (the record's state, today's signals of that stage beside it in "both"); the post stage reads the mean
# answer state instead when every record has it (alone, out-of-fold, 16 components: 0.839 vs 0.791 on the last)
STAGES = {"pre": ("prompt", "router"), "post": ("answer", "post_default")}
MEAN_KEY = "answer_mean"


def _signal_matrix(records: Sequence[Mapping[str, Any]], names: Sequence[str]) -> np.ndarray:
    return np.array([[float(r["signals"][n]) for n in names] for r in records], dtype=float).reshape(
        len(records), len(names)
    )


def probe_scores(
    records: Sequence[Mapping[str, Any]],
    stage: str,
    *,
    with_signals: bool,
    folds: int = 5,
    seed: int = 0,
    components: int = COMPONENTS,
    l2: float = 1.0,
) -> np.ndarray:
    """Out-of-fold P(wrong) of the ``stage`` probe (pooled over families) for every record."""
    from .base import DEFAULT_FEATURES
    from .calibration import _folds

    key, features = STAGES[stage]
    if stage == "post" and all(MEAN_KEY in r["hidden"] for r in records):
        key = MEAN_KEY
    hidden = np.stack([decode_hidden(r, key) for r in records])
    signals = _signal_matrix(records, DEFAULT_FEATURES[features] if with_signals else ())
    wrong = np.array([not r["correct"] for r in records])
    out = np.zeros(len(records))
    for test in _folds(records, folds, seed):
        train = np.setdiff1d(np.arange(len(records)), test)
        probe = fit_probe(hidden[train], signals[train], wrong[train], components=components, l2=l2)
        out[test] = probe.probability(hidden[test], signals[test])
    return out


def probe_comparison(
    records: Sequence[Mapping[str, Any]],
    p_pre: np.ndarray,
    p_post: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
    components: int = COMPONENTS,
    p_joint: np.ndarray | None = None,
) -> dict[str, Any]:
    """Out-of-fold AUROC for "local answer wrong", per stage: today's signals (the policy's own
    cross-validated signal models, ``p_pre``/``p_post``), the hidden-state probe, and both in one model; overall
    and per labelled family. ``p_joint``: the post models fitted with the answer probe (column post_joint)."""
    from .metrics import auroc

    records = list(records)
    scores = {
        "pre": {"signals": np.asarray(p_pre, dtype=float)},
        "post": {"signals": np.asarray(p_post, dtype=float)},
    }
    for stage in STAGES:
        for name, with_signals in (("probe", False), ("both", True)):
            scores[stage][name] = probe_scores(
                records, stage, with_signals=with_signals, folds=folds, seed=seed, components=components
            )
    if p_joint is not None:
        scores["post"]["joint"] = np.asarray(p_joint, dtype=float)
    wrong = np.array([not r["correct"] for r in records])
    groups = {"overall": np.arange(len(records))}
    for family in sorted({r.get("label_family", r["family"]) for r in records}):
        groups[family] = np.array([i for i, r in enumerate(records) if r.get("label_family", r["family"]) == family])
    return {
        "components": components,
        "folds": folds,
        "auroc": {
            group: {
                "n": len(idx),
                **{
                    f"{stage}_{name}": auroc(s[idx], wrong[idx])
                    for stage, by in scores.items()
                    for name, s in by.items()
                },
            }
            for group, idx in groups.items()
        },
    }


def format_comparison(comparison: Mapping[str, Any]) -> str:
    """The side-by-side table: rows are groups, columns pre/post x signals/probe/both."""
    columns = [f"{stage}_{name}" for stage in STAGES for name in ("signals", "probe", "both")]
    if "post_joint" in comparison["auroc"]["overall"]:
        columns.append("post_joint")
    lines = [
        f"hidden-state probe vs today's signals: out-of-fold AUROC for a wrong local answer "
        f"({comparison['folds']} folds; probe = logistic regression on {comparison['components']} PCA components "
        "of the final hidden state: prompt state before generation, the answer's (mean) state after; joint = the "
        "post models fitted with the answer probe)",
        f"{'family':<12}{'n':>5}" + "".join(f"{c.replace('_', ' '):>14}" for c in columns),
    ]
    for group, row in comparison["auroc"].items():
        cells = "".join("           n/a" if row[c] != row[c] else f"{row[c]:>14.3f}" for c in columns)
        lines.append(f"{group:<12}{row['n']:>5}{cells}")
    return "\n".join(lines)
