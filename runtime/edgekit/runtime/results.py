"""What generation returns: per-token data, confidence summary, timings, the result.

The hybrid client reads ``Result.confidence`` and ``Result.context_overflow``
to decide whether to escalate, so these field names are a contract (docs/architecture.md,
"The backend seam").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from .tools import ToolCall

__all__ = ["FinishReason", "TokenAlternative", "TokenInfo", "Confidence", "Timings", "Result", "Piece"]


class FinishReason(str, Enum):
    """Why generation stopped. A ``str`` enum: compares equal to its value ("eos", ...)."""

    EOS = "eos"  # the model produced one of the bundle's eos ids
    STOP = "stop"  # a stop string appeared in the text
    LENGTH = "length"  # max_new_tokens reached
    CONTEXT = "context"  # the bundle's max context is full (or context_policy="signal" refused the prompt)
    TOOL_CALLS = "tool_calls"  # the answer is one or more tool calls (``Result.tool_calls``; tools.py)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class TokenAlternative:
    """One of the most likely tokens at a step, from the raw logits (as ``TokenInfo.logprob``)."""

    id: int
    text: str  # the token decoded on its own ("\ufffd" where it is part of a multi-byte character)
    logprob: float
    utf8: tuple[int, ...]  # the token's own bytes (a byte-level piece of a character keeps its real byte)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "logprob": self.logprob, "utf8": list(self.utf8)}


@dataclass(frozen=True)
class TokenInfo:
    """One generated token with the confidence of the model that produced it.

    ``logprob`` and ``entropy`` (nats) come from the full softmax of the raw
    logits, before temperature, penalties or truncation (see confidence.py).
    ``top_logprobs`` holds the most likely alternatives at this step, best first, when
    ``top_logprobs=k > 0`` was asked for (empty otherwise); the chosen token is among them
    only when it is one of the k most likely.

    Under a constraint (constraints.py), ``logprob``, ``entropy`` and ``top_logprobs`` come from
    the raw logits renormalised over the tokens the grammar allowed, and
    ``unconstrained_top_id``/``unconstrained_top_logprob`` give the raw logits' own best token
    and its logprob in the full softmax: where they differ from ``id``, the grammar overrode the
    model. Both are None without a constraint.
    """

    id: int
    text: str  # this token's share of the decoded text ("" while a multi-byte character is incomplete)
    logprob: float
    entropy: float
    top_logprobs: tuple[TokenAlternative, ...] = ()
    unconstrained_top_id: int | None = None
    unconstrained_top_logprob: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "logprob": self.logprob,
            "entropy": self.entropy,
            "top_logprobs": [a.to_dict() for a in self.top_logprobs],
            "unconstrained_top_id": self.unconstrained_top_id,
            "unconstrained_top_logprob": self.unconstrained_top_logprob,
        }


@dataclass(frozen=True)
class Confidence:
    """Summary of the per-token numbers (all in nats). Empty generations give NaN-free zeros with n_tokens=0."""

    n_tokens: int
    mean_logprob: float
    min_logprob: float
    mean_entropy: float
    max_entropy: float
    max_window_entropy: float  # highest mean entropy over any `window` consecutive tokens
    window: int
    perplexity: float  # exp(-mean_logprob)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Timings:
    """Wall-clock timings of one call, in milliseconds; rates in tokens per second."""

    load_ms: float  # time load() took for this model (the same for every call)
    prefill_ms: float
    decode_ms: float
    first_token_ms: float  # call start to first generated token
    total_ms: float
    prompt_tokens: int
    generated_tokens: int

    @property
    def prefill_tok_s(self) -> float:
        return self.prompt_tokens / (self.prefill_ms / 1e3) if self.prefill_ms > 0 else 0.0

    @property
    def decode_tok_s(self) -> float:
        # the first token comes out of prefill; decode steps = generated - 1
        steps = max(self.generated_tokens - 1, 0)
        return steps / (self.decode_ms / 1e3) if self.decode_ms > 0 and steps else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["prefill_tok_s"] = self.prefill_tok_s
        data["decode_tok_s"] = self.decode_tok_s
        return data


@dataclass(frozen=True)
class Result:
    """The outcome of ``LocalModel.generate``.

    ``prompt_hidden`` and ``answer_hidden`` are the model's final normed hidden states (the LM head's input,
    float32 [hidden]) where it decided: after reading the prompt (the state that drew the first token) and
    at the last step (the state that drew the last token, or eos; equal to ``prompt_hidden`` when nothing
    was generated). ``answer_hidden_mean`` is the mean of the states that drew each generated token
    (``answer_hidden`` when nothing was generated): the answer as a whole. On the shipped escalation and
    transfer sets (default model, 588 answers) a 16-component probe on it predicts a wrong answer with
    out-of-fold AUROC 0.84, against 0.79 on the last state. Hidden-state probes of the escalation policy read
    them. None when the bundle has no hidden-state output (ONNX or ExecuTorch bundles exported before it) or
    the prompt was refused. They are left out of ``to_dict`` (hundreds of floats
    per answer) and of equality.
    """

    text: str
    token_ids: list[int]
    finish_reason: FinishReason
    prompt_tokens: int
    tokens: list[TokenInfo]
    confidence: Confidence
    timings: Timings
    context_overflow: bool = False  # True when the prompt did not fit (context_policy="signal") or turns were dropped
    dropped_messages: int = 0  # turns removed by context_policy="truncate"
    tool_calls: tuple[ToolCall, ...] = ()  # with tools: the calls made (then ``text`` is "")
    prompt_hidden: np.ndarray | None = field(default=None, compare=False, repr=False)
    answer_hidden: np.ndarray | None = field(default=None, compare=False, repr=False)
    answer_hidden_mean: np.ndarray | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "token_ids": list(self.token_ids),
            "finish_reason": self.finish_reason.value,
            "prompt_tokens": self.prompt_tokens,
            "tokens": [t.to_dict() for t in self.tokens],
            "confidence": self.confidence.to_dict(),
            "timings": self.timings.to_dict(),
            "context_overflow": self.context_overflow,
            "dropped_messages": self.dropped_messages,
            "tool_calls": [c.to_dict() for c in self.tool_calls],
        }


@dataclass(frozen=True)
class Piece:
    """One streamed item. ``text`` may be "" while a multi-byte character is incomplete
    or while text is held back because it could be the start of a stop string.
    The last item of a stream has ``token=None`` and carries ``result``."""

    text: str
    token: TokenInfo | None = None
    result: Result | None = field(default=None, repr=False)
