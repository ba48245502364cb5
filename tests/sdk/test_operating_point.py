"""The stated operating point and early hand-off: fitted from records, chosen per client and per call, and run
end to end by HybridClient on a real tiny local model with `edgekit serve` on 127.0.0.1 as the cloud."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from edgekit.runtime.errors import ConfigError
from edgekit.sdk import CloudConfig, HybridClient, Policy
from edgekit.sdk.hybrid_answer import EventKind, Route
from edgekit.sdk.policy.base import BASE_FAMILIES, base_policy
from edgekit.sdk.policy.calibration import _folds, calibrate
from edgekit.sdk.policy.early import EarlyStop, prefix_signals
from edgekit.sdk.policy.early_fit import EARLY_FEATURES, fit_early
from edgekit.sdk.policy.metrics import expected_calibration_error, reliability
from edgekit.sdk.policy.operating import OperatingCurve, OperatingPoint
from edgekit.sdk.policy.policy import LogisticModel
from edgekit.sdk.policy.records import StoredToken, resignal, stored_result
from edgekit.sdk.policy.signals import PRE_SIGNALS, post_signals, pre_signals
from edgekit.sdk.serve import serve_in_thread

Q = [{"role": "user", "content": "What is 12 * 7?"}]
GEN = {"max_new_tokens": 6}


def _always(features=("mean_logprob",)) -> LogisticModel:  # p = 0.5 >= 0: always escalates
    return LogisticModel(tuple(features), (0.0,) * len(features), (1.0,) * len(features), (0.0,) * len(features), 0, 0)


def _never(features=("mean_logprob",)) -> LogisticModel:  # p = 0.5 < 1: never
    return LogisticModel(tuple(features), (0.0,) * len(features), (1.0,) * len(features), (0.0,) * len(features), 0, 1)


# -- metrics ------------------------------------------------------------------------------


def test_expected_calibration_error_by_hand():
    p = [0.05, 0.05, 0.95, 0.95, 0.55, 0.55]
    y = [False, False, True, True, True, False]
    assert expected_calibration_error(p, y) == pytest.approx((2 * 0.05 + 2 * 0.05 + 2 * 0.05) / 6)
    assert reliability(p, y) == [(0.05, 0.0, 2), (0.55, 0.5, 2), (0.95, 1.0, 2)]
    assert expected_calibration_error([1.0, 0.0], [False, True]) == pytest.approx(1.0)  # 1.0 falls in the last bin
    assert math.isnan(expected_calibration_error([], []))


# -- the operating curve -------------------------------------------------------------------

CURVE = OperatingCurve(
    (
        OperatingPoint(1.0, 0.10, 0.40),
        OperatingPoint(0.9, 0.30, 0.60),
        OperatingPoint(0.7, 0.50, 0.80),
        OperatingPoint(0.5, 0.70, 0.90),
        OperatingPoint(0.3, 0.90, 0.90),
    ),
    default_target_accuracy=0.8,
)


def test_curve_picks_the_least_escalation_for_an_accuracy_and_the_most_accuracy_for_a_budget():
    assert CURVE.choose().threshold == 0.7  # the file's own default: accuracy 0.8
    assert CURVE.choose(target_accuracy=0.85).threshold == 0.5  # 0.9 at 70%, not at 90%
    assert CURVE.choose(target_accuracy=0.99).threshold == 0.5  # unreachable: the best accuracy, least escalation
    assert CURVE.choose(max_escalation_rate=0.6).threshold == 0.7
    assert CURVE.choose(max_escalation_rate=0.05).threshold == 1.0  # nothing fits: the least escalating point
    assert OperatingCurve.from_dict(json.loads(json.dumps(CURVE.to_dict()))) == CURVE


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"target_accuracy": 1.5}, "target_accuracy=1.5 must be a number in [0, 1]"),
        ({"max_escalation_rate": -0.1}, "max_escalation_rate=-0.1 must be a number in [0, 1]"),
        ({"target_accuracy": True}, "target_accuracy=True must be a number"),
        ({"target_accuracy": 0.9, "max_escalation_rate": 0.2}, "not both"),
    ],
)
def test_bad_targets_are_refused_by_name(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        CURVE.choose(**kwargs)


def test_policy_at_a_point_moves_every_post_threshold_and_refuses_without_a_curve():
    pol = Policy(families=BASE_FAMILIES, post_models={"fact": _always(), "default": _never()}, operating=CURVE)
    moved = pol.at_operating_point(target_accuracy=0.85)
    assert {m.threshold for m in moved.post_models.values()} == {0.5}
    assert pol.at_operating_point() is pol
    restored = Policy.from_dict(json.loads(json.dumps(pol.to_dict())))
    assert restored.operating == CURVE and restored.to_dict()["version"] == 1  # readers of version 1 ignore it
    with pytest.raises(ConfigError, match="no measured operating curve"):
        Policy(families=BASE_FAMILIES).at_operating_point(target_accuracy=0.9)
    with pytest.raises(ConfigError, match="malformed operating curve"):
        Policy.from_dict({**pol.to_dict(), "operating": {"points": [{"threshold": 0.5}]}})


# -- records read back ------------------------------------------------------------------------


def _record(i: int, question: str, tokens, correct: bool, family_policy: Policy) -> dict:
    stored = [[t, lp, ent] for t, lp, ent in tokens]
    result = stored_result({"tokens": stored, "text": "".join(t for t, _, _ in tokens), "finish_reason": "eos"})
    family = family_policy.classify(question)
    signals = {**pre_signals(question), **post_signals(result, family_policy.answer_kind(family), question)}
    return {
        "id": f"r{i}",
        "question": question,
        "label_family": family,
        "family": family,
        "signals": signals,
        "tokens": stored,
        "text": result.text,
        "finish_reason": "eos",
        "correct": correct,
        "cloud_correct": None,
    }


def test_resignal_recomputes_family_and_answer_span_for_the_current_families():
    # taken with a policy that knew no families: "general", no answer span
    rec = _record(
        0, "Is 91 a prime number?", [("No", -0.2, 0.5), (",", -1.0, 1.0), (" it", -2.0, 2.0)], False, Policy()
    )
    assert rec["family"] == "general" and rec["signals"]["has_answer"] == 0.0
    (again,) = resignal([rec], base_policy())
    assert again["family"] == "yesno" and again["signals"]["has_answer"] == 1.0
    assert again["signals"]["answer_logprob"] == pytest.approx(-0.2) and again["correct"] is False
    with pytest.raises(ConfigError, match="no per-token numbers"):
        resignal([{"id": "x", "question": "q", "signals": {}}], base_policy())


# -- early hand-off: fitted, and run ---------------------------------------------------------------


def _synthetic_records(n=240, seed=0):
    """Answers whose first token's logprob tells wrong (-3 ± 0.5) from right (-0.3 ± 0.5) for most of them."""
    rng = np.random.default_rng(seed)
    pol = base_policy()
    out = []
    for i in range(n):
        correct = bool(rng.random() < 0.4)
        first = float(rng.normal(-0.3 if correct else -3.0, 0.5))
        tokens = [("A", first, 1.0 + float(rng.random()))] + [(" b", float(rng.normal(-0.5, 0.3)), 1.0)] * 7
        out.append(_record(i, f"What is {i} + {i + 1}?", tokens, correct, pol))
    return out


