"""Hidden-state probes (policy/probe.py): by construction on synthetic states, and from a real tiny bundle.

Synthetic: records whose wrongness is a linear function of a hidden direction that today's signals do not see;
the out-of-fold probe must find it (and a state of pure noise must not). Real: ``edgekit eval escalation``'s
records carry the tiny bundle's hidden states exactly as ``Result`` holds them.
"""

from __future__ import annotations

import numpy as np
import pytest
from edgekit.runtime import load
from edgekit.sdk.escalation_eval import collect_records, escalation_report, format_report
from edgekit.sdk.policy.base import BASE_FAMILIES
from edgekit.sdk.policy.calibration import calibrate
from edgekit.sdk.policy.policy import Policy
from edgekit.sdk.policy.probe import decode_hidden, encode_hidden, fit_probe, has_hidden, probe_scores
from edgekit.sdk.policy.signals import POST_SIGNALS, PRE_SIGNALS

HIDDEN = 48


class _States:
    def __init__(self, prompt: np.ndarray, answer: np.ndarray):
        self.prompt_hidden, self.answer_hidden = prompt.astype(np.float32), answer.astype(np.float32)


def _records(n: int = 240, seed: int = 0, informative: bool = True) -> list[dict]:
    """Signals are noise; the answer state (and, weaker, the prompt state) carries the label when informative."""
    rng = np.random.default_rng(seed)
    direction = np.zeros(HIDDEN)
    direction[:8] = rng.normal(size=8)  # within the leading principal axes, which a 16-component probe keeps
    direction /= np.linalg.norm(direction)
    records = []
    for i in range(n):
        family = ["arithmetic", "fact", "reasoning"][i % 3]
        wrong = bool(rng.random() < 0.4)
        base = rng.normal(size=(2, HIDDEN)) * np.linspace(3.0, 0.5, HIDDEN)  # PCA has real structure to find
        shift = (3.0 if wrong else -3.0) if informative else 0.0
        prompt, answer = base[0] + 0.5 * shift * direction, base[1] + shift * direction
        signals = {name: float(rng.normal()) for name in PRE_SIGNALS + POST_SIGNALS}
        signals["context_overflow"] = 0.0
        records.append(
            {
                "question": f"q{i}",
                "family": family,
                "label_family": family,
                "correct": not wrong,
                "cloud_correct": None,
                "signals": signals,
                "hidden": encode_hidden(_States(prompt, answer)),
            }
        )
    return records


def test_hidden_states_round_trip_through_a_record():
    state = np.arange(HIDDEN, dtype=np.float32) / 7
    record = {"hidden": encode_hidden(_States(state, -state))}
    assert np.array_equal(decode_hidden(record, "prompt"), state) and np.array_equal(
        decode_hidden(record, "answer"), -state
    )
    assert "answer_mean" not in record["hidden"]  # optional: a result without the mean still has a record
    with_mean = _States(state, -state)
    with_mean.answer_hidden_mean = 2 * state
    assert np.array_equal(decode_hidden({"hidden": encode_hidden(with_mean)}, "answer_mean"), 2 * state)
    no_states = _States(state, state)
    no_states.prompt_hidden = None  # a bundle without the output: no states, no record field
    assert encode_hidden(no_states) is None


def test_probe_finds_a_direction_the_signals_miss():
    records = _records()
    report = escalation_report(records, folds=5)
    auroc = report["probe"]["auroc"]["overall"]
    assert auroc["post_probe"] > 0.85 and auroc["post_both"] > 0.8  # the answer state carries the label (Bayes ~0.93)
    assert auroc["pre_probe"] > 0.65  # the prompt state, weaker (Bayes ~0.77)
    assert abs(auroc["post_signals"] - 0.5) < 0.15  # today's signals are noise here
    assert set(report["probe"]["auroc"]) == {"overall", "arithmetic", "fact", "reasoning"}
    text = format_report(report)
    assert "hidden-state probe vs today's signals" in text and "post probe" in text


def test_probe_on_noise_is_at_chance():
    scores = probe_scores(_records(seed=3, informative=False), "post", with_signals=False)
    from edgekit.sdk.policy.metrics import auroc

    wrong = [not r["correct"] for r in _records(seed=3, informative=False)]
    assert abs(auroc(scores, wrong) - 0.5) < 0.12  # out of fold: no leak from the fitted rows


def test_pca_is_fitted_on_the_training_rows_only():
    rng = np.random.default_rng(0)
    hidden, wrong = rng.normal(size=(30, HIDDEN)), rng.random(30) < 0.5
    probe = fit_probe(hidden, np.zeros((30, 0)), wrong, components=8)
    assert probe.basis.shape == (HIDDEN, 8)
    np.testing.assert_allclose(probe.basis.T @ probe.basis, np.eye(8), atol=1e-9)  # orthonormal axes
    np.testing.assert_allclose(probe.center, hidden.mean(axis=0))
    assert fit_probe(hidden[:5], np.zeros((5, 0)), wrong[:5], components=8).basis.shape == (HIDDEN, 4)


def test_calibrate_reports_the_probes_beside_the_policy():
    result = calibrate(_records(), target_rate=0.3)
    comparison = result.report["probe_comparison"]["auroc"]["overall"]
    assert comparison["post_probe"] > 0.85
    assert comparison["post_signals"] == pytest.approx(result.report["cv_auroc_post"])


def test_records_without_hidden_states_get_no_probe_block():
    records = _records()
    for r in records:
        del r["hidden"]
    assert not has_hidden(records) and "probe" not in escalation_report(records)


def test_eval_records_carry_the_bundles_hidden_states(tiny_bundle):
    model = load(tiny_bundle("fp32"), threads=1)
    items = [{"id": "a1", "family": "arithmetic", "question": "What is 2 + 3?", "checker": "number", "expected": 5}]
    [record] = collect_records(model, items, Policy(families=BASE_FAMILIES), max_new_tokens=6)
    result = model.generate(
        [{"role": "user", "content": items[0]["question"]}], max_new_tokens=6, temperature=0.0, context_policy="signal"
    )
    assert record["text"] == result.text
    np.testing.assert_array_equal(decode_hidden(record, "prompt"), result.prompt_hidden)
    np.testing.assert_array_equal(decode_hidden(record, "answer"), result.answer_hidden)
    assert decode_hidden(record, "answer").shape == (64,)
