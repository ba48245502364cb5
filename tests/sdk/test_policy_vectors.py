"""tests/vectors/policy_vectors.json: recorded signal values -> the Python policy's decisions.

The Android (Java) and web (JS) reimplementations check the same file; here we
check that the Python decision function still produces every recorded decision.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgekit.sdk.policy.policy import Policy
from edgekit.sdk.policy.vectors import decide_vector, vector_hidden

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "policy_vectors.json"


def test_vectors_match_the_python_policy():
    data = json.loads(VECTORS.read_text())
    policy = Policy.from_dict(data["policy"])
    assert len(data["vectors"]) >= 20
    stages = {v["expected"]["rule"].split(":")[0] + ":" + v["expected"]["rule"].split(":")[1] for v in data["vectors"]}
    assert {"router:local", "post:accept"} <= stages or len(stages) >= 2
    for vector in data["vectors"]:
        got = decide_vector(
            policy, vector["question"], vector["signals"], vector.get("privacy", "allow"), vector_hidden(vector)
        )
        exp = vector["expected"]
        assert (got["escalate"], got["rule"], got["family"]) == (exp["escalate"], exp["rule"], exp["family"]), vector[
            "question"
        ]
        if exp["probability"] is not None:
            assert got["probability"] == pytest.approx(exp["probability"], abs=1e-12)


def test_vectors_policy_is_the_shipped_default():
    data = json.loads(VECTORS.read_text())
    assert Policy.from_dict(data["policy"]) == Policy.default()


def test_vectors_carry_answer_states_that_change_decisions():
    """The shipped policy's answer probe reads the states in the file: its score moves every post probability, and
    without the state (a bundle without hidden outputs) the decision falls back to the probe's mean score."""
    data = json.loads(VECTORS.read_text())
    policy = Policy.from_dict(data["policy"])
    assert policy.answer_probe is not None
    with_state = [v for v in data["vectors"] if "answer_hidden" in v]
    assert len(with_state) >= 20
    moved = 0
    for vector in with_state:
        hidden = vector_hidden(vector)
        assert hidden is not None and hidden.shape == (policy.answer_probe.hidden_size,)
        got = decide_vector(policy, vector["question"], vector["signals"], answer_hidden=hidden)
        blind = decide_vector(policy, vector["question"], vector["signals"])
        moved += abs(got["probability"] - blind["probability"]) > 1e-3
    assert moved >= len(with_state) // 2
