"""Batched decode: several sequences' next tokens in one onnxruntime run, and the batcher that gathers them.

Real sessions on tiny exported bundles: batched logits must equal one-sequence logits, concurrent greedy
generations must give the tokens sequential ones give, and the batcher must really have batched.
"""

from __future__ import annotations

import shutil
import threading

import numpy as np
import onnx
import pytest
from edgekit.runtime import load
from edgekit.runtime.backends import BackendOptions
from edgekit.runtime.backends.onnx import OnnxBackend
from edgekit.runtime.batching import DecodeBatcher
from edgekit.runtime.errors import BundleError
from edgekit.runtime.manifest import read_manifest
from edgekit.runtime.results import Result

PROMPTS = [[5, 17, 99, 4, 250, 31, 8], [77] * 12, [3, 9, 1000]]  # different lengths: rows at different positions
# float activations, exact Q4_1 repack, int8 activations (MatMulNBits level 4), and Q4_1 offsets in 8-bit zero
# points on int8 activations (with the head's 4-bit search copy on the tiny model, whose head dominates)
RECIPES = ["fp32", "gguf", "int4", "gguf-fast"]


def _backend(folder) -> OnnxBackend:
    backend = OnnxBackend.open(folder, read_manifest(folder), BackendOptions(threads=1))
    assert isinstance(backend, OnnxBackend)
    return backend


def _single_steps(backend: OnnxBackend, prompt: list[int], steps: int) -> tuple[list[int], list[np.ndarray]]:
    """Greedy tokens and per-step logits of one sequence decoded alone."""
    cache = backend.new_cache()
    logits = backend.forward(np.array(prompt), cache)
    tokens, rows = [int(logits[-1].argmax())], []
    for _ in range(steps):
        logits = backend.forward(np.array([tokens[-1]]), cache)
        rows.append(logits[-1])
        tokens.append(int(logits[-1].argmax()))
    return tokens, rows


@pytest.mark.parametrize("recipe", RECIPES)
def test_batched_step_equals_single_steps(tiny_bundle, recipe):
    backend = _backend(tiny_bundle(recipe))
    assert backend.max_batch > 1  # the exported graph has a symbolic batch dimension
    reference = [_single_steps(backend, p, steps=4) for p in PROMPTS]
    group = backend.new_cache_group(len(PROMPTS))
    for prompt, cache in zip(PROMPTS, group):
        backend.forward(np.array(prompt), cache)  # each prefill lands in its own row
    order = [2, 0, 1]  # callers need not pass the rows in order
    for step in range(4):
        tokens = [reference[i][0][step] for i in order]
        logits = backend.forward_batch(tokens, [group[i] for i in order])
        assert logits.shape == (len(PROMPTS), backend.vocab_size)
        for row, i in enumerate(order):
            np.testing.assert_allclose(logits[row], reference[i][1][step], atol=1e-4, rtol=0)
    assert [c.length for c in group] == [len(p) + 4 for p in PROMPTS]


def test_a_batched_step_gives_each_row_its_hidden_state(tiny_bundle):
    backend = _backend(tiny_bundle("gguf"))
    assert backend.hidden_name is not None
    alone = []
    for prompt in PROMPTS:
        cache = backend.new_cache()
        backend.forward(np.array(prompt), cache)
        backend.forward(np.array([7]), cache)
        assert cache.last_hidden is not None
        alone.append(cache.last_hidden.copy())
    group = backend.new_cache_group(len(PROMPTS))
    for prompt, cache in zip(PROMPTS, group):
        backend.forward(np.array(prompt), cache)
    order = [1, 2, 0]
    backend.forward_batch([7] * len(PROMPTS), [group[i] for i in order])
    for i, cache in enumerate(group):
        assert cache.last_hidden is not None and cache.last_hidden.shape == (1, backend.hidden_size)
        np.testing.assert_allclose(cache.last_hidden, alone[i], atol=1e-4, rtol=0)


def test_rows_with_a_gap_decode_one_by_one_with_the_same_numbers(tiny_bundle):
    backend = _backend(tiny_bundle("gguf"))
    group = backend.new_cache_group(3)
    for prompt, cache in zip(PROMPTS, group):
        backend.forward(np.array(prompt), cache)
    middle_length = group[1].length
    outer = [group[0], group[2]]  # rows 0 and 2: one call would also step row 1, so they run apart
    logits = backend.forward_batch([11, 12], outer)
    alone = [_backend(tiny_bundle("gguf")) for _ in range(1)][0]
    for row, (prompt, token) in enumerate(zip([PROMPTS[0], PROMPTS[2]], [11, 12])):
        cache = alone.new_cache()
        alone.forward(np.array(prompt), cache)
        np.testing.assert_allclose(logits[row], alone.forward(np.array([token]), cache)[-1], atol=1e-4, rtol=0)
    assert group[1].length == middle_length  # the sequence in between was not touched


