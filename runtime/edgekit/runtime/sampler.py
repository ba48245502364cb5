"""Choose the next token from logits (the separate Sampler of karpathy/llama2.c's run.c).

Order of processing: logit bias → repetition penalty → frequency/presence penalties → temperature → top-k →
top-p → min-p → draw. Bias first, then the penalties, is llama.cpp's chain (``common/sampling.cpp`` puts the
logit-bias sampler ahead of the penalties sampler); temperature before the truncation rules is transformers'
``generate`` order, so seeded behaviour is easy to reason about. ``temperature == 0`` is greedy (argmax of the
biased, penalised logits). The returned logprob, entropy and top alternatives are always those of the raw logits
(confidence.py), whatever the options; under a constraint (constraints.py) the tokens it forbids get -inf after
the penalties, and the numbers are those of the raw logits renormalised over the allowed tokens.

Two penalty families, with the semantics of the APIs that defined them:

- ``repetition_penalty`` (CTRL, Keskar et al. 2019, arXiv:1909.05858, as transformers'
  ``RepetitionPenaltyLogitsProcessor`` applies it): every token seen in prompt + output has its logit divided
  by the penalty if positive, multiplied if negative; the count does not matter.
- ``frequency_penalty`` / ``presence_penalty`` (OpenAI's API reference, "Frequency and presence penalties"):
  ``logit[j] -= c[j] * frequency_penalty + (c[j] > 0) * presence_penalty`` with ``c[j]`` the number of times
  token j was generated so far (the prompt does not count), both in [-2, 2].
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .confidence import token_stats
from .errors import SamplingOptionError

# SamplingOptionError lives in the error tree (errors.py); it stays importable from here, where it is raised
__all__ = ["SamplingOptions", "SamplingOptionError", "Sampler", "Draw", "MAX_TOP_LOGPROBS"]

MAX_TOP_LOGPROBS = 20  # OpenAI's limit for top_logprobs; each alternative costs a detokenization per token
PENALTY_RANGE = (-2.0, 2.0)  # frequency_penalty and presence_penalty, OpenAI's range
BIAS_RANGE = (-100.0, 100.0)  # logit_bias values, OpenAI's range ("-100 or 100 should ban or force a token")


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _is_int(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


@dataclass(frozen=True)
class SamplingOptions:
    temperature: float = 0.0  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off
    min_p: float = 0.0  # 0 = off (min-p sampling, Nguyen et al. 2024: keep p >= min_p * p_max)
    repetition_penalty: float = 1.0  # 1 = off (CTRL: divide positive logits, multiply negative)
    frequency_penalty: float = 0.0  # 0 = off; subtracted once per earlier occurrence in the output
    presence_penalty: float = 0.0  # 0 = off; subtracted once if the token occurs in the output
    # token id -> bias added to its logit; a mapping on input, stored as sorted (id, bias) pairs so the options
    # stay hashable
    logit_bias: Mapping[int, float] | tuple[tuple[int, float], ...] = field(default=())
    top_logprobs: int = 0  # how many most likely alternatives (raw logits) to report per token; 0 = none
    seed: int | None = None  # None = fresh OS entropy each call

    def __post_init__(self) -> None:
        for name in ("temperature", "top_p", "min_p", "repetition_penalty", "frequency_penalty", "presence_penalty"):
            if not _is_number(getattr(self, name)):
                raise SamplingOptionError(name, getattr(self, name), "use a number")
        if not (self.temperature >= 0):
            raise SamplingOptionError("temperature", self.temperature, "use 0 for greedy or a positive number")
        if not _is_int(self.top_k) or self.top_k < 0:
            raise SamplingOptionError("top_k", self.top_k, "use 0 (off) or a positive integer")
        if not (0 < self.top_p <= 1):
            raise SamplingOptionError("top_p", self.top_p, "use a number in (0, 1]; 1 turns it off")
        if not (0 <= self.min_p < 1):
            raise SamplingOptionError("min_p", self.min_p, "use a number in [0, 1); 0 turns it off")
        if not (self.repetition_penalty > 0):
            raise SamplingOptionError(
                "repetition_penalty", self.repetition_penalty, "use a positive number; 1 turns it off"
            )
        lo, hi = PENALTY_RANGE
        for name in ("frequency_penalty", "presence_penalty"):
            if not (lo <= getattr(self, name) <= hi):
                allowed = f"use a number in [{lo:g}, {hi:g}]; 0 turns it off"
                raise SamplingOptionError(name, getattr(self, name), allowed)
        object.__setattr__(self, "logit_bias", _bias_pairs(self.logit_bias))
        if not _is_int(self.top_logprobs) or not 0 <= self.top_logprobs <= MAX_TOP_LOGPROBS:
            raise SamplingOptionError(
                "top_logprobs", self.top_logprobs, f"use an integer in [0, {MAX_TOP_LOGPROBS}]; 0 reports none"
            )
        if self.seed is not None and (not _is_int(self.seed) or self.seed < 0):
            raise SamplingOptionError("seed", self.seed, "use a non-negative integer or None")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def check_vocabulary(self, vocab_size: int) -> None:
        """Refuse logit_bias ids the model's logits do not have (before any compute)."""
        for token, _ in self.logit_bias:  # type: ignore[misc]  # normalised to pairs in __post_init__
            if token >= vocab_size:
                raise SamplingOptionError(
                    "logit_bias",
                    {str(token): dict(self.logit_bias)[token]},
                    f"token id {token} is outside this model's vocabulary; use ids in [0, {vocab_size})",
                )


