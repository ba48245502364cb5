"""Fit the policy's logistic models (numpy only) and measure them by cross-validation.

A record is one labelled item the local model answered: ``{"question",
"family" (the policy's classification), "signals": {...}, "correct": bool,
"cloud_correct": bool | None}`` (what ``edgekit eval escalation --records``
writes). Per task family with enough data (>= ``min_family`` items and
>= ``min_class`` of each outcome) a model of its own is fitted; the others use
the pooled ``default`` model, whose features leave out the answer span (it
also serves "general" questions, which have no expected answer kind).

Logistic regression: L2-penalised (not the bias) Newton-Raphson / IRLS on
standardised features (Hastie, Tibshirani & Friedman, *Elements of
Statistical Learning*, §4.4.1). With ~40-140 items per family and ~14
features the penalty matters; ``l2=1.0`` was the best of {0.3, 1, 3} by
cross-validated AUROC on the shipped set. A family gets a model of its own
only with >= ``min_class`` (10) answers of each outcome: with 5, the
reasoning family of an earlier export of the default model (7 correct of 70)
overfit (its CV AUROC 0.43, against 0.56 from the pooled model).

Cross-validation: stratified k folds (seeded); every number reported by
``edgekit calibrate`` / ``edgekit eval`` is measured on out-of-fold
predictions, never on the data a model was fitted to. Thresholds:

- router (stage 1), per family: the lowest threshold at which the
  out-of-fold precision of "local answer wrong" among routed items is >=
  ``router_precision`` (default 0.98) with >= 3 items routed; else the family
  has no router model (it never routes before generation);
- early hand-off (early_fit.py): a pooled model on the first ``early_tokens``
  tokens' prefixes, its threshold chosen for ``early_precision`` as the
  router's are; an answer it stops counts as escalated;
- post (stage 2), when the records carry the answer's mean hidden state: the post models and one shared answer
  probe fitted jointly (answer_fit.py; ``answer_probe=False`` fits the signal models alone);
  one probability threshold for all families (optimal when
  probabilities are calibrated). The out-of-fold accuracy and escalation rate
  of each threshold make the operating curve (operating.py) kept in the file;
  the file's own thresholds are the curve's point for ``target_accuracy``
  (the lowest rate that reaches it) or else for ``target_rate`` (the most
  accurate point escalating at most that share).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from edgekit.runtime.errors import ConfigError

from .answer_fit import fit_post_with_probe, has_answer_states, post_probability
from .base import BASE_FAMILIES, BASE_ROUTER_RULES, DEFAULT_FEATURES
from .early_fit import fit_early
from .metrics import RATES, accuracy_at_rate, auroc, expected_calibration_error
from .operating import OperatingCurve
from .policy import LogisticModel, Policy
from .probe import has_hidden, probe_comparison

# Precision of "local answer wrong" the router and the early hand-off must reach before they escalate an answer
# unseen. They escalate ahead of the post score (at every threshold), so a looser one spends the post model's
# ranking: on the shipped records with the answer probe (out-of-fold, mean of fold seeds 0/1/2), policy AUROC
# 0.881 at 0.95 / 0.95, 0.900 at 0.97 / 0.98, 0.909 at 0.98 / 0.98 (the post stage alone: 0.904); the early
# hand-off then saves 1.1% of local decode tokens instead of 8%.
ROUTER_PRECISION = 0.98
EARLY_PRECISION = 0.98

__all__ = [
    "ROUTER_PRECISION",
    "EARLY_PRECISION",
    "fit_logistic",
    "fit_model",
    "standardise",
    "CalibrationResult",
    "calibrate",
    "cross_validated_scores",
    "cross_validated_stages",
    "two_stage_scores",
]


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 100) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-penalised logistic regression (X already standardised)."""
    n, d = X.shape
    A = np.hstack([np.ones((n, 1)), X])
    theta = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[0] = 0.0
    for _ in range(iters):
        z = np.clip(A @ theta, -40, 40)
        p = 1.0 / (1.0 + np.exp(-z))
        grad = A.T @ (p - y) + penalty * theta
        W = p * (1 - p)
        H = (A * W[:, None]).T @ A + np.diag(penalty) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(H, grad)
        theta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return theta[1:], float(theta[0])