def test_fit_early_learns_the_first_token_and_meets_its_precision():
    records = _synthetic_records()
    fit = fit_early(records, _folds(records, 5, 0), max_tokens=3, precision=0.95)
    assert fit.early is not None and fit.early.model.features == EARLY_FEATURES
    stopped = fit.stop_at > 0
    wrong = np.array([not r["correct"] for r in records])
    assert fit.report["stopped_wrong_share"] >= 0.95 and wrong[stopped].mean() >= 0.95
    assert stopped.mean() > 0.4  # most of the 60% wrong answers are caught
    assert (fit.stop_at[stopped] == 1).mean() > 0.9  # and at the first token, where the sign is
    assert fit.report["tokens_saved"] == int(sum(8 - fit.stop_at[i] for i in np.nonzero(stopped)[0]))
    # outcomes the tokens do not tell: no threshold stops 50 answers that are nearly all wrong
    rng = np.random.default_rng(1)
    noise = [{**r, "correct": bool(rng.random() < 0.4)} for r in records]
    assert fit_early(noise, _folds(noise, 5, 0), max_tokens=3, precision=0.99, min_stopped=50).early is None


def test_fit_early_with_a_fold_whose_complement_generated_nothing():
    # the router holds back every question outside the first fold: that fold has nothing to learn from
    records = _synthetic_records(40)
    folds = _folds(records, 2, 0)
    routed = np.ones(len(records), dtype=bool)
    routed[folds[0]] = False
    fit = fit_early(records, folds, max_tokens=2, precision=0.95, routed=routed)
    assert fit.early is None and not (fit.stop_at > 0).any()
    assert fit.report["generated_rate"] == pytest.approx(len(folds[0]) / len(records))


