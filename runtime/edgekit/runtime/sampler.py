"""Choose the next token from logits (the separate Sampler of karpathy/llama2.c's run.c).

Order of processing follows transformers' ``generate`` so seeded behaviour is
easy to reason about: repetition penalty → temperature → top-k → top-p →
min-p → draw. ``temperature == 0`` is greedy (argmax of the penalised
logits). The returned logprob/entropy are always those of the raw logits
(confidence.py), whatever the options.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .confidence import token_stats
from .errors import RuntimeGenerationError

__all__ = ["SamplingOptions", "Sampler"]


@dataclass(frozen=True)
class SamplingOptions:
    temperature: float = 0.0  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off
    min_p: float = 0.0  # 0 = off (min-p sampling, Nguyen et al. 2024: keep p >= min_p * p_max)
    repetition_penalty: float = 1.0  # 1 = off (CTRL, Keskar et al. 2019: divide positive logits, multiply negative)
    seed: int | None = None  # None = fresh OS entropy each call

    def __post_init__(self) -> None:
        def bad(name: str, value: object, rule: str) -> RuntimeGenerationError:
            return RuntimeGenerationError(f"{name}={value!r} is invalid: {rule}")

        for name in ("temperature", "top_p", "min_p", "repetition_penalty"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad(name, value, "use a number")
        if not (self.temperature >= 0):
            raise bad("temperature", self.temperature, "use 0 for greedy or a positive number")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise bad("top_k", self.top_k, "use 0 (off) or a positive integer")
        if not (0 < self.top_p <= 1):
            raise bad("top_p", self.top_p, "use a number in (0, 1]; 1 turns it off")
        if not (0 <= self.min_p < 1):
            raise bad("min_p", self.min_p, "use a number in [0, 1); 0 turns it off")
        if not (self.repetition_penalty > 0):
            raise bad("repetition_penalty", self.repetition_penalty, "use a positive number; 1 turns it off")
        if self.seed is not None and (not isinstance(self.seed, int) or self.seed < 0):
            raise bad("seed", self.seed, "use a non-negative integer or None")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


class Sampler:
    """Stateful per call (owns the random generator); never share one across threads."""

    def __init__(self, options: SamplingOptions):
        self.options = options
        self.rng = np.random.default_rng(options.seed)

    def sample(self, logits: np.ndarray, history: Iterable[int] = ()) -> tuple[int, float, float]:
        """Return (token id, logprob, entropy) for 1-D ``logits``."""
        raw = np.asarray(logits, dtype=np.float32)
        opts = self.options
        x = raw
        if opts.repetition_penalty != 1.0:
            seen = np.fromiter(set(history), dtype=np.int64)
            if seen.size:
                x = raw.copy()
                vals = x[seen]
                x[seen] = np.where(vals > 0, vals / opts.repetition_penalty, vals * opts.repetition_penalty)
        if opts.greedy:
            token = int(np.argmax(x))
        else:
            token = self._draw(x / np.float32(opts.temperature))  # float32: per-token cost over a 49k vocabulary
        logprob, entropy = token_stats(raw, token)
        return token, logprob, entropy

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
            return int(min(np.searchsorted(cdf, self.rng.random() * cdf[-1], side="right"), vocab - 1))
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
        j = int(np.searchsorted(cdf, self.rng.random() * cdf[-1], side="right"))
        return int(idx[min(j, len(idx) - 1)])


_FLOOR = 30.0  # nats below the best logit: exp(-30) ≈ 1e-13
