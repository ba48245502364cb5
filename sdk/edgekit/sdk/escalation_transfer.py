"""Generalisation: fit the policy on one labelled set, measure it on another that was built differently.

``edgekit eval escalation`` cross-validates within one set; its folds share phrasings and task families, so the
figures say little about questions asked otherwise. ``transfer_report`` fits the policy (calibration.calibrate, the
same fit ``edgekit calibrate`` writes) on the ``--fit-records`` and runs it, as the client would (router, early
hand-off over the stored tokens, post stage at the fitted default point), on the test records. It reports what
the in-set report does (escalation_eval._block: AUROC, accuracy at fixed escalation rates, per family) and
what the stated operating point gives there: the share escalated, the accuracy reached, and the calibration
error of the post model's probabilities on questions it never saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .policy.answer_fit import record_state
from .policy.early_fit import prefix_rows
from .policy.metrics import expected_calibration_error, reliability
from .policy.metrics import percent_cell as _pct
from .policy.policy import Policy

__all__ = ["policy_scores", "transfer_report", "format_transfer"]


def policy_scores(policy: Policy, records: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Per record, what ``policy`` decides on the stored signals and tokens (no model run).

    ``score``: 1 + p for an escalation forced before the answer is complete (router, early stop), else the post
    model's p, so ranking by it is the policy's escalation order; ``escalated``: at the policy's thresholds.
    """
    n = len(records)
    p_pre, p_post, score = np.zeros(n), np.zeros(n), np.zeros(n)
    escalated = np.zeros(n, dtype=bool)
    for i, r in enumerate(records):
        routed = policy.route(r["question"], r["signals"])
        p_pre[i] = routed.probability or 0.0
        post = policy.decide(routed.family, r["signals"], answer_hidden=record_state(r))
        p_post[i] = post.probability or 0.0
        stop = None
        if not routed.escalate and policy.early is not None:
            for row in prefix_rows(r, policy.early.max_tokens):
                stop = policy.stop_early(routed.family, row)
                if stop is not None:
                    break
        if routed.escalate:
            score[i], escalated[i] = 1.0 + p_pre[i], True
        elif stop is not None:
            score[i], escalated[i] = 1.0 + (stop.probability or 0.0), True
        else:
            score[i], escalated[i] = p_post[i], post.escalate
    return {"p_pre": p_pre, "p_post": p_post, "score": score, "escalated": escalated}


def transfer_report(
    fit_records: Sequence[Mapping[str, Any]],
    test_records: Sequence[Mapping[str, Any]],
    *,
    target_rate: float | None = 0.3,
    target_accuracy: float | None = None,
    folds: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    from .escalation_eval import _block
    from .policy.calibration import calibrate

    fitted = calibrate(fit_records, target_rate=target_rate, target_accuracy=target_accuracy, folds=folds, seed=seed)
    s = policy_scores(fitted.policy, test_records)
    correct = np.array([bool(r["correct"]) for r in test_records])
    cloud = np.array([True if r.get("cloud_correct") is None else bool(r["cloud_correct"]) for r in test_records])
    wrong = ~correct
    point = fitted.report["operating_point"]
    families: dict[str, Any] = {}
    for family in sorted({r["label_family"] for r in test_records}):
        idx = [i for i, r in enumerate(test_records) if r["label_family"] == family]
        families[family] = _block([test_records[i] for i in idx], s["p_pre"][idx], s["p_post"][idx], s["score"][idx])
        families[family]["at_default_point"] = _at_point(s["escalated"][idx], correct[idx], cloud[idx])
    overall = _block(test_records, s["p_pre"], s["p_post"], s["score"])
    overall["at_default_point"] = _at_point(s["escalated"], correct, cloud)
    overall["ece_post"] = expected_calibration_error(s["p_post"], wrong)
    overall["reliability_post"] = reliability(s["p_post"], wrong)
    return {
        "fit_n": len(fit_records),
        "test_n": len(test_records),
        "default_point_on_fit_set": point,
        "fit_cv_auroc_policy": fitted.report["cv_auroc_policy"],
        "fit_cv_ece_post": fitted.report["cv_ece_post"],
        "overall": overall,
        "families": families,
    }


def _at_point(escalated: np.ndarray, correct: np.ndarray, cloud: np.ndarray) -> dict[str, float]:
    return {
        "escalation_rate": float(escalated.mean()) if len(escalated) else float("nan"),
        "accuracy": float(np.where(escalated, cloud, correct).mean()) if len(escalated) else float("nan"),
    }


def format_transfer(report: Mapping[str, Any]) -> str:
    point = report["default_point_on_fit_set"]
    lines = [
        f"transfer: fitted on {report['fit_n']} other records (cross-validated there: AUROC "
        f"{report['fit_cv_auroc_policy']:.3f}, ECE {report['fit_cv_ece_post']:.3f}; default point "
        f"{_pct(point['escalation_rate'])}% escalated for {_pct(point['accuracy'])}% accuracy), measured on these "
        f"{report['test_n']}",
        f"{'family':<12}{'n':>5}{'local acc':>11}{'AUROC policy':>14}{'post':>7}{'escalated':>11}{'accuracy':>10}"
        f"   accuracy at 10/20/30% escalated [oracle]",
    ]
    blocks = [("overall", report["overall"])] + list(report["families"].items())
    for name, b in blocks:
        at = b["at_default_point"]
        curve = "  ".join(
            f"{_pct(b['accuracy_at']['policy'][k])} [{_pct(b['accuracy_at']['oracle'][k])}]"
            for k in ("10%", "20%", "30%")
        )
        lines.append(
            f"{name:<12}{b['n']:>5}{_pct(b['local_accuracy']):>11}{b['auroc_policy']:>14.3f}{b['auroc_post']:>7.3f}"
            f"{_pct(at['escalation_rate']):>11}{_pct(at['accuracy']):>10}   {curve}"
        )
    lines.append(f"calibration error of the post model here (ECE, 10 bins): {report['overall']['ece_post']:.3f}")
    return "\n".join(lines)
