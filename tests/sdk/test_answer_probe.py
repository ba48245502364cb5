"""The answer probe: post models fitted jointly with a linear term on the answer's mean hidden state, its file
section, its decisions with and without a state, and HybridClient reading it from a real tiny model's answer."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import httpx
import numpy as np
import pytest
from edgekit.runtime.errors import ConfigError
from edgekit.sdk import CloudClient, CloudConfig, HybridClient
from edgekit.sdk.hybrid_answer import EventKind, Route
from edgekit.sdk.policy.answer_fit import fit_post_with_probe, post_probability
from edgekit.sdk.policy.answer_probe import MISSING_SIGNAL, PROBE_SIGNAL, AnswerProbe, probe_state
from edgekit.sdk.policy.base import BASE_FAMILIES, DEFAULT_FEATURES
from edgekit.sdk.policy.calibration import calibrate, cross_validated_scores
from edgekit.sdk.policy.metrics import auroc
from edgekit.sdk.policy.policy import LogisticModel, Policy

from .conftest import KEY_ENV, Recorder, completion_body, sse_body

WIDTH = 32


def _records(n: int = 400, seed: int = 0) -> list[dict]:
    """Records whose label is carried by one direction of the answer state, not by any signal."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=WIDTH)
    direction /= np.linalg.norm(direction)
    names = sorted(set(DEFAULT_FEATURES["post"]))
    out = []
    for i in range(n):
        wrong = bool(rng.random() < 0.5)
        h = rng.normal(size=WIDTH) + (1.5 if wrong else -1.5) * direction
        out.append(
            {
                "question": f"What is {i} + 1?",
                "family": ("arithmetic", "fact", "general")[i % 3],
                "signals": {name: float(rng.normal()) for name in names},
                "correct": not wrong,
                "hidden": {"answer_mean": base64.b64encode(h.astype("<f4").tobytes()).decode("ascii")},
            }
        )
    return out


def test_joint_fit_reads_the_state_that_carries_the_label():
    records = _records()
    wrong = np.array([not r["correct"] for r in records])
    _, blind = cross_validated_scores(records, min_family=30, min_class=10)
    _, probed = cross_validated_scores(records, min_family=30, min_class=10, answer_probe=True)
    assert auroc(blind, wrong) < 0.65  # the signals are noise here
    assert auroc(probed, wrong) > 0.9


def test_joint_models_fold_into_one_probe_feature():
    records = _records(300)
    probe = fit_post_with_probe(records, min_family=30, min_class=10, components=8)
    models = probe.models
    assert set(models) == {"arithmetic", "fact", "general", "default"} and probe.hidden_size == WIDTH
    for family in ("arithmetic", "fact", "general"):  # fitted jointly: the probe's score enters the logit as it is
        model = models[family]
        i = model.features.index(PROBE_SIGNAL)
        assert (model.mean[i], model.std[i], model.weights[i]) == (0.0, 1.0, 1.0)
    # every family had a model of its own, so the fallback is a pooled fit that weighs the probe's score itself
    assert PROBE_SIGNAL in models["default"].features and models["default"].weights[-1] > 0.5
    scores = [
        probe.signals(np.frombuffer(base64.b64decode(r["hidden"]["answer_mean"]), "<f4"))[PROBE_SIGNAL] for r in records
    ]
    assert abs(float(np.mean(scores))) < 1e-3  # centred on the rows it was fitted on: 0 is the average answer
    r = records[0]
    model = models[r["family"]]
    h = np.frombuffer(base64.b64decode(r["hidden"]["answer_mean"]), "<f4").astype(np.float64)
    by_hand = model.probability({**r["signals"], PROBE_SIGNAL: probe.bias + float(np.dot(probe.weights, h))})
    assert post_probability(probe, r) == pytest.approx(by_hand, abs=1e-12)


def test_calibrate_writes_a_version_3_policy_that_round_trips(tmp_path):
    result = calibrate(_records(), target_rate=0.3, early_tokens=0)
    policy = result.policy
    assert policy.answer_probe is not None and policy.to_dict()["version"] == 3
    # the signal models stay for the answers the probe does not read, at the same threshold
    assert all(PROBE_SIGNAL not in m.features for m in policy.post_models.values())
    assert {m.threshold for m in policy.post_models.values()} == {
        m.threshold for m in policy.answer_probe.models.values()
    }
    assert result.report["cv_auroc_post"] > 0.9 and result.report["answer_probe_components"] == 16
    assert Policy.load(policy.save(tmp_path / "p.json")) == policy
    without = calibrate(_records(), target_rate=0.3, early_tokens=0, answer_probe=False).policy
    assert without.answer_probe is None and without.to_dict()["version"] == 1


READS = LogisticModel((PROBE_SIGNAL,), (0.0,), (1.0,), (1.0,), 0.0, 0.5)  # p = sigmoid(answer_probe)
NEVER = LogisticModel(("mean_logprob",), (0.0,), (1.0,), (0.0,), -3.0, 0.5)  # p = 0.047: keeps every answer


