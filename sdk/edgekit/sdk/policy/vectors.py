"""Shared test vectors for the policy: recorded signals -> decisions (tests/vectors/policy_vectors.json).

    python -m edgekit.sdk.policy.vectors RECORDS.jsonl tests/vectors/policy_vectors.json

A vector is ``{"question", "privacy", "signals": {all pre + post signals}, "answer_hidden" (policies with an
answer probe, when the record has the state: the answer's mean hidden state as base64 little-endian float32),
"expected": {"escalate", "stage", "rule", "family", "probability", "threshold"}}``; a vector without
``answer_hidden`` is decided as on a bundle without states (the probe's score 0).
The decision is the whole two-stage flow: the router's decision when it
escalates (or privacy stops it), else the post-generation decision. The file
embeds the policy it was made with, so the Java and web tests need no other input.

``early_vectors`` (policies with an early model): ``{"question", "signals": {pre + prefix signals after token
j}, "expected": the early decision}``, stops and continues both.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .answer_fit import ANSWER_KEY, record_state
from .policy import Policy

__all__ = ["decide_vector", "make_vectors", "vector_hidden"]


def vector_hidden(vector: Mapping[str, Any]) -> np.ndarray | None:
    """A vector's answer state (float64), or None when it has none."""
    encoded = vector.get("answer_hidden")
    return None if encoded is None else np.frombuffer(base64.b64decode(encoded), dtype="<f4").astype(np.float64)


def decide_vector(
    policy: Policy, question: str, signals: Mapping[str, float], privacy: str = "allow", answer_hidden: Any = None
) -> dict[str, Any]:
    """The decision on recorded signals; ``answer_hidden``: the answer's mean state for a policy with an answer
    probe (without one, the probe's score is 0 and ``answer_probe_missing`` 1, as on a bundle without states)."""
    policy = policy.with_privacy(privacy)
    routed = policy.route(question, signals)
    if routed.escalate or routed.stage == "privacy":
        decision = routed
    else:
        decision = policy.decide(routed.family, signals, answer_hidden=answer_hidden)
    out = decision.to_dict()
    out.pop("signals")
    return out


def make_vectors(policy: Policy, records: Sequence[Mapping[str, Any]], per_kind: int = 6) -> dict[str, Any]:
    """Pick records that cover every rule that fired (and both outcomes), plus privacy and overflow cases."""
    chosen: list[dict[str, Any]] = []
    by_rule: dict[str, int] = {}
    for r in records:
        state = record_state(r) if policy.answer_probe is not None else None
        got = decide_vector(policy, r["question"], r["signals"], answer_hidden=state)
        key = f"{got['rule']}|{got['escalate']}|{got['family']}"
        if by_rule.get(key, 0) >= per_kind:
            continue
        if (
            got["probability"] is not None
            and got["threshold"] is not None
            and abs(got["probability"] - got["threshold"]) < 1e-6
        ):
            continue  # too close to call across float implementations
        by_rule[key] = by_rule.get(key, 0) + 1
        vector = {"question": r["question"], "privacy": "allow", "signals": dict(r["signals"]), "expected": got}
        if state is not None and got["stage"] == "post":  # the state matters only where the post stage decides
            vector["answer_hidden"] = r["hidden"][ANSWER_KEY]
        chosen.append(vector)
    for r in records[:2]:
        chosen.append(
            {
                "question": r["question"],
                "privacy": "local-only",
                "signals": dict(r["signals"]),
                "expected": decide_vector(policy, r["question"], r["signals"], "local-only"),
            }
        )
    if records:
        from .signals import pre_signals

        r = records[0]
        signals = {**r["signals"], "context_overflow": 1.0}
        chosen.append(
            {
                "question": r["question"],
                "privacy": "allow",
                "signals": signals,
                "expected": decide_vector(policy, r["question"], signals),
            }
        )
        for q, rec in zip(
            ("Tell me a joke about cats.", "Write a haiku about the sea.", "Why is the sky blue at noon?"),
            records[:: max(1, len(records) // 3)],
        ):
            signals = {**rec["signals"], **pre_signals(q)}
            chosen.append(
                {"question": q, "privacy": "allow", "signals": signals, "expected": decide_vector(policy, q, signals)}
            )
        long_q = "Summarise this: " + "lorem ipsum " * 600
        signals = {**r["signals"], **pre_signals(long_q)}
        chosen.append(
            {
                "question": long_q,
                "privacy": "allow",
                "signals": signals,
                "expected": decide_vector(policy, long_q, signals),
            }
        )
    early = _early_vectors(policy, records, per_kind) if policy.early is not None else []
    return {
        "early_vectors": early,
        "description": "edgekit policy test vectors: for each question and its recorded signals, the decision of the "
        "embedded policy (see README, 'Hybrid client' > 'Policy file'). Regenerate with "
        "python -m edgekit.sdk.policy.vectors RECORDS.jsonl OUT.json",
        "policy": policy.to_dict(),
        "vectors": chosen,
    }


def _early_vectors(policy: Policy, records: Sequence[Mapping[str, Any]], per_kind: int) -> list[dict[str, Any]]:
    from .early_fit import prefix_rows

    out: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for r in records:
        if "tokens" not in r or policy.early is None:
            continue
        family = policy.classify(r["question"])
        for row in prefix_rows(r, policy.early.max_tokens + 1):  # one row past max_tokens: it must continue
            d = policy.early_decision(family, row)
            key = f"{d.rule}|{int(row['prefix_tokens'])}"
            close = d.probability is not None and abs(d.probability - (d.threshold or 0.0)) < 1e-6
            if counts.get(key, 0) >= per_kind or close:
                continue
            counts[key] = counts.get(key, 0) + 1
            expected = d.to_dict()
            expected.pop("signals")
            out.append({"question": r["question"], "signals": row, "expected": expected})
    return out


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    from .records import resignal

    records = [json.loads(line) for line in Path(argv[0]).read_text(encoding="utf-8").splitlines() if line.strip()]
    policy = Policy.default()
    if all("tokens" in r for r in records):  # signals as the shipped policy's families compute them
        records = resignal(records, policy)
    data = make_vectors(policy, records)
    Path(argv[1]).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
