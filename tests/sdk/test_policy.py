"""The policy file and its decision function (what the Java/web demos reproduce)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from edgekit.runtime.errors import ConfigError, UnknownNameError
from edgekit.sdk.evalset import load_items
from edgekit.sdk.policy.base import BASE_FAMILIES, BASE_ROUTER_RULES
from edgekit.sdk.policy.policy import LogisticModel, Policy, RouterRule
from edgekit.sdk.policy.signals import pre_signals

M = LogisticModel(("n_digits", "mean_logprob"), (2.0, -1.0), (4.0, 0.5), (1.5, -2.0), -0.3, 0.6)


def test_logistic_probability_is_the_documented_formula():
    signals = {"n_digits": 7.0, "mean_logprob": -1.8}
    z = np.array([(7.0 - 2.0) / 4.0, (-1.8 + 1.0) / 0.5])
    expected = 1.0 / (1.0 + np.exp(-(-0.3 + np.dot([1.5, -2.0], z))))
    assert M.probability(signals) == pytest.approx(float(expected), rel=1e-12)
    assert M.probability({"n_digits": -1e6, "mean_logprob": 0}) == pytest.approx(0.0, abs=1e-300)  # no overflow


def test_two_stage_decisions():
    pol = Policy(
        families=BASE_FAMILIES,
        router_rules=(RouterRule("secret_word", "keywords", words=("quantum",)),),
        router_models={"arithmetic": LogisticModel(("max_number_len",), (2.0,), (1.0,), (3.0,), 0.0, 0.9)},
        post_models={"default": M},
    )
    q = "What is 123 * 456?"
    d = pol.route(q, pre_signals(q))
    assert d.escalate and d.rule == "router:model:arithmetic" and d.family == "arithmetic" and d.probability > 0.9
    q = "What is 2 + 3?"
    d = pol.route(q, pre_signals(q))
    assert not d.escalate and d.rule == "router:local"
    d = pol.route("Explain quantum tunnelling", pre_signals("Explain quantum tunnelling"))
    assert d.escalate and d.rule == "router:rule:secret_word" and d.family == "general"
    post = pol.decide("fact", {"n_digits": 0.0, "mean_logprob": -3.0, "context_overflow": 0.0})
    assert post.escalate and post.rule == "post:model:fact" and post.threshold == 0.6
    post = pol.decide("fact", {"n_digits": 0.0, "mean_logprob": -0.1, "context_overflow": 0.0})
    assert not post.escalate and post.rule == "post:accept"
    post = pol.decide("fact", {"n_digits": 0.0, "mean_logprob": -0.1, "context_overflow": 1.0})
    assert post.escalate and post.rule == "post:context_overflow"
    local = pol.with_privacy("local-only")
    assert local.route("Explain quantum", {}).rule == "privacy:local-only"
    assert not local.decide("fact", {"context_overflow": 1.0}).escalate


@pytest.mark.parametrize(
    "kind, kw, question, hit",
    [
        ("regex", {"pattern": r"\bintegral\b"}, "Compute the Integral of x", True),
        ("keywords", {"words": ("tax",)}, "syntax error", False),
        ("keywords", {"words": ("tax",)}, "my tax return", True),
        ("min_chars", {"value": 10}, "short", False),
        ("min_digits", {"value": 4}, "12 34", True),
        ("family", {"families": ("arithmetic",)}, "What is 1 + 1?", True),
    ],
)
def test_router_rule_kinds(kind, kw, question, hit):
    pol = Policy(families=BASE_FAMILIES, router_rules=(RouterRule("r", kind, **kw),))
    assert pol.route(question, pre_signals(question)).escalate is hit


def test_file_round_trip(tmp_path):
    pol = Policy(
        families=BASE_FAMILIES,
        router_rules=BASE_ROUTER_RULES,
        post_models={"default": M},
        router_models={"fact": M},
        generation={"max_new_tokens": 48},
        meta={"x": 1},
    )
    path = pol.save(tmp_path / "p.json")
    assert Policy.load(path) == pol
    assert Policy.load(path, privacy="local-only").privacy == "local-only"


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(format="nope"), "not an edgekit policy file"),
        (lambda d: d.update(version=99), "version 99 is not supported"),
        (lambda d: d["post"]["models"]["default"].update(std=[0.0, 1.0]), "std must be > 0"),
        (lambda d: d["post"]["models"]["default"].update(weights=[1.0]), "same length"),
        (lambda d: d["post"]["models"]["default"].update(threshold=2), "threshold 2.0"),
        (lambda d: d["post"]["models"]["default"].pop("bias"), "malformed"),
        (lambda d: d["families"].append({"name": "x", "pattern": "(("}), "bad regex"),
        (lambda d: d.update(privacy="sometimes"), "privacy='sometimes' is unknown"),
    ],
)
def test_bad_policy_files_fail_clearly(tmp_path, mutate, message):
    data = Policy(families=BASE_FAMILIES, post_models={"default": M}).to_dict()
    mutate(data)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=message):
        Policy.load(path)


def test_unknown_rule_kind_and_missing_file(tmp_path):
    with pytest.raises(UnknownNameError, match="known router rule kinds: family, keywords, min_chars"):
        RouterRule("r", "vibes")
    with pytest.raises(ConfigError, match="does not exist; write one with `edgekit calibrate`"):
        Policy.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        Policy.load(tmp_path / "bad.json")


def test_missing_signal_is_named():
    with pytest.raises(ConfigError, match="needs signal 'mean_logprob'"):
        M.probability({"n_digits": 1.0})


def test_families_classify_the_shipped_set_as_labelled():
    pol = Policy(families=BASE_FAMILIES)
    items = load_items()
    agree = sum(pol.classify(i["question"]) == i["family"] for i in items)
    assert agree == len(items)
    assert pol.classify("Tell me a joke") == "general"


def test_default_policy_file_loads_and_is_fitted():
    pol = Policy.default()
    assert pol.post_models and pol.families == BASE_FAMILIES
    assert pol.meta["calibration"]["cv_auroc_policy"] > 0.5
    assert not math.isnan(pol.meta["calibration"]["local_accuracy"])


@pytest.mark.parametrize(
    "question",
    ["What is 48271 times 9343?", "what's 12 multiplied by 7", "How much is 100 divided by 4?", "Compute 3 minus 8."],
)
def test_arithmetic_in_words_is_arithmetic(question):
    """Operators in words reach the arithmetic family (and its router model), not the catch-all "general"."""
    assert Policy(families=BASE_FAMILIES).classify(question) == "arithmetic"


def test_word_lookalikes_stay_out_of_arithmetic():
    pol = Policy(families=BASE_FAMILIES)
    assert pol.classify("What is 5 timesheets 3?") != "arithmetic"
    assert pol.classify("What is the plus side of 3 days?") != "arithmetic"


def test_default_policy_escalates_a_long_product_in_words_before_generating():
    pol = Policy.default()
    question = "What is 48271 times 9343?"
    decision = pol.route(question, pre_signals(question))
    assert decision.family == "arithmetic"
    assert decision.escalate and decision.rule == "router:model:arithmetic", decision
