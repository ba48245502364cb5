"""The final hidden state of the ONNX graph (backend_config.last_hidden) through the runtime.

Real sessions on the shared tiny bundles: ``cache.last_hidden`` is the state transformers computes on the same
HF folder (its last ``hidden_states``, after the final norm), the fp32 logits are that state times the tied
embedding, and ``Result.prompt_hidden`` / ``Result.answer_hidden`` are the states that drew the first and the
last token. A bundle whose graph has no such output (exported before it) still loads and generates, with None.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from tests.fixtures.require import import_or_skip_or_fail

torch = import_or_skip_or_fail("torch", "pip install -e '.[export]' (scripts/setup.sh installs it)")

from edgekit.runtime import load  # noqa: E402
from edgekit.runtime.backends import BackendOptions  # noqa: E402
from edgekit.runtime.backends.onnx import OnnxBackend  # noqa: E402
from edgekit.runtime.backends.onnx_config import OnnxGraphSpec  # noqa: E402
from edgekit.runtime.errors import BundleError  # noqa: E402
from edgekit.runtime.manifest import read_manifest, sha256_file  # noqa: E402

from tests.fixtures.hidden_reference import reference_hidden  # noqa: E402

PROMPT = [5, 17, 99, 4, 250, 31, 8, 1000, 77]


def _backend(folder) -> OnnxBackend:
    backend = OnnxBackend.open(folder, read_manifest(folder), BackendOptions(threads=1))
    assert isinstance(backend, OnnxBackend)
    return backend


def _embedding(folder) -> np.ndarray:
    graph = onnx.load(str(folder / "model.onnx")).graph  # external data read from the same folder
    return numpy_helper.to_array(next(t for t in graph.initializer if t.name == "embed_tokens.weight"))


def test_last_hidden_is_the_models_final_normed_state(tiny_bundle, tiny_hf_folder):
    folder = tiny_bundle("fp32")
    backend = _backend(folder)
    assert read_manifest(folder).backend_spec.last_hidden == "last_hidden"
    reference = reference_hidden(tiny_hf_folder, PROMPT)
    table = _embedding(folder)

    cache = backend.new_cache()
    logits = backend.forward(np.array(PROMPT[:6]), cache)  # logits_to_keep=1: the preallocated buffer
    assert cache.last_hidden is not None and cache.last_hidden.shape == (1, backend.hidden_size)
    np.testing.assert_allclose(cache.last_hidden[0], reference[5], atol=1e-4, rtol=0)
    np.testing.assert_allclose(logits, cache.last_hidden @ table.T, atol=1e-4, rtol=0)  # tied head, fp32

    logits = backend.forward(np.array(PROMPT[6:]), cache, logits_to_keep=3)  # every kept position
    assert cache.last_hidden.shape == (3, backend.hidden_size)
    np.testing.assert_allclose(cache.last_hidden, reference[6:], atol=1e-4, rtol=0)
    np.testing.assert_allclose(logits, cache.last_hidden @ table.T, atol=1e-4, rtol=0)

    cache.reset()
    assert cache.last_hidden is None


def test_result_carries_the_prompt_and_answer_hidden_states(tiny_bundle, tiny_hf_folder):
    folder = tiny_bundle("fp32")
    model = load(folder, threads=1)
    bias = {int(e): -100.0 for e in model.tokenizer.eos_ids}  # never ends early: exactly 5 tokens
    result = model.generate("Tell me about cats.", max_new_tokens=5, temperature=0.0, logit_bias=bias, chat=False)
    assert len(result.token_ids) == 5 and result.finish_reason == "length"
    prompt = model.tokenizer.encode("Tell me about cats.")
    reference = reference_hidden(tiny_hf_folder, prompt + result.token_ids)
    for hidden in (result.prompt_hidden, result.answer_hidden):
        assert isinstance(hidden, np.ndarray) and hidden.dtype == np.float32 and hidden.shape == (64,)
    # the state after the prompt drew the first token; the one after token 4 drew the last (token 5)
    np.testing.assert_allclose(result.prompt_hidden, reference[len(prompt) - 1], atol=1e-4, rtol=0)
    np.testing.assert_allclose(result.answer_hidden, reference[len(prompt) + 3], atol=1e-4, rtol=0)
    # the answer's mean state: the states that drew tokens 1..5, the last prompt position through token 4
    drew = reference[len(prompt) - 1 : len(prompt) + 4]
    np.testing.assert_allclose(result.answer_hidden_mean, drew.mean(axis=0), atol=1e-4, rtol=0)
    # copies, not views of the cache's buffer: a later call does not change them
    kept = result.answer_hidden.copy()
    model.generate("Something else entirely", max_new_tokens=3, chat=False)
    np.testing.assert_array_equal(result.answer_hidden, kept)
    assert result == result  # the arrays stay out of equality (numpy would refuse to give one bool)
    assert "prompt_hidden" not in result.to_dict()


def test_a_bundle_without_the_output_still_loads(tiny_bundle, tmp_path):
    folder = tmp_path / "older"
    shutil.copytree(tiny_bundle("fp32"), folder)
    graph = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    kept = [o for o in graph.graph.output if o.name != "last_hidden"]
    del graph.graph.output[:]
    graph.graph.output.extend(kept)
    onnx.save(graph, str(folder / "model.onnx"))
    path = folder / "edgekit.json"
    data = json.loads(path.read_text())
    data["backend_config"].pop("last_hidden")  # as bundles exported before it
    entry = next(f for f in data["files"] if f["path"] == "model.onnx")
    entry.update(size=(folder / "model.onnx").stat().st_size, sha256=sha256_file(folder / "model.onnx"))
    path.write_text(json.dumps(data))

    model = load(folder, threads=1)
    assert model.manifest.backend_spec.last_hidden is None
    result = model.generate("hi", max_new_tokens=3, chat=False)
    assert result.token_ids and result.prompt_hidden is None and result.answer_hidden is None
    assert result.answer_hidden_mean is None


def test_a_manifest_naming_a_missing_output_is_refused(tiny_bundle):
    folder = tiny_bundle("fp32")
    manifest = read_manifest(folder)
    spec = OnnxGraphSpec.from_dict(manifest.backend_config | {"last_hidden": "no_such_output"})
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    with pytest.raises(BundleError, match="graph lacks no_such_output"):
        OnnxBackend(session, spec, manifest)
