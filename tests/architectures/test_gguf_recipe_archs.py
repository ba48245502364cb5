"""The exact ``gguf`` recipe on Gemma 3's quant mix (Q5_0, Q8_0, Q4_K, Q6_K), tiny model.

Gemma 3 270M's Q4_K_M GGUF stores q/k/gate/up as Q5_0, v and the tied
embedding as Q8_0, o_proj as Q4_K and down_proj as Q6_K. Here a tiny Gemma 3
(dims multiples of 256, as k-quants need) gets blocks of those types - Q5_0 and
Q8_0 from gguf-py's quantizer, Q4_K and Q6_K random valid blocks - and float
weights that are gguf-py's dequantization of them, as the GGUF source loads.
Reference: transformers' Gemma3ForCausalLM carrying exactly those float weights;
the graph must match it (the repack is exact, so only float rounding remains).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from edgekit.exporters.loaded_model import GGUFTensor, LoadedModel
from edgekit.exporters.onnx import build_onnx
from edgekit.exporters.recipes import get_recipe

from tests.architectures import tiny_archs
from tests.architectures.kquant_helpers import random_kquant
from tests.architectures.tiny_archs import torch_logits, validation_ids
from tests.exporters.graph_helpers import GraphRunner, with_weights

MAX_CONTEXT = 64
IDS = validation_ids(40)
TYPES = {
    "q_proj": "Q5_0",
    "k_proj": "Q5_0",
    "v_proj": "Q8_0",
    "o_proj": "Q4_K",
    "gate_proj": "Q5_0",
    "up_proj": "Q5_0",
    "down_proj": "Q6_K",
    "embed_tokens": "Q8_0",
}


def _gguf_tensor(name: str, w: np.ndarray, ggml_type: str, seed: int) -> GGUFTensor:
    from gguf import GGMLQuantizationType
    from gguf.quants import quantize

    if ggml_type in ("Q4_K", "Q6_K"):
        return random_kquant(ggml_type, *w.shape, seed=seed, d_range=(2e-4, 8e-4), name=name, gguf_name=name)
    raw = quantize(np.ascontiguousarray(w, dtype=np.float32), GGMLQuantizationType[ggml_type])
    return GGUFTensor(name=name, gguf_name=name, ggml_type=ggml_type, shape=tuple(w.shape), raw=raw)


@pytest.fixture(scope="module")
def gemma_gguf(monkeypatch_module):
    original = tiny_archs.TINY_ARCHS["gemma3_text"]

    def wide():
        cfg = original()
        cfg.hidden_size, cfg.intermediate_size, cfg.head_dim, cfg.num_attention_heads = 256, 256, 64, 4
        return cfg

    monkeypatch_module.setitem(tiny_archs.TINY_ARCHS, "gemma3_text", wide)
    torch_model, model = tiny_archs.tiny_model("gemma3_text", seed=5)
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    tensors, gguf_tensors = dict(model.tensors), {}
    for i, (name, w) in enumerate(sorted(model.tensors.items())):
        kind = next((t for key, t in TYPES.items() if key in name), None)
        if kind is None or w.ndim != 2:
            continue
        tensor = _gguf_tensor(name, w, kind, seed=i)
        gguf_tensors[name] = tensor
        tensors[name] = dequantize(tensor.raw, GGMLQuantizationType[kind]).reshape(w.shape).astype(np.float32)
    loaded = LoadedModel(
        name="tiny-gemma3-gguf",
        source="tiny.gguf",
        config=model.config,
        tensors=tensors,
        tokenizer=model.tokenizer,
        gguf_tensors=gguf_tensors,
    )
    return with_weights(torch_model, tensors), loaded


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_gguf_recipe_repacks_gemma3_mix_exactly(gemma_gguf, tmp_path):
    torch_model, model = gemma_gguf
    assert {t.ggml_type for t in model.gguf_tensors.values()} == {"Q5_0", "Q8_0", "Q4_K", "Q6_K"}
    # Float activations everywhere (the recipe's default runs 8-bit layers with int8 activations,
    # accuracy_level 4, a speed choice measured on real models): this test checks the weights are exact.
    recipe = dataclasses.replace(get_recipe("gguf"), accuracy_level=0, int8_accuracy_level=0)
    result = build_onnx(model, recipe, tmp_path, max_context=MAX_CONTEXT)
    assert result.metrics["gguf_repack_max_error"] < 1e-6
    assert result.metrics["gguf_tensors_repacked"] == len(model.gguf_tensors)
    reference = torch_logits(torch_model, IDS)
    runner = GraphRunner(tmp_path, MAX_CONTEXT)
    got = np.concatenate([runner.forward(IDS[:20], logits_to_keep=20)] + [runner.forward([t]) for t in IDS[20:]])
    scale = np.abs(reference).max()
    np.testing.assert_allclose(got, reference, atol=2e-4 * max(scale, 1.0), rtol=0)
    assert (got.argmax(-1) == reference.argmax(-1)).all()


def test_offsets_in_zero_points_on_gemma3_mix_stay_within_their_bound(gemma_gguf, tmp_path):
    """gguf-fast's zero-point form on the same mix: Q4_K (o_proj) becomes 8-bit codes with its offsets in the
    zero points, the offset-free types keep their exact repack, and no correction op is left. The 8-bit layers
    run on float activations here (int8_accuracy_level=0: onnxruntime's slow but exact kernel) so the only
    difference from torch is the form's own offset error, at most scale/34 per block."""
    import onnx

    torch_model, model = gemma_gguf
    recipe = dataclasses.replace(get_recipe("gguf-fast"), head_search_bits=None, int8_accuracy_level=0)
    result = build_onnx(model, recipe, tmp_path, max_context=MAX_CONTEXT)
    graph = onnx.load(str(tmp_path / "model.onnx"), load_external_data=False).graph
    assert not [n.name for n in graph.node if "/correction" in n.name]
    o_proj = [n for n in graph.node if n.op_type == "MatMulNBits" and n.name.startswith("layers.0.o/")]
    assert o_proj and {a.name: a.i for a in o_proj[0].attribute}["bits"] == 8 and o_proj[0].input[3]
    from edgekit.exporters.quant.block_types import decode_blocks

    largest_scale = max(
        float(np.abs(decode_blocks(t)[1]).max()) for t in model.gguf_tensors.values() if t.ggml_type == "Q4_K"
    )
    assert 0 < result.metrics["gguf_repack_max_error"] <= largest_scale / 34 * (1 + 1e-6)
    reference = torch_logits(torch_model, IDS)
    runner = GraphRunner(tmp_path, MAX_CONTEXT)
    got = np.concatenate([runner.forward(IDS[:20], logits_to_keep=20)] + [runner.forward([t]) for t in IDS[20:]])
    exact_tol = 2e-4 * max(np.abs(reference).max(), 1.0)
    error = np.abs(got - reference).max()
    assert exact_tol < error < 50 * exact_tol, (error, exact_tol)  # the offsets moved, by a bounded amount
    assert (got.argmax(-1) == reference.argmax(-1)).mean() >= 0.9