def standardise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and stds of ``X`` (a constant column's std is 1, so it standardises to 0)."""
    mean, std = X.mean(axis=0), X.std(axis=0)
    return mean, np.where(std < 1e-9, 1.0, std)


def _matrix(records: Sequence[Mapping[str, Any]], features: Sequence[str]) -> np.ndarray:
    try:
        return np.array([[float(r["signals"][f]) for f in features] for r in records], dtype=float).reshape(
            len(records), len(features)
        )
    except KeyError as exc:
        raise ConfigError(
            f"calibration records lack signal {exc}; re-run `edgekit eval escalation --records`"
        ) from None


def fit_model(
    records: Sequence[Mapping[str, Any]], features: Sequence[str], target: str = "wrong", l2: float = 1.0
) -> LogisticModel:
    X = _matrix(records, features)
    y = np.array([0.0 if r["correct"] else 1.0 for r in records])
    mean, std = standardise(X)
    w, b = fit_logistic((X - mean) / std, y, l2=l2)
    return LogisticModel(tuple(features), tuple(map(float, mean)), tuple(map(float, std)), tuple(map(float, w)), b, 0.5)


def _eligible(records, family: str, min_family: int, min_class: int) -> bool:
    sub = [r for r in records if r["family"] == family]
    wrong = sum(1 for r in sub if not r["correct"])
    return len(sub) >= min_family and min(wrong, len(sub) - wrong) >= min_class


def fit_stage(records, stage: str, l2: float, min_family: int, min_class: int) -> dict[str, LogisticModel]:
    """Per-family models for "router" or "post", plus the pooled "default"."""
    family_features = DEFAULT_FEATURES[stage]
    default_features = DEFAULT_FEATURES["post_default"] if stage == "post" else DEFAULT_FEATURES["router"]
    models: dict[str, LogisticModel] = {}
    families = sorted({r["family"] for r in records})
    for family in families:
        if _eligible(records, family, min_family, min_class):
            models[family] = fit_model([r for r in records if r["family"] == family], family_features, l2=l2)
    models["default"] = fit_model(records, default_features, l2=l2)
    return models


def _predict(models: Mapping[str, LogisticModel], record) -> float:
    model = models.get(record["family"]) or models["default"]
    return model.probability(record["signals"])


def _folds(records, k: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    idx_by_class: dict[tuple[str, bool], list[int]] = {}
    for i, r in enumerate(records):
        idx_by_class.setdefault((r["family"], bool(r["correct"])), []).append(i)
    assignment = np.empty(len(records), dtype=int)
    offset = 0
    for key in sorted(idx_by_class):
        idx = np.array(idx_by_class[key])
        rng.shuffle(idx)
        for j, i in enumerate(idx):
            assignment[i] = (j + offset) % k
        offset += len(idx)
    return [np.where(assignment == f)[0] for f in range(k)]


def cross_validated_stages(
    records,
    *,
    folds: int = 5,
    seed: int = 0,
    l2: float = 1.0,
    min_family: int = 30,
    min_class: int = 10,
    answer_probe: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Out-of-fold (p_router, p_post of the signal models, p_post of the answer probe's models or None) for every
    record, one pass over the folds; ``answer_probe``: fit the probe's models too."""
    p_pre = np.zeros(len(records))
    p_signals = np.zeros(len(records))
    p_joint = np.zeros(len(records)) if answer_probe else None
    for test_idx in _folds(records, folds, seed):
        test = set(test_idx.tolist())
        train = [r for i, r in enumerate(records) if i not in test]
        router = fit_stage(train, "router", l2, min_family, min_class)
        post = fit_stage(train, "post", l2, min_family, min_class)
        probe = fit_post_with_probe(train, l2=l2, min_family=min_family, min_class=min_class) if answer_probe else None
        for i in test_idx:
            p_pre[i] = _predict(router, records[i])
            p_signals[i] = _predict(post, records[i])
            if p_joint is not None and probe is not None:
                p_joint[i] = post_probability(probe, records[i])
    return p_pre, p_signals, p_joint


def cross_validated_scores(records, *, answer_probe: bool = False, **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold (p_router, p_post) for every record; ``answer_probe``: the post models fitted with the probe."""
    p_pre, p_signals, p_joint = cross_validated_stages(records, answer_probe=answer_probe, **options)
    return p_pre, (p_joint if p_joint is not None else p_signals)


def router_thresholds(records, p_pre: np.ndarray, precision: float, min_routed: int = 3) -> dict[str, float]:
    """Per family: the lowest threshold with OOF precision(wrong) >= precision among >= min_routed routed items."""
    out: dict[str, float] = {}
    for family in sorted({r["family"] for r in records}):
        idx = [i for i, r in enumerate(records) if r["family"] == family]
        best = None
        for t in sorted({float(p_pre[i]) for i in idx}, reverse=True):
            routed = [i for i in idx if p_pre[i] >= t]
            wrong = sum(1 for i in routed if not records[i]["correct"])
            if len(routed) >= min_routed and wrong / len(routed) >= precision:
                best = t
            elif len(routed) >= min_routed:
                break
        if best is not None:
            out[family] = best
    return out


def two_stage_scores(records, p_pre: np.ndarray, p_post: np.ndarray, router_t: Mapping[str, float]) -> np.ndarray:
    """Routed items first (1 + p_pre), then the rest by p_post: the policy's escalation order."""
    out = np.array(p_post, dtype=float)
    for i, r in enumerate(records):
        t = router_t.get(r["family"])
        if t is not None and p_pre[i] >= t:
            out[i] = 1.0 + p_pre[i]
    return out


def _threshold_for_rate(scores: np.ndarray, rate: float) -> float:
    """Post threshold so that the share of items with score >= it is about ``rate`` (routed items count)."""
    n = len(scores)
    k = int(np.ceil(rate * n - 1e-9))
    if k <= 0:
        return 1.0
    post_only = np.sort(scores[scores <= 1.0])[::-1]
    routed = int((scores > 1.0).sum())
    need = k - routed
    if need <= 0:
        return 1.0
    if need > len(post_only):
        return 0.0
    return float(post_only[need - 1])


@dataclass
class CalibrationResult:
    policy: Policy
    report: dict[str, Any] = field(default_factory=dict)
    p_pre: np.ndarray | None = None
    p_post: np.ndarray | None = None
    scores: np.ndarray | None = None


def calibrate(
    records: Sequence[Mapping[str, Any]],
    *,
    target_rate: float | None = 0.3,
    target_accuracy: float | None = None,
    folds: int = 5,
    seed: int = 0,
    l2: float = 1.0,
    router_precision: float = ROUTER_PRECISION,
    min_family: int = 30,
    min_class: int = 10,
    generation: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
    early_tokens: int = 2,
    early_precision: float = EARLY_PRECISION,
    answer_probe: bool = True,
) -> CalibrationResult:
    """Fit a policy on ``records``. ``answer_probe``: fit the post models with the answer probe when every record
    carries its answer's mean hidden state (records of older bundles have none: the signal models alone)."""
    records = list(records)
    answer_probe = answer_probe and has_answer_states(records)
    if len(records) < 2 * folds:
        raise ConfigError(
            f"calibration needs at least {2 * folds} records, got {len(records)}; run the eval on more items"
        )
    if target_accuracy is None and (target_rate is None or not 0.0 <= target_rate <= 1.0):
        raise ConfigError(f"target_rate={target_rate!r} must be in [0, 1] (or give target_accuracy)")
    if target_accuracy is not None and not 0.0 <= target_accuracy <= 1.0:
        raise ConfigError(f"target_accuracy={target_accuracy!r} must be in [0, 1]")
    p_pre, p_signals, p_joint = cross_validated_stages(
        records, folds=folds, seed=seed, l2=l2, min_family=min_family, min_class=min_class, answer_probe=answer_probe
    )
    p_post = p_joint if p_joint is not None else p_signals
    router_t = router_thresholds(records, p_pre, router_precision)
    scores = two_stage_scores(records, p_pre, p_post, router_t)
    correct = np.array([bool(r["correct"]) for r in records])
    cloud = np.array([True if r.get("cloud_correct") is None else bool(r["cloud_correct"]) for r in records])
    default_target = {"target_accuracy": target_accuracy, "target_rate": None if target_accuracy else target_rate}
    point = _operating_curve(scores, correct, cloud, **default_target).choose()
    early = None
    if early_tokens and all(r.get("tokens") for r in records):  # records without their tokens: no early model
        # fitted for the default point: a stop is harmless when the post stage would escalate that answer anyway
        anyway = (scores > 1.0) | (scores >= point.threshold)
        early = fit_early(
            records,
            _folds(records, folds, seed),
            max_tokens=early_tokens,
            precision=early_precision,
            escalated_anyway=anyway,
            routed=scores > 1.0,
            l2=l2,
        )
        if early.early is not None:  # a stopped answer is escalated whatever its post score
            scores = np.where((early.stop_at > 0) & (scores <= 1.0), 1.0 + early.max_probability, scores)
    curve = _operating_curve(scores, correct, cloud, **default_target)
    point = curve.choose()
    post_t = point.threshold
    router_models = fit_stage(records, "router", l2, min_family, min_class)
    # the signal models decide answers the probe does not read (tool calls, no state); the probe's, the others
    post_models = fit_stage(records, "post", l2, min_family, min_class)
    probe = None
    if answer_probe:
        probe = fit_post_with_probe(
            records, l2=l2, min_family=min_family, min_class=min_class, meta={"n": len(records)}
        )
        probe = replace(probe, models={f: _with_threshold(m, post_t) for f, m in probe.models.items()})
    # a family routed by the pooled model in cross-validation gets that model under its own name and threshold
    router_final = {
        f: _with_threshold(router_models.get(f) or router_models["default"], t) for f, t in router_t.items()
    }
    post_final = {f: _with_threshold(m, post_t) for f, m in post_models.items()}
    wrong = ~correct
    report = {
        "n": len(records),
        "local_accuracy": float(correct.mean()),
        "target_accuracy": target_accuracy,
        "target_rate": None if target_accuracy is not None else target_rate,
        "operating_point": point.to_dict(),
        "post_threshold": post_t,
        "router_thresholds": router_t,
        "cv_auroc_policy": auroc(scores, wrong),
        "cv_auroc_router": auroc(p_pre, wrong),
        "cv_auroc_post": auroc(p_post, wrong),
        "cv_ece_post": expected_calibration_error(p_post, wrong),
        "cv_escalation_rate": float(((scores > 1.0) | (scores >= post_t)).mean()),
        "answer_probe_components": probe.components if probe is not None else None,
        "folds": folds,
        "seed": seed,
        "l2": l2,
        "rates": {str(r): accuracy_at_rate(scores, correct, cloud, r) for r in RATES},
    }
    if early is not None:
        report["early"] = early.report
    if has_hidden(records):  # measured beside the policy, not part of it (the policy file has no probe yet)
        report["probe_comparison"] = probe_comparison(
            records, p_pre, p_signals, folds=folds, seed=seed, p_joint=p_joint
        )
    policy = Policy(
        families=BASE_FAMILIES,
        router_rules=BASE_ROUTER_RULES,
        router_models=router_final,
        post_models=post_final,
        generation=dict(generation or {}),
        meta={**dict(meta or {}), "calibration": report},
        operating=curve,
        early=early.early if early is not None else None,
        answer_probe=probe,
    )
    return CalibrationResult(policy, report, p_pre, p_post, scores)


def _operating_curve(
    scores: np.ndarray,
    correct: np.ndarray,
    cloud: np.ndarray,
    target_accuracy: float | None = None,
    target_rate: float | None = None,
) -> OperatingCurve:
    """Out-of-fold (threshold, escalation rate, accuracy) at every 1% of escalation; forced items (routed,
    stopped early: score > 1) are escalated at every threshold."""
    thresholds, rates, accuracies = [], [], []
    for step in range(0, 101):
        t = _threshold_for_rate(scores, step / 100)
        escalated = (scores > 1.0) | (scores >= t)
        thresholds.append(t)
        rates.append(float(escalated.mean()))
        accuracies.append(float(np.where(escalated, cloud, correct).mean()))
    return OperatingCurve.measured(
        thresholds, rates, accuracies, default_target_accuracy=target_accuracy, default_max_escalation_rate=target_rate
    )


def _with_threshold(model: LogisticModel, threshold: float) -> LogisticModel:
    return LogisticModel(
        model.features, model.mean, model.std, model.weights, model.bias, float(min(1.0, max(0.0, threshold)))
    )
