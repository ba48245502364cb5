"""Through a real onnxruntime session: confidence equals an independent full-sequence pass; seeded
sampling reproducible; chunked prefill, shared and non-shared caches and 8 concurrent calls all agree."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from edgekit.runtime import load
from edgekit.runtime.confidence import log_softmax

from .conftest import answer_table
from .toy_bundle import build_toy_bundle

RAW = "y" * 6  # raw prompt of 6 tokens: positions 5..19 are unscripted (random-weight model, near-uniform)


def full_pass_logits(model, ids: list[int]) -> np.ndarray:
    cache = model.backend.new_cache()
    return model.backend.forward(np.array(ids, dtype=np.int64), cache, logits_to_keep=len(ids))


def test_confidence_matches_an_independent_full_pass(toy_model):
    result = toy_model.generate(RAW, chat=False, max_new_tokens=10, temperature=0.9, top_k=50, seed=11)
    prompt = toy_model.tokenizer.encode(RAW)
    ids = prompt + result.token_ids
    logits = full_pass_logits(toy_model, ids)  # one prefill over everything, no cache reuse
    logp = log_softmax(logits)
    for k, token in enumerate(result.tokens):
        row = logp[len(prompt) - 1 + k]
        assert token.logprob == pytest.approx(row[token.id], abs=1e-4)
        assert token.entropy == pytest.approx(float(-(np.exp(row) * row).sum()), abs=1e-4)
    assert result.confidence.mean_logprob == pytest.approx(np.mean([t.logprob for t in result.tokens]))


def test_seeded_sampling_is_reproducible(toy_model):
    a = toy_model.generate(RAW, chat=False, max_new_tokens=12, temperature=1.0, seed=5)
    b = toy_model.generate(RAW, chat=False, max_new_tokens=12, temperature=1.0, seed=5)
    c = toy_model.generate(RAW, chat=False, max_new_tokens=12, temperature=1.0, seed=6)
    assert a.token_ids == b.token_ids and [t.logprob for t in a.tokens] == [t.logprob for t in b.tokens]
    assert a.token_ids != c.token_ids


def test_chunked_prefill_equals_one_shot(toy_bundle, toy_model):
    chunked = load(toy_bundle, prefill_chunk=5)
    prompt = "a longer prompt that spans chunks"
    a = toy_model.generate(prompt, max_new_tokens=8)
    b = chunked.generate(prompt, max_new_tokens=8)
    assert a.token_ids == b.token_ids
    assert np.allclose([t.logprob for t in a.tokens], [t.logprob for t in b.tokens], atol=1e-4)


def test_non_shared_cache_graph_path_agrees(tmp_path, toy_model):
    plain = load(build_toy_bundle(tmp_path / "plain", answer_table(), shared_buffer=False))
    a = toy_model.generate(RAW, chat=False, max_new_tokens=10, temperature=0.8, seed=2)
    b = plain.generate(RAW, chat=False, max_new_tokens=10, temperature=0.8, seed=2)
    assert a.token_ids == b.token_ids
    assert np.allclose([t.entropy for t in a.tokens], [t.entropy for t in b.tokens], atol=1e-4)


def test_eight_concurrent_generations_equal_sequential(toy_model):
    jobs = [
        dict(temperature=0.0),
        dict(temperature=1.0, seed=1),
        dict(temperature=0.7, top_p=0.9, seed=2),
        dict(temperature=1.2, top_k=20, seed=3),
        dict(temperature=0.0, repetition_penalty=1.3),
        dict(temperature=1.0, min_p=0.05, seed=4),
        dict(temperature=1.0, seed=5),
        dict(temperature=0.5, seed=6),
    ]
    prompts = [RAW, "hello", RAW + "z", "hi there", RAW, "hello", "zz", RAW]

    def run(i):
        chat = None if i % 2 else False
        return toy_model.generate(prompts[i], chat=chat, max_new_tokens=12, **jobs[i]).token_ids

    sequential = [run(i) for i in range(8)]
    concurrent: list = [None] * 8
    barrier = threading.Barrier(8)

    def worker(i):
        barrier.wait()
        concurrent[i] = run(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert concurrent == sequential
