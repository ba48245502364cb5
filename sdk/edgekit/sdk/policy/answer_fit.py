"""Fit the post models and the answer probe in one logistic regression (numpy only).

Fitting the probe apart and stacking its score as one more feature reached 0.898 post-stage AUROC on the shipped
records; fitting it jointly with the per-family signal models 0.904 (out-of-fold, answer_probe.py gives the
setup). The joint design matrix has one block per model (the eligible families with the full post features, and
"default" on the rows of every other family with the features that leave out the answer span): each block holds
its rows' standardised signals and an intercept column, zeros elsewhere; one more block, shared by all rows, holds
the standardised PCA components of the answer's mean state. One L2-penalised fit (calibration.fit_logistic) then
gives every model's weights and the probe's, which fold into per-model ``LogisticModel``s (feature
``answer_probe``: mean 0, std 1, weight 1) and one ``AnswerProbe`` (a dot product on the state) that holds them.

When every family has a model of its own the "default" block is empty; the fallback model (for families the
calibration set lacks) is then a pooled fit of the default features with the probe's score as a feature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .answer_probe import PROBE_SIGNAL, AnswerProbe
from .base import DEFAULT_FEATURES
from .logistic import LogisticModel
from .probe import COMPONENTS, decode_hidden, has_hidden, principal_axes

__all__ = ["ANSWER_KEY", "record_state", "has_answer_states", "fit_post_with_probe", "post_probability"]

ANSWER_KEY = "answer_mean"  # the record["hidden"] state the probe reads


def record_state(record: Mapping[str, Any]) -> np.ndarray | None:
    """The record's answer mean state, or None when it was written without one."""
    hidden = record.get("hidden")
    return decode_hidden(record, ANSWER_KEY) if isinstance(hidden, Mapping) and ANSWER_KEY in hidden else None


def has_answer_states(records: Sequence[Mapping[str, Any]]) -> bool:
    return has_hidden(records, (ANSWER_KEY,))


def fit_post_with_probe(
    records: Sequence[Mapping[str, Any]],
    *,
    l2: float = 1.0,
    min_family: int = 30,
    min_class: int = 10,
    components: int = COMPONENTS,
    meta: Mapping[str, Any] | None = None,
) -> AnswerProbe:
    """The probe and its post models (``models``: family -> model, with "default"; feature ``answer_probe``)."""
    from .calibration import _eligible, _matrix, fit_logistic, fit_model, standardise

    records = list(records)
    n = len(records)
    hidden = np.stack([decode_hidden(r, ANSWER_KEY) for r in records])
    wrong = np.array([0.0 if r["correct"] else 1.0 for r in records])
    families = [f for f in sorted({r["family"] for r in records}) if _eligible(records, f, min_family, min_class)]
    blocks = [(f, DEFAULT_FEATURES["post"], [i for i, r in enumerate(records) if r["family"] == f]) for f in families]
    rest = [i for i, r in enumerate(records) if r["family"] not in families]
    if rest:
        blocks.append(("default", DEFAULT_FEATURES["post_default"], rest))

    k = max(1, min(components, n - 1, hidden.shape[1]))
    center, basis = principal_axes(hidden, k)
    comps = (hidden - center) @ basis
    comp_mean, comp_std = standardise(comps)

    columns, layout = [], []
    for name, features, rows in blocks:
        X = _matrix([records[i] for i in rows], features)
        mean, std = standardise(X)
        block = np.zeros((n, len(features) + 1))
        block[rows, :-1] = (X - mean) / std
        block[rows, -1] = 1.0  # the block's own intercept (penalised; the shared bias is not)
        columns.append(block)
        layout.append((name, features, mean, std))
    w, b = fit_logistic(np.hstack([*columns, (comps - comp_mean) / comp_std]), wrong, l2=l2)

    models: dict[str, LogisticModel] = {}
    offset = 0
    for name, features, mean, std in layout:
        size = len(features)
        models[name] = LogisticModel(
            (*features, PROBE_SIGNAL),
            (*map(float, mean), 0.0),
            (*map(float, std), 1.0),
            (*map(float, w[offset : offset + size]), 1.0),
            float(b + w[offset + size]),
            0.5,
        )
        offset += size + 1
    scaled = w[offset:] / comp_std
    v = basis @ scaled
    probe = AnswerProbe(
        tuple(float(x) for x in v),
        float(-np.dot(scaled, comp_mean) - np.dot(v, center)),
        ANSWER_KEY,
        int(k),
        dict(meta or {}),
    )
    if "default" not in models:
        scored = [{**r, "signals": {**r["signals"], **probe.signals(h)}} for r, h in zip(records, hidden)]
        models["default"] = fit_model(scored, (*DEFAULT_FEATURES["post_default"], PROBE_SIGNAL), l2=l2)
    return replace(probe, models=models)


def post_probability(probe: AnswerProbe, record: Mapping[str, Any]) -> float:
    """P(wrong) of one record under the probe's jointly fitted post models (its state from the record)."""
    model = probe.models.get(record["family"]) or probe.models["default"]
    return model.probability({**record["signals"], **probe.signals(decode_hidden(record, ANSWER_KEY))})