def test_a_graph_with_a_fixed_batch_of_one_loops(tiny_bundle, tmp_path):
    folder = tmp_path / "fixed"
    shutil.copytree(tiny_bundle("fp32"), folder)
    graph = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    for value in graph.graph.input:
        if value.name in ("input_ids", "attention_mask"):
            value.type.tensor_type.shape.dim[0].dim_value = 1  # as bundles exported before the batch dimension
    onnx.save(graph, str(folder / "model.onnx"))
    backend = _backend(folder)
    assert backend.max_batch == 1
    caches = backend.new_cache_group(2)
    for prompt, cache in zip(PROMPTS[:2], caches):
        backend.forward(np.array(prompt), cache)
    logits = backend.forward_batch([1, 2], caches)  # the default implementation: one forward each
    assert logits.shape == (2, backend.vocab_size) and [c.length for c in caches] == [8, 13]


def _generate_concurrently(model, prompts, **options) -> list[Result]:
    out: list[Result | BaseException | None] = [None for _ in prompts]

    def work(i: int) -> None:
        try:
            out[i] = model.generate(prompts[i], **options)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            out[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a generation hung"
    assert not [o for o in out if isinstance(o, BaseException)], out
    return out  # type: ignore[return-value]


def _no_eos(model, max_new_tokens: int) -> dict:
    """Greedy options that never end early: every sequence decodes all its tokens."""
    bias = {int(e): -100.0 for e in model.tokenizer.eos_ids}
    return dict(max_new_tokens=max_new_tokens, temperature=0.0, logit_bias=bias)


TEXTS = ["Tell me about cats.", "Numbers: one two three", "A story about a ship", "Why is the sky blue?"]


@pytest.mark.parametrize(("recipe", "parallel", "streams"), [("gguf", 2, 2), ("int4", 3, 3), ("gguf", 2, 4)])
def test_concurrent_generations_match_sequential_ones(tiny_bundle, recipe, parallel, streams):
    bundle = tiny_bundle(recipe)
    sequential = load(bundle, threads=1)
    options = _no_eos(sequential, max_new_tokens=24)
    expected = [sequential.generate(t, **options) for t in TEXTS[:streams]]
    model = load(bundle, threads=1, parallel=parallel)
    batcher = model.backend
    assert isinstance(batcher, DecodeBatcher) and batcher.slots == parallel
    for _ in range(2):  # twice: the caches go back to the batcher and are lent again
        results = _generate_concurrently(model, TEXTS[:streams], **options)
        assert [r.token_ids for r in results] == [r.token_ids for r in expected]
        for got, want in zip(results, expected):  # each answer's hidden states are its own row's
            assert got.prompt_hidden is not None and got.answer_hidden is not None
            np.testing.assert_allclose(got.prompt_hidden, want.prompt_hidden, atol=1e-4, rtol=0)
            np.testing.assert_allclose(got.answer_hidden, want.answer_hidden, atol=1e-4, rtol=0)
    # more streams than slots: the extra ones decode alone, and nothing is lost
    assert sum(batcher.calls.values()) > 0
    assert any(size > 1 for size in batcher.calls), batcher.calls  # some steps really were decoded together


def test_a_failing_batched_step_reaches_every_caller(tiny_bundle, monkeypatch):
    model = load(tiny_bundle("gguf"), threads=1, parallel=2)
    batcher = model.backend
    assert isinstance(batcher, DecodeBatcher)

    def broken(tokens, caches):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(batcher.inner, "forward_batch", broken)
    errors: list[str] = []

    def work(text: str) -> None:
        try:
            model.generate(text, **_no_eos(model, max_new_tokens=8))
        except RuntimeError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=work, args=(t,)) for t in TEXTS[:2]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == ["injected failure"] * 2
    monkeypatch.undo()  # the slots were given back: the model still answers
    assert len(model.generate("hi", **_no_eos(model, max_new_tokens=3)).token_ids) == 3


@pytest.mark.parametrize("value", [0, -1, 33, 2.0, True, "2"])
def test_parallel_out_of_range_is_one_clean_error(tiny_bundle, value):
    with pytest.raises(BundleError, match=r"parallel=.* is invalid: use an integer from 1 to 32"):
        load(tiny_bundle("fp32"), parallel=value)
