"""Sampler: seeded reproducibility, each truncation rule, repetition penalty; confidence from raw logits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from edgekit.runtime import Sampler, SamplingOptions, summarize
from edgekit.runtime.confidence import log_softmax

LOGITS = np.log(np.array([0.4, 0.3, 0.2, 0.1], dtype=np.float32))


def draws(options: SamplingOptions, logits=LOGITS, n=400) -> list[int]:
    sampler = Sampler(options)
    return [sampler.sample(logits)[0] for _ in range(n)]


def test_greedy_is_argmax():
    assert set(draws(SamplingOptions(temperature=0), n=5)) == {0}


def test_seed_reproducible_and_seed_matters():
    a = draws(SamplingOptions(temperature=1.0, seed=1))
    assert a == draws(SamplingOptions(temperature=1.0, seed=1))
    assert a != draws(SamplingOptions(temperature=1.0, seed=2))


def test_plain_sampling_follows_the_distribution():
    counts = np.bincount(draws(SamplingOptions(temperature=1.0, seed=0), n=4000), minlength=4) / 4000
    assert np.allclose(counts, [0.4, 0.3, 0.2, 0.1], atol=0.04)


def test_top_k_keeps_k_best():
    assert set(draws(SamplingOptions(temperature=1.0, top_k=2, seed=0))) == {0, 1}
    assert set(draws(SamplingOptions(temperature=1.0, top_k=1, seed=0), n=20)) == {0}


def test_top_p_keeps_smallest_prefix_reaching_p():
    # cumulative 0.4, 0.7, 0.9, 1.0: top_p=0.5 needs the first two, 0.7 also two, 0.75 three
    assert set(draws(SamplingOptions(temperature=1.0, top_p=0.5, seed=0))) == {0, 1}
    assert set(draws(SamplingOptions(temperature=1.0, top_p=0.75, seed=0))) == {0, 1, 2}
    assert set(draws(SamplingOptions(temperature=1.0, top_p=0.1, seed=0), n=20)) == {0}


def test_min_p_keeps_tokens_above_fraction_of_best():
    # min_p=0.45: keep p >= 0.18 → tokens 0, 1, 2
    assert set(draws(SamplingOptions(temperature=1.0, min_p=0.45, seed=0))) == {0, 1, 2}
    assert set(draws(SamplingOptions(temperature=1.0, min_p=0.7, seed=0))) == {0, 1}  # p >= 0.28


def test_low_temperature_sharpens():
    counts = np.bincount(draws(SamplingOptions(temperature=0.2, seed=0), n=1000), minlength=4)
    # p ∝ p_i^(1/0.2): 0.4^5 / sum = 0.78
    expected = np.array([0.4, 0.3, 0.2, 0.1]) ** 5
    assert abs(counts[0] / 1000 - expected[0] / expected.sum()) < 0.05


def test_repetition_penalty_ctrl_rule():
    logits = np.array([2.0, 1.9, -1.0, -1.05], dtype=np.float32)
    assert Sampler(SamplingOptions()).sample(logits, history=[0])[0] == 0
    # 2.0 / 1.2 = 1.67 < 1.9 → token 1 wins
    assert Sampler(SamplingOptions(repetition_penalty=1.2)).sample(logits, history=[0])[0] == 1
    # negative logits are multiplied: -1.0 * 1.2 = -1.2 < -1.05
    neg = np.array([-1.0, -1.05], dtype=np.float32)
    assert Sampler(SamplingOptions(repetition_penalty=1.2)).sample(neg, history=[0])[0] == 1


@pytest.mark.parametrize(
    "options",
    [
        SamplingOptions(),
        SamplingOptions(temperature=0.3, top_k=2, seed=3),
        SamplingOptions(repetition_penalty=1.5, temperature=2.0, seed=4),
    ],
)
def test_logprob_and_entropy_come_from_raw_logits(options):
    logits = np.array([3.0, 1.0, 0.5, -2.0], dtype=np.float32)
    token, logprob, entropy = Sampler(options).sample(logits, history=[0, 1])
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert logprob == pytest.approx(math.log(p[token]), abs=1e-6)
    assert entropy == pytest.approx(float(-(p * np.log(p)).sum()), abs=1e-6)


def test_log_softmax_is_stable_for_large_logits():
    out = log_softmax(np.array([1e4, 1e4 - 1.0], dtype=np.float32))
    assert np.isfinite(out).all() and out[0] == pytest.approx(-math.log1p(math.exp(-1)), abs=1e-9)


def test_summary_fields():
    from edgekit.runtime import TokenInfo

    tokens = [TokenInfo(i, "", lp, h) for i, (lp, h) in enumerate([(-0.1, 0.2), (-2.0, 3.0), (-0.5, 1.0)])]
    c = summarize(tokens, window=2)
    assert c.n_tokens == 3
    assert c.mean_logprob == pytest.approx(-2.6 / 3) and c.min_logprob == -2.0
    assert c.mean_entropy == pytest.approx(4.2 / 3) and c.max_entropy == 3.0
    assert c.max_window_entropy == pytest.approx(2.0)  # (3.0 + 1.0) / 2
    assert c.perplexity == pytest.approx(math.exp(2.6 / 3))
    empty = summarize([])
    assert empty.n_tokens == 0 and empty.perplexity == 1.0
