"""Reference data for the Java and web ports, made at test time by the real Python components.

- signal cases: a question and a local result (tokens with text, logprob, entropy; finish reason; overflow)
  -> edgekit.sdk.policy.signals pre_signals/post_signals, with the Confidence of edgekit.runtime.confidence.
- redaction cases: texts -> edgekit.sdk.redaction.Redactor().redact (text and placeholder mapping).
- sampler cases: logits rows -> edgekit.runtime.confidence.token_stats and the greedy choice of
  edgekit.runtime.sampler.Sampler (with and without repetition penalty).
The policy itself is checked against tests/vectors/policy_vectors.json (made by the hybrid side).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
POLICY_VECTORS = REPO / "tests" / "vectors" / "policy_vectors.json"

# (question, answer text, answer kind, finish reason, context overflow)
_SIGNAL_CASES = [
    ("What is 17 * 23?", "17 * 23 = 391.", "number", "eos", False),
    ("What is the capital of France?", "The capital of France is Paris.", "entity", "eos", False),
    ("Is the sky blue?", "Yes, the sky is blue on a clear day.", "yesno", "eos", False),
    (
        "How many meters are in 2.5 kilometers?",
        "There are 2,500 meters in 2.5 kilometers.\n\nMore text.",
        "number",
        "length",
        False,
    ),
    ("Tell me a story about 3 cats and 12 dogs", "Once upon a time there were cats.", None, "length", False),
    ("Who wrote Hamlet?", "Hamlet was written by William Shakespeare, in about 1600.", "entity", "eos", False),
    ("What is 1,234 + 5,678?", "The answer is: 6,912", "number", "eos", False),
    ("Convert 3 feet to inches", "3 feet equals 36 inches. Done!", "number", "stop", False),
    ("Hello", "", None, "context", True),
    ("Is 7 a prime number?", "No idea, maybe.", "yesno", "eos", False),
    ("Ünïcödé question with émojis 🙂 and 42 things?", "Voilà: 42 choses 🙂.", "number", "eos", False),
]

REDACTION_TEXTS = [
    "Mail me at jane.doe@example.com or call +1 (555) 010-2345 tomorrow.",
    "My card is 4111 1111 1111 1111 and my server is 192.168.1.20.",
    "IPv6 fe80::1ff:fe23:4567:890a and 2001:db8::1, time 12:30:45",
    "What is 4839201 * 3? Order #123456789012 shipped 2024-05-01.",
    "Call 030 1234 5678 or 030-1234-5678; version 1.2.3 is not a phone.",
    "Two mails: a@b.co and a@b.co again, plus c.d+tag@sub.example.org.",
    "Nothing personal here, just 3.14159 and 2+2=4.",
    "Card 4111-1111-1111-1112 fails Luhn; 5500 0000 0000 0004 passes.",
]


def signal_cases() -> list[dict]:
    from edgekit.runtime.confidence import summarize
    from edgekit.runtime.results import FinishReason, TokenInfo
    from edgekit.sdk.policy.signals import post_signals, pre_signals

    class _Result:  # the attributes post_signals reads from a runtime Result
        def __init__(self, text, tokens, finish, overflow):
            self.text = text
            self.tokens = tokens
            self.confidence = summarize(tokens)
            self.finish_reason = FinishReason(finish)
            self.context_overflow = overflow

    rng = np.random.default_rng(7)
    cases = []
    for question, answer, kind, finish, overflow in _SIGNAL_CASES:
        # split the answer into token-sized pieces (2-4 characters), like a detokenizer's output
        pieces, i = [], 0
        while i < len(answer):
            n = int(rng.integers(2, 5))
            pieces.append(answer[i : i + n])
            i += n
        tokens = [
            TokenInfo(k, p, float(-rng.exponential(0.8)), float(rng.uniform(0.0, 4.0))) for k, p in enumerate(pieces)
        ]
        result = _Result(answer, tokens, finish, overflow)
        cases.append(
            {
                "question": question,
                "answer_kind": kind,
                "result": {
                    "text": answer,
                    "tokens": [{"text": t.text, "logprob": t.logprob, "entropy": t.entropy} for t in tokens],
                    "confidence": result.confidence.to_dict(),
                    "finish_reason": finish,
                    "context_overflow": overflow,
                },
                "expected": {"pre": pre_signals(question), "post": post_signals(result, kind)},
            }
        )
    return cases


def redaction_cases() -> list[dict]:
    from edgekit.sdk.redaction import Redactor

    out = []
    for text in REDACTION_TEXTS:
        redacted, redaction = Redactor().redact(text)
        out.append({"text": text, "redacted": redacted, "mapping": dict(redaction.mapping)})
    return out


def sampler_cases() -> list[dict]:
    from edgekit.runtime.confidence import token_stats
    from edgekit.runtime.sampler import Sampler, SamplingOptions

    rng = np.random.default_rng(11)
    cases = []
    for n, (vocab, penalty) in enumerate([(50, 1.0), (300, 1.3), (1000, 1.0), (64, 0.8)]):
        logits = (rng.standard_normal(vocab) * (1 + n)).astype(np.float32)
        history = [int(i) for i in rng.choice(vocab, size=8, replace=False)]
        token, logprob, entropy = Sampler(SamplingOptions(repetition_penalty=penalty)).sample(logits, history)
        lp_all = [token_stats(logits, k)[0] for k in range(0, vocab, max(1, vocab // 7))]
        cases.append(
            {
                "logits": [float(v) for v in logits],
                "history": history,
                "repetition_penalty": penalty,
                "greedy_token": token,
                "logprob": logprob,
                "entropy": entropy,
                "probe_ids": list(range(0, vocab, max(1, vocab // 7))),
                "probe_logprobs": lp_all,
            }
        )
    return cases


CHAT_CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Hi"}],
    [
        {"role": "user", "content": "Name a color."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Another one, with ünïcode 🙂\nand a newline?"},
    ],
]


def chat_cases(template: str) -> list[dict]:
    """The Python runtime's Jinja rendering of ``template`` (edgekit.runtime.chat.ChatTemplate)."""
    from edgekit.runtime.chat import ChatTemplate

    chat = ChatTemplate(template)
    return [
        {"messages": messages, "generation_prompt": gen, "rendered": chat.render(messages, add_generation_prompt=gen)}
        for messages in CHAT_CONVERSATIONS
        for gen in (True, False)
    ]


