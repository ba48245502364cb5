"""Per-token confidence: logprob and entropy, and their summary.

Choice (documented in README "## Runtime"): both numbers come from the
distribution the *model* produced, the full softmax of the raw logits at
temperature 1, before repetition penalty, temperature, top-k/top-p/min-p.
So they do not depend on the sampling options a caller picked, and every
backend (ONNX, ExecuTorch) reports the same numbers for the same logits;
the escalation policy can compare calls made with different settings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .results import Confidence, TokenInfo

__all__ = ["log_softmax", "token_stats", "summarize", "DEFAULT_WINDOW"]

DEFAULT_WINDOW = 8  # tokens; a short burst of uncertainty (a made-up name) spans a few tokens


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis, in float64."""
    x = np.asarray(logits, dtype=np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    out: np.ndarray = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return out


def token_stats(logits: np.ndarray, token_id: int) -> tuple[float, float]:
    """(logprob of ``token_id``, entropy) of softmax(logits), in nats.

    Two float32 passes over the vocabulary (the per-token cost matters: it runs
    for every generated token): with e = exp(x - max) and Z = sum(e),
    logprob = x_t - max - log Z and entropy = log Z + max - sum(e * x) / Z.
    """
    x = np.asarray(logits, dtype=np.float32)
    best = float(x.max())
    e = np.exp(x - best)
    z = float(e.sum(dtype=np.float64))
    log_z = best + float(np.log(z))
    logprob = float(x[token_id]) - log_z
    entropy = log_z - float(np.dot(e, x)) / z
    return logprob, max(entropy, 0.0)


def summarize(tokens: Sequence[TokenInfo], window: int = DEFAULT_WINDOW) -> Confidence:
    """Summaries the hybrid client reads; zeros (n_tokens=0) for an empty generation."""
    if not tokens:
        return Confidence(0, 0.0, 0.0, 0.0, 0.0, 0.0, window, 1.0)
    logprobs = np.array([t.logprob for t in tokens], dtype=np.float64)
    entropies = np.array([t.entropy for t in tokens], dtype=np.float64)
    w = min(window, len(entropies))
    sums = np.convolve(entropies, np.ones(w), mode="valid") / w
    mean_logprob = float(logprobs.mean())
    return Confidence(
        n_tokens=len(tokens),
        mean_logprob=mean_logprob,
        min_logprob=float(logprobs.min()),
        mean_entropy=float(entropies.mean()),
        max_entropy=float(entropies.max()),
        max_window_entropy=float(sums.max()),
        window=window,
        perplexity=float(math.exp(-mean_logprob)),
    )