def test_decide_reads_the_state_and_leaves_the_rest_to_the_signal_models():
    probe = AnswerProbe((1.0, -1.0), 0.5, models={"default": READS})
    policy = Policy(families=BASE_FAMILIES, post_models={"default": NEVER}, answer_probe=probe)
    signals = {"mean_logprob": -1.0}
    hit = policy.decide("general", signals, answer_hidden=np.array([2.0, 0.0], dtype=np.float32))
    assert hit.escalate and hit.signals[PROBE_SIGNAL] == pytest.approx(2.5) and hit.signals[MISSING_SIGNAL] == 0.0
    miss = policy.decide("general", signals, answer_hidden=[0.0, 3.0])
    assert not miss.escalate and miss.signals[PROBE_SIGNAL] == pytest.approx(-2.5)
    for absent in (None, [1.0, 2.0, 3.0]):  # no state, or a model of another width: the signal models decide
        blind = policy.decide("general", signals, answer_hidden=absent)
        assert blind.signals[PROBE_SIGNAL] == 0.0 and blind.signals[MISSING_SIGNAL] == 1.0
        assert blind.probability == pytest.approx(NEVER.probability(signals)) and not blind.escalate


def test_probe_state_leaves_out_tool_calls_and_requests_that_offered_tools():
    class Answer:
        answer_hidden_mean = np.ones(2)
        tool_calls: tuple = ()

    assert probe_state(Answer()) is Answer.answer_hidden_mean
    assert probe_state(Answer(), tools_offered=True) is None
    called = Answer()
    called.tool_calls = ("a call",)
    assert probe_state(called) is None


def test_bad_answer_probe_sections_are_refused_by_name():
    with pytest.raises(ConfigError, match='only the models of "answer_probe" read'):
        Policy(post_models={"default": READS})
    with pytest.raises(ConfigError, match="models default do not read 'answer_probe'"):
        AnswerProbe((1.0,), 0.0, models={"default": NEVER})
    probe = AnswerProbe((1.0,), 0.0, models={"default": READS})
    good = Policy(post_models={"default": NEVER}, answer_probe=probe).to_dict()
    assert Policy.from_dict(json.loads(json.dumps(good))).answer_probe == probe
    cases = [
        ({**good, "version": 2}, "needs policy version 3"),
        ({**good, "answer_probe": {**good["answer_probe"], "state": "prompt"}}, "state 'prompt' is unknown"),
        ({**good, "answer_probe": {**good["answer_probe"], "hidden_size": 4}}, "hidden_size 4 but 1 weights"),
        ({**good, "answer_probe": {**good["answer_probe"], "weights": []}}, "weights is empty"),
        ({**good, "answer_probe": {"bias": 0.0}}, "answer_probe is malformed"),
        ({**good, "answer_probe": {**good["answer_probe"], "models": [1]}}, "answer_probe.models must be an object"),
        ({**good, "answer_probe": {**good["answer_probe"], "bias": float("nan")}}, "finite"),
        ({**good, "version": 4}, "version 4 is not supported"),
    ]
    for data, message in cases:
        with pytest.raises(ConfigError, match=message):
            Policy.from_dict(data)


def _client(local, recorder, policy):
    cfg = CloudConfig(base_url="https://cloud.example/v1", model="big", api_key_env=KEY_ENV, max_retries=1)
    cloud = CloudClient(cfg, transport=recorder.transport, sleep=[].append)
    return HybridClient(local, cfg, policy, cloud_client=cloud, generation={"max_new_tokens": 6})


@pytest.mark.parametrize("streamed", [False, True])
def test_hybrid_client_reads_the_answer_state_of_the_local_model(tiny_local, api_key, streamed):
    """The probe's score is computed on the real answer's mean state: aimed at it (+1) it escalates, aimed away
    (-1) it keeps the local answer; ask and stream decide alike."""
    q = [{"role": "user", "content": "What is the capital of France?"}]
    h = tiny_local.generate(q, max_new_tokens=6, temperature=0.0).answer_hidden_mean
    assert h is not None
    for offset, escalates in ((1.0, True), (-1.0, False)):
        bias = offset - float(np.dot(h.astype(np.float64), h))
        probe = AnswerProbe(tuple(float(x) for x in h), bias, models={"default": READS})
        policy = Policy(families=BASE_FAMILIES, post_models={"default": NEVER}, answer_probe=probe)
        reply = (
            httpx.Response(200, content=sse_body(["Par", "is"]))
            if streamed
            else httpx.Response(200, json=completion_body("Paris"))
        )
        client = _client(tiny_local, Recorder([reply]), policy)
        if streamed:
            events = list(client.stream(q, temperature=0.0))
            assert events[-1].kind is EventKind.FINAL
            answer = events[-1].answer
        else:
            answer = client.ask(q, temperature=0.0)
        assert answer.signals[PROBE_SIGNAL] == pytest.approx(offset, abs=1e-3)
        assert answer.signals[MISSING_SIGNAL] == 0.0
        assert (answer.route is Route.CLOUD) is escalates, answer.rule
        assert answer.rule == ("post:model:fact" if escalates else "post:accept")


def test_shipped_policy_reads_the_default_models_width():
    policy = Policy.default()
    assert policy.answer_probe is not None and policy.answer_probe.hidden_size == 576
    assert all(PROBE_SIGNAL in m.features for m in policy.answer_probe.models.values())
    assert set(policy.answer_probe.models) == set(policy.post_models)
    # a stated target moves the thresholds of both sets of models alike
    aimed = policy.at_operating_point(max_escalation_rate=0.3)
    assert aimed.answer_probe is not None
    thresholds = {m.threshold for m in (*aimed.post_models.values(), *aimed.answer_probe.models.values())}
    assert len(thresholds) == 1 and thresholds != {m.threshold for m in policy.post_models.values()}
    assert replace(policy, answer_probe=None, post_models={}).to_dict()["version"] == 1
