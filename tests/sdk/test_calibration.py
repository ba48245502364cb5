"""Metrics and calibration, checked against scikit-learn (dev-only reference) and by construction."""

from __future__ import annotations

import numpy as np
import pytest
from edgekit.runtime.errors import ConfigError
from edgekit.sdk.policy.calibration import calibrate, fit_logistic
from edgekit.sdk.policy.metrics import accuracy_at_rate, auroc, oracle_accuracy, random_accuracy, recovery
from edgekit.sdk.policy.signals import POST_SIGNALS, PRE_SIGNALS

from tests.fixtures.require import import_or_skip_or_fail

# scikit-learn is no extra of its own: executorch (the executorch extra, which scripts/setup.sh installs) requires it
SKLEARN_FIX = "pip install -e '.[executorch]' (it brings scikit-learn; scripts/setup.sh installs it)"
sklearn_metrics = import_or_skip_or_fail("sklearn.metrics", SKLEARN_FIX)
sklearn_linear = import_or_skip_or_fail("sklearn.linear_model", SKLEARN_FIX)


def test_auroc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.4
    s = np.round(rng.normal(size=200) + y, 1)  # rounding makes ties
    assert auroc(s, y) == pytest.approx(sklearn_metrics.roc_auc_score(y, s), abs=1e-12)
    assert np.isnan(auroc([1, 2], [True, True]))


def test_logistic_matches_sklearn_l2():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    y = (X @ [1.0, -2.0, 0.5, 0.0] + rng.normal(size=300) > 0).astype(float)
    w, b = fit_logistic(X, y, l2=2.0)
    ref = sklearn_linear.LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(X, y)  # C = 1 / l2
    assert np.allclose(w, ref.coef_[0], atol=1e-5) and b == pytest.approx(ref.intercept_[0], abs=1e-5)


def test_escalation_curves_by_hand():
    correct = [True, False, False, True, False]
    cloud = [True, True, False, True, True]
    scores = [0.1, 0.9, 0.8, 0.2, 0.3]  # wrong answers ranked first, but item 2 the cloud cannot fix
    assert accuracy_at_rate(scores, correct, cloud, 0.2) == pytest.approx(3 / 5)  # escalates item 1
    assert accuracy_at_rate(scores, correct, cloud, 0.4) == pytest.approx(3 / 5)  # + item 2, not fixable
    assert oracle_accuracy(correct, cloud, 0.4) == pytest.approx(4 / 5)  # items 1 and 4
    assert oracle_accuracy(correct, cloud, 1.0) == pytest.approx(4 / 5)
    assert random_accuracy(correct, cloud, 0.5) == pytest.approx(0.4 + 0.5 * (0.8 - 0.4))
    assert recovery(0.6, 0.4, 0.8) == pytest.approx(0.5)


def _synthetic(n=240, seed=0):
    """Records whose wrongness depends on two signals, with noise; three families."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        family = ["arithmetic", "fact", "reasoning"][i % 3]
        signals = {name: float(rng.normal()) for name in PRE_SIGNALS + POST_SIGNALS}
        signals["context_overflow"] = 0.0
        risk = 1.5 * signals["n_digits"] - 2.0 * signals["answer_logprob"] + rng.normal()
        records.append(
            {
                "question": f"q{i}",
                "family": family,
                "signals": signals,
                "correct": bool(risk < 0.3),
                "cloud_correct": None,
            }
        )
    return records


def test_calibrate_learns_a_signal_and_meets_the_target_rate():
    result = calibrate(_synthetic(), target_rate=0.3, folds=5)
    r = result.report
    assert (
        r["cv_auroc_policy"] > 0.85 and r["cv_auroc_router"] > 0.58
    )  # the router sees only n_digits of the two causes
    assert abs(r["cv_escalation_rate"] - 0.3) < 0.05
    pol = result.policy
    assert set(pol.post_models) >= {"arithmetic", "fact", "reasoning", "default"}
    # the fitted weights point the right way for the family model
    m = pol.post_models["fact"]
    assert m.weights[m.features.index("answer_logprob")] < 0 and m.weights[m.features.index("n_digits")] > 0


def test_calibrate_without_signal_is_near_chance():
    records = _synthetic(seed=3)
    rng = np.random.default_rng(5)
    for r in records:
        r["correct"] = bool(rng.random() < 0.4)
    assert 0.35 < calibrate(records, target_rate=0.2).report["cv_auroc_policy"] < 0.65


def test_target_accuracy():
    result = calibrate(_synthetic(), target_accuracy=0.9)
    point = result.report["operating_point"]
    reaching = [p for p in result.policy.operating.points if p.accuracy >= 0.9]
    assert point["accuracy"] >= 0.9 and point["escalation_rate"] == min(p.escalation_rate for p in reaching)
    assert result.report["cv_escalation_rate"] == pytest.approx(point["escalation_rate"])
    assert point["escalation_rate"] < 1.0  # the synthetic signal is good enough not to need everything


@pytest.mark.parametrize(
    "kw, message", [({"target_rate": 1.5}, "target_rate=1.5"), ({"target_accuracy": 2}, "target_accuracy=2")]
)
def test_calibrate_bad_targets(kw, message):
    with pytest.raises(ConfigError, match=message):
        calibrate(_synthetic(), **kw)


def test_calibrate_too_few_records():
    with pytest.raises(ConfigError, match="at least 10 records"):
        calibrate(_synthetic(n=6))