def test_calibrate_writes_curve_and_early_model_and_the_file_round_trips(tmp_path):
    records = _synthetic_records()
    result = calibrate(records, target_accuracy=0.9, folds=5, early_tokens=3)
    pol = result.policy
    point = result.report["operating_point"]
    assert point["accuracy"] >= 0.9 and pol.operating is not None and pol.early is not None
    assert {m.threshold for m in pol.post_models.values()} == {point["threshold"]}
    assert result.report["early"]["stopped_rate"] > 0.3 and 0 <= result.report["cv_ece_post"] <= 1
    again = Policy.load(pol.save(tmp_path / "p.json"))
    assert again.early == pol.early and again.operating == pol.operating
    with pytest.raises(ConfigError, match="early.max_tokens=0 must be an integer >= 1"):
        EarlyStop(0, _always(EARLY_FEATURES))


def test_early_decision_stops_only_within_its_tokens():
    pol = Policy(families=BASE_FAMILIES, early=EarlyStop(2, _always(EARLY_FEATURES)))
    tokens = [StoredToken("a", -1.0, 1.0)] * 3
    pre = pre_signals("What is 12 * 7?")
    assert pol.stop_early("arithmetic", {**pre, **prefix_signals(tokens[:2])}).rule == "early:model:arithmetic"
    assert pol.early_decision("arithmetic", {**pre, **prefix_signals(tokens)}).rule == "early:continue"
    assert pol.with_privacy("local-only").stop_early("arithmetic", {**pre, **prefix_signals(tokens[:1])}) is None
    assert set(PRE_SIGNALS) < set(EARLY_FEATURES)


def _cloud(server_url: str) -> CloudConfig:
    return CloudConfig(base_url=server_url + "/v1", model="cloud-tiny", api_key_env=None, max_tokens=8, max_retries=0)


def _early_policy(**kw) -> Policy:
    return Policy(
        families=BASE_FAMILIES, post_models={"default": _never()}, early=EarlyStop(2, _always(EARLY_FEATURES)), **kw
    )


