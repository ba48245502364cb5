"""The final hidden state of an ExecuTorch program (backend_config.hidden_method) through the runtime.

Real programs on the cached tiny bundles: ``cache.last_hidden`` is the state transformers computes on the same HF
folder (its last ``hidden_states``, after the final norm), the fp32 logits are that state times the tied
embedding, ``Result.prompt_hidden`` / ``Result.answer_hidden`` are the states that drew the first and the last
token, a quantized program's state stays close to fp32's, and ``forward`` stays single-output for ExecuTorch's
C++ runner. A bundle whose manifest names no hidden method (exported before it) still generates, with None.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
from edgekit.runtime import load
from edgekit.runtime.backends import BackendOptions
from edgekit.runtime.backends.executorch import ExecuTorchBackend, import_executorch_runtime
from edgekit.runtime.errors import BundleError
from edgekit.runtime.manifest import read_manifest

from tests.fixtures.hidden_reference import reference_hidden

from .conftest import all_logits_bundle

PROMPT = [5, 17, 99, 4, 250, 31, 8, 1000, 77]
HIDDEN = 64  # the tiny llama's width


def _backend(folder) -> ExecuTorchBackend:
    backend = ExecuTorchBackend.open(folder, read_manifest(folder), BackendOptions(threads=1))
    assert isinstance(backend, ExecuTorchBackend)
    return backend


def _embedding(tiny_hf_folder) -> np.ndarray:
    from safetensors.numpy import load_file

    tensors: dict[str, np.ndarray] = {}
    for path in sorted(tiny_hf_folder.glob("*.safetensors")):
        tensors.update(load_file(str(path)))
    return tensors["model.embed_tokens.weight"].astype(np.float32)  # tied: also the LM head


def test_fp32_last_hidden_is_the_models_final_normed_state(et_bundle, tiny_hf_folder):
    folder = et_bundle("fp32")
    backend = _backend(folder)
    assert read_manifest(folder).backend_spec.hidden_method == "forward_hidden"
    reference = reference_hidden(tiny_hf_folder, PROMPT)
    table = _embedding(tiny_hf_folder)

    cache = backend.new_cache()
    logits = backend.forward(np.array(PROMPT[:6]), cache)  # one call, one row: every generation step
    assert cache.last_hidden is not None and cache.last_hidden.shape == (1, HIDDEN)
    assert cache.last_hidden.dtype == np.float32
    np.testing.assert_allclose(cache.last_hidden[0], reference[5], atol=1e-4, rtol=0)
    np.testing.assert_allclose(logits, cache.last_hidden @ table.T, atol=1e-4, rtol=0)  # tied head, fp32
    first = cache.last_hidden

    logits = backend.forward(np.array(PROMPT[6:]), cache, logits_to_keep=3)  # one row per call, stacked
    assert cache.last_hidden.shape == (3, HIDDEN)
    np.testing.assert_allclose(cache.last_hidden, reference[6:], atol=1e-4, rtol=0)
    np.testing.assert_allclose(logits, cache.last_hidden @ table.T, atol=1e-4, rtol=0)
    np.testing.assert_allclose(first[0], reference[5], atol=1e-4, rtol=0)  # ExecuTorch copies outputs out

    cache.reset()
    assert cache.last_hidden is None
    backend.spec = replace(backend.spec, max_seq_len=4)  # the prompt in chunks: the kept rows are still exact
    backend.forward(np.array(PROMPT), cache, logits_to_keep=6)
    np.testing.assert_allclose(cache.last_hidden, reference[3:], atol=1e-4, rtol=0)


def test_result_carries_the_prompt_and_answer_hidden_states(et_bundle, tiny_hf_folder):
    model = load(et_bundle("fp32"), threads=1)
    bias = {int(e): -100.0 for e in model.tokenizer.eos_ids}  # never ends early: exactly 5 tokens
    result = model.generate("Tell me about cats.", max_new_tokens=5, temperature=0.0, logit_bias=bias, chat=False)
    assert len(result.token_ids) == 5 and result.finish_reason == "length"
    prompt = model.tokenizer.encode("Tell me about cats.")
    reference = reference_hidden(tiny_hf_folder, prompt + result.token_ids)
    for hidden in (result.prompt_hidden, result.answer_hidden):
        assert isinstance(hidden, np.ndarray) and hidden.dtype == np.float32 and hidden.shape == (HIDDEN,)
    # the state after the prompt drew the first token; the one after token 4 drew the last (token 5)
    np.testing.assert_allclose(result.prompt_hidden, reference[len(prompt) - 1], atol=1e-4, rtol=0)
    np.testing.assert_allclose(result.answer_hidden, reference[len(prompt) + 3], atol=1e-4, rtol=0)
    kept = result.answer_hidden.copy()
    model.generate("Something else entirely", max_new_tokens=3, chat=False)
    np.testing.assert_array_equal(result.answer_hidden, kept)


def test_a_quantized_program_exposes_a_state_close_to_fp32s(et_bundle):
    states = {}
    for recipe in ("fp32", "8da8w"):
        cache = (backend := _backend(et_bundle(recipe))).new_cache()
        backend.forward(np.array(PROMPT), cache, logits_to_keep=len(PROMPT))
        assert cache.last_hidden is not None
        states[recipe] = cache.last_hidden
    assert states["8da8w"].shape == (len(PROMPT), HIDDEN) and states["8da8w"].dtype == np.float32
    assert not np.array_equal(states["8da8w"], states["fp32"])  # really the quantized program's own state
    fp32, quant = states["fp32"], states["8da8w"]
    cosine = (fp32 * quant).sum(-1) / (np.linalg.norm(fp32, axis=-1) * np.linalg.norm(quant, axis=-1))
    assert cosine.min() > 0.98, cosine
    # the model's own state, not the smoothed head input (SmoothQuant divides the final norm by per-channel scales)
    assert np.linalg.norm(quant - fp32) / np.linalg.norm(fp32) < 0.15


def test_all_logits_program_returns_the_state_of_every_kept_row(tiny_hf_folder):
    backend = _backend(all_logits_bundle(tiny_hf_folder))
    assert backend.spec.logits == "all" and backend.spec.hidden_method == "forward_hidden"
    ids = np.arange(1000, 1030)
    cache = backend.new_cache()
    backend.forward(ids, cache, logits_to_keep=30)
    rows = cache.last_hidden
    assert rows is not None and rows.shape == (30, HIDDEN)
    backend.forward(np.array([5]), cache)  # one new row
    assert cache.last_hidden is not None and cache.last_hidden.shape == (1, HIDDEN)
    cache.reset()
    steps = np.concatenate([(backend.forward(ids[i : i + 1], cache), cache.last_hidden)[1] for i in range(30)])
    # int8 dynamic activations are quantized per token, so one-call and step-wise rows differ only by rounding
    cosine = (rows * steps).sum(-1) / (np.linalg.norm(rows, axis=-1) * np.linalg.norm(steps, axis=-1))
    assert cosine.min() > 0.98, cosine


def test_forward_stays_single_output_for_the_cpp_runner(et_bundle):
    """ExecuTorch's C++ text runner refuses a forward with two outputs: the hidden state is another method."""
    runtime, _ = import_executorch_runtime()
    program = runtime.get().load_program(et_bundle("fp32") / "model.pte")
    forward = program.load_method("forward").metadata
    hidden = program.load_method("forward_hidden").metadata
    assert forward.num_outputs() == 1 and hidden.num_outputs() == 2
    assert forward.num_inputs() == hidden.num_inputs() == 2