def _bias_pairs(value: Any) -> tuple[tuple[int, float], ...]:
    """logit_bias as sorted (id, bias) pairs; ids are non-negative integers, biases finite numbers in range."""
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, (tuple, list)) and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in value):
        items = [tuple(p) for p in value]
    else:
        raise SamplingOptionError("logit_bias", value, "use a mapping of token id to a bias in [-100, 100]")
    lo, hi = BIAS_RANGE
    pairs: dict[int, float] = {}
    for token, bias in items:
        if not _is_int(token) or token < 0:
            raise SamplingOptionError("logit_bias", value, f"token id {token!r} is not a non-negative integer")
        if not _is_number(bias) or not (lo <= bias <= hi):
            raise SamplingOptionError(
                "logit_bias", value, f"the bias of token {token} is {bias!r}; use a number in [{lo:g}, {hi:g}]"
            )
        pairs[int(token)] = float(bias)
    return tuple(sorted(pairs.items()))


@dataclass(frozen=True)
class Draw:
    """One sampling step: the chosen token and the raw-logit numbers reported for it."""

    token: int
    logprob: float  # of the chosen token, log-softmax of the raw logits (nats)
    entropy: float  # of the raw softmax (nats)
    top: tuple[tuple[int, float], ...] = ()  # the top_logprobs most likely (id, logprob) of the raw logits, best first
    # under a constraint: the raw logits' own best (id, logprob), whatever the grammar allowed; None otherwise
    unconstrained_top: tuple[int, float] | None = None


class Sampler:
    """Stateful per call (owns the random generator); never share one across threads."""

    def __init__(self, options: SamplingOptions):
        self.options = options
        self.rng = np.random.default_rng(options.seed)
        self._bias: tuple[np.ndarray, np.ndarray] | None = None  # (ids, biases), built at the first step

    def sample(
        self, logits: np.ndarray, history: Iterable[int] = (), counts: Mapping[int, int] | None = None
    ) -> tuple[int, float, float]:
        """Return (token id, logprob, entropy) for 1-D ``logits``; see ``step``."""
        draw = self.step(logits, history, counts)
        return draw.token, draw.logprob, draw.entropy

    def step(
        self,
        logits: np.ndarray,
        history: Iterable[int] = (),
        counts: Mapping[int, int] | None = None,
        allowed: np.ndarray | None = None,
    ) -> Draw:
        """Choose the next token from 1-D ``logits``.

        ``history``: the ids the repetition penalty looks at (prompt + output; a set is used as is).
        ``counts``: how often each id was generated so far (frequency/presence penalties; the prompt is not
        counted).
        ``allowed``: a boolean mask from a constraint (constraints.py); other tokens get -inf after bias and
        penalties, and the reported numbers are those of the raw logits renormalised over the allowed tokens.
        """
        raw = np.asarray(logits, dtype=np.float32)
        opts = self.options
        x = self.adjusted(raw, history, counts)
        if allowed is not None:
            x = np.where(allowed, x, np.float32(-np.inf))
        if opts.greedy:
            token = int(np.argmax(x))
        else:
            token = self._draw(x / np.float32(opts.temperature))  # float32: per-token cost over a 49k vocabulary
        if allowed is not None:
            return _constrained_draw(raw, allowed, token, opts.top_logprobs)
        logprob, entropy = token_stats(raw, token)
        top = _top_logprobs(raw, token, logprob, opts.top_logprobs) if opts.top_logprobs else ()
        return Draw(token, logprob, entropy, top)

    def adjusted(
        self, raw: np.ndarray, history: Iterable[int] = (), counts: Mapping[int, int] | None = None
    ) -> np.ndarray:
        """The logits after logit bias and the penalties (a copy when anything changes; ``raw`` is never written)."""
        opts = self.options
        x = raw
        if opts.logit_bias:
            if self._bias is None:
                opts.check_vocabulary(raw.shape[0])  # before the ids become int64 indices
                pairs = opts.logit_bias
                self._bias = (
                    np.array([t for t, _ in pairs], dtype=np.int64),  # type: ignore[misc]
                    np.array([b for _, b in pairs], dtype=np.float32),  # type: ignore[misc]
                )
            ids, bias = self._bias
            x = raw.copy()
            x[ids] += bias
        if opts.repetition_penalty != 1.0:
            seen_ids = history if isinstance(history, (set, frozenset)) else set(history)
            seen = np.fromiter(seen_ids, dtype=np.int64, count=len(seen_ids))
            if seen.size:
                x = x.copy() if x is raw else x
                vals = x[seen]
                x[seen] = np.where(vals > 0, vals / opts.repetition_penalty, vals * opts.repetition_penalty)
        if (opts.frequency_penalty or opts.presence_penalty) and counts:
            ids = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            c = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
            x = x.copy() if x is raw else x
            x[ids] -= c * np.float32(opts.frequency_penalty) + (c > 0) * np.float32(opts.presence_penalty)
        return x

    def _draw(self, x: np.ndarray) -> int:
        """Draw from softmax(x) after top-k → top-p → min-p; O(vocab) unless top-p needs a sort.

        Inverse-CDF draw (one uniform number per token, so a seed fixes the
        sequence). For top-p/min-p only tokens within ``_FLOOR`` nats of the
        best are ranked: the rest carry < 1e-13 of the best's probability each,
        far below any mass or ratio those rules can resolve, and skipping them
        avoids sorting the whole vocabulary (49k entries: ~25 ms per token).
        """
        opts = self.options
        vocab = x.shape[0]
        best = float(x.max())
        if 0 < opts.top_k < vocab:
            kth = np.partition(x, vocab - opts.top_k)[vocab - opts.top_k]
            idx = np.flatnonzero(x >= kth)
        elif opts.top_p < 1.0 or opts.min_p > 0.0:
            idx = np.flatnonzero(x > best - _FLOOR)
        else:
            cdf = np.cumsum(np.exp(x - best))
            return _inverse_cdf(cdf, self.rng.random())
        vals = x[idx]
        if opts.top_p < 1.0:
            p = np.exp(vals - best)
            total = float(p.sum(dtype=np.float64))
            # Rank only as many tokens as the nucleus needs: grow a partial top-k until it holds top_p of the
            # mass (a flat distribution falls back to one full sort).
            k = 64
            while True:
                if k >= len(vals):
                    order = np.argsort(-vals, kind="stable")
                    break
                part = np.argpartition(-vals, k)[:k]
                if float(p[part].sum(dtype=np.float64)) >= opts.top_p * total:
                    order = part[np.argsort(-vals[part], kind="stable")]
                    break
                k *= 4
            mass = np.cumsum(p[order], dtype=np.float64) / total
            # smallest prefix whose mass reaches top_p (always at least one token)
            keep = min(int(np.searchsorted(mass, opts.top_p, side="left")) + 1, len(order))
            idx, vals = idx[order[:keep]], vals[order[:keep]]
        if opts.min_p > 0.0:
            survivors = vals >= best + np.log(opts.min_p)  # p >= min_p * p_max
            idx, vals = idx[survivors], vals[survivors]
        cdf = np.cumsum(np.exp(vals - best))
        return int(idx[_inverse_cdf(cdf, self.rng.random())])