def policy_vectors() -> dict | None:
    if not POLICY_VECTORS.is_file():
        return None
    return json.loads(POLICY_VECTORS.read_text(encoding="utf-8"))


PROBE_SIZE = 24  # hidden-state width of the synthetic probe (the vectors test runs no model)


def probe_policy_vectors() -> dict | None:
    """A policy with both hidden-state probes (the committed vectors' policy plus a seeded prompt probe and a
    seeded answer probe of a small width) and cases: recorded signals with a prompt state each and, for four cases
    in five, an answer state (base64 float32, as vectors.py writes it), and the whole flow's decision, made by the
    real Python policy (``Policy.route`` with ``prompt_hidden``, then ``decide`` with ``answer_hidden``). The
    prompt probe's threshold is the median score, so it escalates about half of the questions the router keeps
    local; the answer probe's score (about +-5) moves the post decisions both ways."""
    import base64

    from edgekit.sdk.policy.answer_probe import AnswerProbe
    from edgekit.sdk.policy.policy import Policy
    from edgekit.sdk.policy.prompt_probe import PromptProbe

    data = policy_vectors()
    if data is None:
        return None
    rng = np.random.default_rng(20261207)
    base = Policy.from_dict(data["policy"])
    cases = [c for c in data["vectors"] if c["privacy"] == "allow"][:40] + [
        c for c in data["vectors"] if c["privacy"] != "allow"
    ][:2]
    weights = rng.normal(size=PROBE_SIZE)
    # float32 values, as a model's hidden state is: the Java port holds them in a float[]
    hidden = [rng.normal(size=PROBE_SIZE).astype(np.float32).astype(np.float64) for _ in cases]
    scores = sorted(float(weights @ h) for h in hidden)
    bias = -scores[len(scores) // 2]
    probe = PromptProbe(tuple(float(w) for w in weights), bias, 0.5, "prompt", 4, {"made_by": "test"})
    assert base.answer_probe is not None  # its models, on a seeded probe of a small width
    answer_probe = AnswerProbe(
        tuple(float(w) for w in rng.normal(size=PROBE_SIZE)), 0.25, components=4, models=base.answer_probe.models
    )
    answers = [rng.normal(size=PROBE_SIZE).astype("<f4") if i % 5 else None for i in range(len(cases))]
    policy = dataclasses.replace(base, probe=probe, answer_probe=answer_probe)
    vectors = []
    for case, h, a in zip(cases, hidden, answers, strict=True):
        p = policy.with_privacy(case["privacy"])
        routed = p.route(case["question"], case["signals"], prompt_hidden=h.tolist())
        if routed.escalate or routed.stage == "privacy":
            decided = routed
        else:
            decided = p.decide(routed.family, case["signals"], answer_hidden=a)
        expected = decided.to_dict()
        expected.pop("signals")
        if expected["probability"] is not None and abs(expected["probability"] - expected["threshold"]) < 1e-6:
            continue  # too close to call across float implementations
        case = {k: v for k, v in case.items() if k != "answer_hidden"}
        if a is not None:
            case["answer_hidden"] = base64.b64encode(a.tobytes()).decode("ascii")
        vectors.append({**case, "hidden": h.tolist(), "expected": expected})
    return {"policy": policy.to_dict(), "vectors": vectors}


def compare_decision(expected: dict, got: dict) -> str | None:
    """None when equal: booleans and names exactly, probabilities within 1e-9 (float summation order differs)."""
    for key in ("escalate", "stage", "rule", "family"):
        if expected.get(key) != got.get(key):
            return f"{key}: python {expected.get(key)!r}, port {got.get(key)!r}"
    for key in ("probability", "threshold"):
        a, b = expected.get(key), got.get(key)
        if (a is None) != (b is None) or (a is not None and abs(a - b) > 1e-9):
            return f"{key}: python {a!r}, port {b!r}"
    return None


def compare_signals(expected: dict, got: dict, where: str) -> list[str]:
    bad = []
    for name, value in expected.items():
        if name not in got:
            bad.append(f"{where}: {name} missing")
        elif abs(float(got[name]) - float(value)) > 1e-9 * max(1.0, abs(float(value))):
            bad.append(f"{where}: {name} python {value!r}, port {got[name]!r}")
    return bad
