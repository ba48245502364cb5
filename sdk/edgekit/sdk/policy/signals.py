"""The signals the policy reads, by name.

Pre-generation signals come from the question text alone (the last user
message), so the router can send a prompt to the cloud before the device
spends time on it. Post-generation signals come from the local ``Result``:
the per-token logprobs/entropies the runtime computes from the last-position
logits it already has (no extra forward pass), the answer span, the finish
reason and context overflow.

Every signal is a float (booleans are 0.0/1.0). The names below are the
contract with the policy file and the Java/web reimplementations
(tests/vectors/policy_vectors.json).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .answer_span import find_answer, question_numbers

__all__ = [
    "PRE_SIGNALS",
    "POST_SIGNALS",
    "SIGNAL_DIRECTION",
    "question_of",
    "pre_signals",
    "post_signals",
    "answer_token_range",
]

PRE_SIGNALS = ("question_chars", "n_digits", "n_numbers", "max_number_len", "has_arith_op")
POST_SIGNALS = (
    "mean_logprob",
    "min_logprob",
    "mean_entropy",
    "max_window_entropy",
    "answer_logprob",
    "answer_first_logprob",
    "gen_tokens",
    "truncated",
    "has_answer",
    "context_overflow",
)
# +1: larger means "more likely wrong"; -1: smaller means more likely wrong (for per-signal AUROC).
SIGNAL_DIRECTION = {
    "question_chars": 1,
    "n_digits": 1,
    "n_numbers": 1,
    "max_number_len": 1,
    "has_arith_op": 1,
    "mean_logprob": -1,
    "min_logprob": -1,
    "mean_entropy": 1,
    "max_window_entropy": 1,
    "answer_logprob": -1,
    "answer_first_logprob": -1,
    "gen_tokens": 1,
    "truncated": 1,
    "has_answer": -1,
    "context_overflow": 1,
}

_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_ARITH = re.compile(r"\d\s*[-+*/x×÷^]\s*\d")


def question_of(messages: str | Sequence[Mapping[str, Any]]) -> str:
    """The text the router looks at: the last user message (or the string itself)."""
    if isinstance(messages, str):
        return messages
    for message in reversed(list(messages)):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return message["content"]
    return ""


def pre_signals(question: str) -> dict[str, float]:
    numbers = _NUM.findall(question)
    return {
        "question_chars": float(len(question)),
        "n_digits": float(sum(ch.isdigit() for ch in question)),
        "n_numbers": float(len(numbers)),
        "max_number_len": float(max((sum(c.isdigit() for c in n) for n in numbers), default=0)),
        "has_arith_op": 1.0 if _ARITH.search(question) else 0.0,
    }


def answer_token_range(tokens: Sequence[Any], start: int, end: int) -> tuple[int, int]:
    """Indices [i, j) of the tokens whose text overlaps characters [start, end) of the joined text."""
    pos = 0
    first = last = -1
    for i, token in enumerate(tokens):
        t_start, pos = pos, pos + len(token.text)
        if pos > start and t_start < end and token.text:
            if first == -1:
                first = i
            last = i
    return (first, last + 1) if first != -1 else (0, 0)


def post_signals(result: Any, answer_kind: str | None, question: str = "") -> dict[str, float]:
    """Signals of one local Result. ``answer_kind``: "number", "entity", "yesno" or None (no span);
    numbers of ``question`` are not taken as the answer (answer_span.py)."""
    conf = result.confidence
    tokens = list(result.tokens)
    text = "".join(t.text for t in tokens) or result.text
    span = find_answer(answer_kind, text, question_numbers(question)) if answer_kind else None
    answer_lp = conf.min_logprob
    first_lp = conf.min_logprob
    if span is not None:
        i, j = answer_token_range(tokens, span.start, span.end)
        if j > i:
            lps = [tokens[k].logprob for k in range(i, j)]
            answer_lp = sum(lps) / len(lps)
            first_lp = lps[0]
    finish = str(getattr(result.finish_reason, "value", result.finish_reason))
    values = {
        "mean_logprob": conf.mean_logprob,
        "min_logprob": conf.min_logprob,
        "mean_entropy": conf.mean_entropy,
        "max_window_entropy": conf.max_window_entropy,
        "answer_logprob": answer_lp,
        "answer_first_logprob": first_lp,
        "gen_tokens": float(len(tokens)),
        "truncated": 1.0 if finish == "length" else 0.0,
        "has_answer": 1.0 if span is not None else 0.0,
        "context_overflow": 1.0 if result.context_overflow else 0.0,
    }
    # -inf logprobs (a token sampled at probability 0 under top-k/p) would break standardisation
    return {k: (v if math.isfinite(v) else -50.0) for k, v in values.items()}