def _inverse_cdf(cdf: np.ndarray, u: float) -> int:
    """Index drawn by ``u`` in [0, 1) from the cumulative weights ``cdf``, never one with zero weight.

    ``u * total`` can round up to the total; the fallback is then the last entry with weight, not the last
    entry (which may weigh nothing: a token a constraint banned, or one whose weight underflowed).
    """
    j = int(np.searchsorted(cdf, u * cdf[-1], side="right"))
    return j if j < len(cdf) else int(np.searchsorted(cdf, cdf[-1], side="left"))


def _constrained_draw(raw: np.ndarray, allowed: np.ndarray, token: int, k: int) -> Draw:
    """The numbers of a constrained step: logprob, entropy and alternatives of softmax(raw) over the allowed
    tokens only (the model's distribution renormalised over what the grammar permits), plus the raw logits'
    unconstrained best token, which shows where the grammar overrode the model."""
    ids = np.flatnonzero(allowed)
    sub = raw[ids]
    at = int(np.searchsorted(ids, token))
    logprob, entropy = token_stats(sub, at)
    top = tuple((int(ids[j]), lp) for j, lp in _top_logprobs(sub, at, logprob, k)) if k else ()
    best = int(np.argmax(raw))
    return Draw(token, logprob, entropy, top, (best, token_stats(raw, best)[0]))


def _top_logprobs(raw: np.ndarray, token: int, logprob: float, k: int) -> tuple[tuple[int, float], ...]:
    """The ``k`` most likely ids of softmax(raw) with their logprobs, best first (ties: lower id first).

    Written relative to the chosen token, ``logprob_j = (x_j - x_token) + logprob_token``, so the chosen
    token's entry equals the logprob ``token_stats`` reported for it (same log-softmax, no second rounding).
    """
    k = min(k, raw.shape[0])
    part = np.argpartition(-raw, k - 1)[:k] if k < raw.shape[0] else np.arange(raw.shape[0])
    order = part[np.lexsort((part, -raw[part]))]
    base = float(raw[token])
    return tuple((int(j), float(raw[j]) - base + logprob) for j in order)


_FLOOR = 30.0  # nats below the best logit: exp(-30) ≈ 1e-13