def test_stream_stops_after_the_first_token_and_escalates(tiny_local, cloud_model, cloud_server):
    with HybridClient(tiny_local, _cloud(cloud_server.url), _early_policy(), generation=GEN) as client:
        events = list(client.stream(Q))
        asked = client.ask(Q)
    local_full = tiny_local.generate(Q, **GEN)
    shown = [e for e in events if e.kind is EventKind.TOKEN and e.source == "local"]
    restart = next(e for e in events if e.kind is EventKind.RESTART)
    answer = events[-1].answer
    assert answer.route is Route.CLOUD and answer.rule == "early:model:arithmetic" and answer.stage == "early"
    assert answer.text == cloud_model.generate(Q, max_new_tokens=8).text
    assert answer.cost.local_early_tokens == 1 == answer.cost.local_completion_tokens  # no token after the stop
    assert len(local_full.token_ids) == 6  # so the stop saved five
    assert restart.replaces == ("local" if shown else "") and restart.replaced_text == "".join(e.text for e in shown)
    assert asked.route is Route.CLOUD and asked.rule == answer.rule and asked.cost.local_early_tokens == 1
    assert asked.cost.local_prompt_tokens == local_full.prompt_tokens


def test_early_stop_with_the_cloud_gone_still_gives_the_whole_local_answer(tiny_local, cloud_model):
    with serve_in_thread(cloud_model, model_id="cloud-tiny") as server:
        url = server.url
    with HybridClient(tiny_local, _cloud(url), _early_policy(), generation=GEN) as client:
        answer = client.ask(Q)
        events = list(client.stream(Q))
    full = tiny_local.generate(Q, **GEN)
    assert answer.route is Route.LOCAL_FALLBACK and answer.rule.startswith("early:") and answer.text == full.text
    assert events[-1].answer.text == full.text and events[-1].answer.route is Route.LOCAL_FALLBACK
    assert answer.cost.local_completion_tokens == 1 + len(full.token_ids)  # the stopped token, then the answer


def test_operating_point_per_client_and_per_call(tiny_local, cloud_server):
    # a curve whose 0.9-accuracy point escalates everything (threshold 0) and whose budget point nothing
    curve = OperatingCurve(
        (OperatingPoint(1.0, 0.0, 0.3), OperatingPoint(0.0, 1.0, 0.95)), default_max_escalation_rate=0.0
    )
    model = LogisticModel(("mean_logprob",), (0.0,), (1.0,), (0.0,), 0.0, 1.0)  # p = 0.5
    pol = Policy(families=BASE_FAMILIES, post_models={"default": model}, operating=curve)
    with HybridClient(tiny_local, _cloud(cloud_server.url), pol, generation=GEN) as client:
        assert client.ask(Q).route is Route.LOCAL  # the file's own point
        assert client.ask(Q, target_accuracy=0.9).route is Route.CLOUD
        assert client.ask(Q, target_accuracy=0.9, max_escalation_rate=None).threshold == 0.0
        with pytest.raises(ConfigError, match="not both"):
            client.ask(Q, target_accuracy=0.9, max_escalation_rate=0.1)
    with HybridClient(tiny_local, _cloud(cloud_server.url), pol, generation=GEN, target_accuracy=0.9) as client:
        assert client.ask(Q).route is Route.CLOUD
        assert client.ask(Q, max_escalation_rate=0.0).route is Route.LOCAL  # the call's point wins
    with pytest.raises(ConfigError, match="no measured operating curve"):
        HybridClient(tiny_local, None, Policy(families=BASE_FAMILIES), target_accuracy=0.9)


def test_shipped_policy_states_its_point_and_early_model():
    pol = Policy.default()
    assert pol.operating is not None and pol.operating.default_target_accuracy == 0.85
    point = pol.operating.choose()
    assert point.accuracy >= 0.85 and {m.threshold for m in pol.post_models.values()} == {point.threshold}
    assert pol.early is not None and pol.early.model.features == EARLY_FEATURES
    cal = pol.meta["calibration"]
    assert cal["cv_ece_post"] <= 0.05 and cal["operating_point"] == point.to_dict()


def test_no_early_stop_without_a_cloud_to_hand_off_to(tiny_local):
    with HybridClient(tiny_local, None, _early_policy(), generation=GEN) as client:
        answer = client.ask(Q)
    assert answer.cost.local_early_tokens == 0 and answer.text == tiny_local.generate(Q, **GEN).text
    assert answer.route is Route.LOCAL and answer.rule == "post:accept"