def test_a_bundle_without_the_hidden_method_still_generates(et_bundle, tmp_path):
    folder = tmp_path / "older"
    shutil.copytree(et_bundle("fp32"), folder)
    path = folder / "edgekit.json"
    data = json.loads(path.read_text())
    data["backend_config"].pop("hidden_method")  # as bundles exported before it
    path.write_text(json.dumps(data))

    model = load(folder, threads=1)
    assert model.manifest.backend_spec.hidden_method is None
    result = model.generate("hi", max_new_tokens=3, chat=False)
    assert result.token_ids and result.prompt_hidden is None and result.answer_hidden is None

    # `forward` (what this bundle runs) and `forward_hidden` compute the same logits
    older, newer = model.backend, _backend(et_bundle("fp32"))
    old_cache, new_cache = older.new_cache(), newer.new_cache()
    old_logits = older.forward(np.array(PROMPT), old_cache)
    np.testing.assert_array_equal(old_logits, newer.forward(np.array(PROMPT), new_cache))
    assert old_cache.last_hidden is None and new_cache.last_hidden is not None


def test_a_manifest_naming_a_missing_method_is_refused(et_bundle, tmp_path):
    folder = tmp_path / "wrong"
    shutil.copytree(et_bundle("fp32"), folder)
    path = folder / "edgekit.json"
    data = json.loads(path.read_text())
    data["backend_config"]["hidden_method"] = "no_such_method"
    path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match="no method 'no_such_method'"):
        load(folder, threads=1)
