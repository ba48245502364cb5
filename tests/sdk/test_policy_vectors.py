"""tests/vectors/policy_vectors.json: recorded signal values -> the Python policy's decisions.

The Android (Java) and web (JS) reimplementations check the same file; here we
check that the Python decision function still produces every recorded decision.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgekit.sdk.policy.policy import Policy
from edgekit.sdk.policy.vectors import decide_vector

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "policy_vectors.json"


def test_vectors_match_the_python_policy():
    data = json.loads(VECTORS.read_text())
    policy = Policy.from_dict(data["policy"])
    assert len(data["vectors"]) >= 20
    stages = {v["expected"]["rule"].split(":")[0] + ":" + v["expected"]["rule"].split(":")[1] for v in data["vectors"]}
    assert {"router:local", "post:accept"} <= stages or len(stages) >= 2
    for vector in data["vectors"]:
        got = decide_vector(policy, vector["question"], vector["signals"], vector.get("privacy", "allow"))
        exp = vector["expected"]
        assert (got["escalate"], got["rule"], got["family"]) == (exp["escalate"], exp["rule"], exp["family"]), vector[
            "question"
        ]
        if exp["probability"] is not None:
            assert got["probability"] == pytest.approx(exp["probability"], abs=1e-12)


def test_vectors_policy_is_the_shipped_default():
    data = json.loads(VECTORS.read_text())
    assert Policy.from_dict(data["policy"]) == Policy.default()
