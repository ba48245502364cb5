"""The fused ONNX llama graph against transformers, on tiny random models (real onnxruntime sessions)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from edgekit.exporters.architectures import spec_for
from edgekit.exporters.onnx import build_onnx
from edgekit.exporters.quant import quantize_weight
from edgekit.exporters.recipes import FLOAT_BITS, get_recipe
from edgekit.runtime.manifest import OnnxGraphSpec

from tests.exporters.graph_helpers import GraphRunner, gguf_tiny, tiny_llama, torch_logits, with_weights

MAX_CONTEXT = 64
IDS = [int(i) for i in np.random.default_rng(7).integers(0, 512, 24)]
PREFILL = 14


@pytest.fixture(scope="module", params=[True, False], ids=["tied", "untied"])
def tiny(request):
    return tiny_llama(tie=request.param, seed=1 if request.param else 2)


def _check_generation(runner: GraphRunner, reference: np.ndarray, atol: float) -> None:
    """Prefill PREFILL tokens (all logits), then decode one token at a time; then chunked prefill."""
    logits = runner.forward(IDS[:PREFILL], logits_to_keep=PREFILL)
    np.testing.assert_allclose(logits, reference[:PREFILL], atol=atol, rtol=0)
    for pos in range(PREFILL, len(IDS)):
        np.testing.assert_allclose(runner.forward([IDS[pos]])[0], reference[pos], atol=atol, rtol=0)
    runner.reset()
    chunks = [IDS[:5], IDS[5:6], IDS[6:17], IDS[17:]]
    got = np.concatenate([runner.forward(c, logits_to_keep=len(c)) for c in chunks])
    np.testing.assert_allclose(got, reference, atol=atol, rtol=0)


def test_fp32_graph_matches_transformers(tiny, tmp_path):
    torch_model, model = tiny
    result = build_onnx(model, get_recipe("fp32"), tmp_path, max_context=MAX_CONTEXT)
    assert result.backend == "onnx"
    assert result.files == [("model.onnx", "model"), ("model.onnx.data", "weights")]
    spec = OnnxGraphSpec.from_dict(result.backend_config)
    assert spec.cache.num_layers == model.config.num_layers and spec.cache.shared_buffer
    _check_generation(GraphRunner(tmp_path, MAX_CONTEXT), torch_logits(torch_model, IDS), atol=2e-5)


def test_logits_to_keep_returns_trailing_positions(tiny, tmp_path):
    torch_model, model = tiny
    build_onnx(model, get_recipe("fp32"), tmp_path, max_context=MAX_CONTEXT)
    reference = torch_logits(torch_model, IDS[:10])
    got = GraphRunner(tmp_path, MAX_CONTEXT).forward(IDS[:10], logits_to_keep=3)
    assert got.shape == (3, model.config.vocab_size)
    np.testing.assert_allclose(got, reference[-3:], atol=2e-5, rtol=0)


def test_shared_buffer_equals_separate_buffers(tiny, tmp_path):
    _, model = tiny
    build_onnx(model, get_recipe("fp32"), tmp_path, max_context=MAX_CONTEXT)
    shared, copied = GraphRunner(tmp_path, MAX_CONTEXT), GraphRunner(tmp_path, MAX_CONTEXT, share_buffer=False)
    np.testing.assert_array_equal(shared.forward(IDS[:8], 8), copied.forward(IDS[:8], 8))
    for tok in IDS[8:12]:
        np.testing.assert_array_equal(shared.forward([tok]), copied.forward([tok]))


def _dequantized_reference(torch_model, model, recipe):
    """transformers model carrying exactly the weights the quantized graph computes with."""
    spec = spec_for(model.config)
    cfg = model.config
    tensors = {}
    for layer in range(cfg.num_layers):
        for role in ("q", "k", "v", "o", "gate", "up", "down"):
            w = spec.linear_weight(model, role, layer)
            qm = quantize_weight(w, recipe.bits, recipe.group_size, recipe.symmetric, recipe.method)
            tensors[spec.tensor_name(role, layer)] = qm.dequantize()

    def store(w, bits):
        if bits == FLOAT_BITS:
            return w
        return quantize_weight(w, bits, recipe.group_size, recipe.symmetric, recipe.method).dequantize()

    tensors["model.embed_tokens.weight"] = store(
        spec.embedding(model), recipe.head_bits if cfg.tie_word_embeddings else recipe.embedding_bits
    )
    if not cfg.tie_word_embeddings:
        tensors["lm_head.weight"] = store(spec.head(model), recipe.head_bits)
    return with_weights(torch_model, tensors)


def _float_activations(recipe):
    """The recipe with MatMulNBits on float activations: the graph then computes its weights exactly."""
    return dataclasses.replace(recipe, accuracy_level=0, int8_accuracy_level=0, activation_rules=())


@pytest.mark.parametrize("recipe_name", ["int8", "int4-rtn", "int4"])
def test_quantized_graph_computes_its_dequantized_weights(tiny, tmp_path, recipe_name):
    torch_model, model = tiny
    recipe = get_recipe(recipe_name)
    result = build_onnx(model, _float_activations(recipe), tmp_path / "exact", max_context=MAX_CONTEXT)
    reference = torch_logits(_dequantized_reference(torch_model, model, recipe), IDS)
    _check_generation(GraphRunner(tmp_path / "exact", MAX_CONTEXT), reference, atol=5e-5)
    # The shipped recipe (int8 activations, accuracy_level 4) stays near the dequantized model:
    # for 4-bit weights much nearer than the weight rounding moves the logits; for 8-bit both are ~1e-2.
    build_onnx(model, recipe, tmp_path / "shipped", max_context=MAX_CONTEXT)
    shipped = GraphRunner(tmp_path / "shipped", MAX_CONTEXT).forward(IDS, len(IDS))
    float_ref = torch_logits(torch_model, IDS)
    weight_effect = np.abs(reference - float_ref).max()
    assert np.abs(shipped - reference).max() < (0.02 if recipe.bits == 8 else 0.5 * weight_effect)
    bound = 0.02 if recipe.bits == 8 else 0.15  # tiny random weights: logits are O(1)
    assert np.abs(shipped - float_ref).max() < bound
    errors = result.metrics["quant_error"]
    assert errors["tensors"] == 4 * model.config.num_layers + (1 if model.config.tie_word_embeddings else 2)
    assert 0 < errors["max_rel_rms_error"] < (0.01 if recipe.bits == 8 else 0.2)


def test_quantized_graph_is_smaller(tmp_path):
    _, model = tiny_llama(tie=False, hidden=128, intermediate=256)
    sizes = {}
    for name in ("fp32", "int8", "int4"):
        sizes[name] = build_onnx(model, get_recipe(name), tmp_path / name, max_context=32).metrics["onnx_bytes"]
    assert sizes["int4"] < sizes["int8"] < sizes["fp32"]


@pytest.mark.parametrize("mixed", [False, True], ids=["fused-qkv", "mixed-types"])
def test_gguf_repack_is_exact_in_the_graph(tmp_path, mixed):
    for tie, layer_type in ((True, "Q4_1"), (False, "Q4_0")):
        torch_model, _ = tiny_llama(tie=tie, seed=5)
        deq_model, model = gguf_tiny(
            torch_model, layer_type=layer_type, embed_type="Q8_0" if tie else "Q4_1", mixed=mixed
        )
        out = tmp_path / f"{tie}-{layer_type}"
        result = build_onnx(model, _float_activations(get_recipe("gguf")), out, max_context=MAX_CONTEXT)
        assert result.metrics["gguf_repack_max_error"] == 0.0
        linear = 7 * model.config.num_layers + (1 if tie else 2)
        assert result.metrics["gguf_tensors_repacked"] == linear
        # The graph computes the dequantized GGUF model (float reference = transformers' GGUF loading).
        _check_generation(GraphRunner(out, MAX_CONTEXT), torch_logits(deq_model, IDS), atol=5e-5)


def test_gguf_q4_1_embedding_uses_correction(tmp_path):
    torch_model, _ = tiny_llama(tie=True, seed=6)
    deq_model, model = gguf_tiny(torch_model, layer_type="Q8_0", embed_type="Q4_1")
    build_onnx(model, _float_activations(get_recipe("gguf")), tmp_path, max_context=MAX_CONTEXT)
    _check_generation(GraphRunner(tmp_path, MAX_CONTEXT), torch_logits(deq_model, IDS), atol=5e-5)


def test_four_bit_asymmetric_shared_embedding_and_head(tmp_path):
    """GatherBlockQuantized with zero points over the head's 4-bit MatMulNBits weight (tied)."""
    torch_model, model = tiny_llama(tie=True, seed=3)
    recipe = dataclasses.replace(get_recipe("int4"), embedding_bits=4, head_bits=4)
    assert not recipe.symmetric
    build_onnx(model, _float_activations(recipe), tmp_path, max_context=MAX_CONTEXT)
    reference = torch_logits(_dequantized_reference(torch_model, model, recipe), IDS)
    _check_generation(GraphRunner(tmp_path, MAX_CONTEXT), reference, atol=5e-5)


@pytest.mark.parametrize("layer_type, embed_type", [("Q4_1", "Q8_0"), ("Q8_0", "Q4_1")])
def test_head_on_int8_activations_refines_its_top_k_exactly(tmp_path, layer_type, embed_type):
    """Float-activation layers, head at accuracy_level 4 + float top-k refinement.

    The top-k logits (and so every greedy choice) equal the float model's; the other logits keep
    the int8-activation error. Q4_1 head: the refinement's rows carry the block correction too.
    """

    torch_model, _ = tiny_llama(tie=True, seed=8)
    deq_model, model = gguf_tiny(torch_model, layer_type=layer_type, embed_type=embed_type)
    recipe = get_recipe("gguf")
    assert recipe.int8_accuracy_level == 4  # the shipped gguf recipe: its Q8_0 head on int8 activations, refined
    # layers on float activations, so the only int8-activation error left is the head's
    recipe = dataclasses.replace(recipe, accuracy_level=0, activation_rules=())
    if embed_type == "Q4_1":  # 4-bit head on int8 activations, 8-bit layers on float activations
        recipe = dataclasses.replace(recipe, accuracy_level=4, int8_accuracy_level=0)
    build_onnx(model, recipe, tmp_path / "refined", max_context=MAX_CONTEXT)
    rest = _top_k_is_exact(tmp_path / "refined", deq_model)
    assert rest > 5e-5  # the other logits do carry the int8-activation error (the refinement is what fixed the top)


def _top_k_is_exact(bundle_dir, deq_model) -> float:
    """Check the graph's best logits and greedy choices equal the reference's; return the largest other error."""
    from edgekit.exporters.onnx import builder

    reference = torch_logits(deq_model, IDS)
    got = GraphRunner(bundle_dir, MAX_CONTEXT).forward(IDS, len(IDS))
    top = np.argsort(-reference, axis=-1)[:, : builder.HEAD_REFINE_TOP_K // 2]
    np.testing.assert_allclose(
        np.take_along_axis(got, top, -1), np.take_along_axis(reference, top, -1), atol=5e-5, rtol=0
    )
    np.testing.assert_array_equal(got.argmax(-1), reference.argmax(-1))
    return float(np.abs(got - reference).max())


def test_head_search_copy_keeps_the_exact_heads_top_k(tmp_path):
    """head_search_bits=4: the logits come from a 4-bit copy of the Q8_0 head, the top k are recomputed from the
    exact rows, so greedy choices equal the float model's while the other logits carry the copy's error."""
    import onnx

    torch_model, _ = tiny_llama(tie=True, seed=8)
    deq_model, model = gguf_tiny(torch_model, layer_type="Q4_1", embed_type="Q8_0")
    recipe = dataclasses.replace(
        get_recipe("gguf"), accuracy_level=0, int8_accuracy_level=0, activation_rules=(), head_search_bits=4
    )
    build_onnx(model, recipe, tmp_path / "search", max_context=MAX_CONTEXT)
    graph = onnx.load(str(tmp_path / "search" / "model.onnx"), load_external_data=False).graph
    heads = {n.name.split("/")[0]: n for n in graph.node if n.op_type == "MatMulNBits" and "lm_head" in n.name}
    assert set(heads) == {"lm_head_search"}, set(heads)  # the 8-bit head is only gathered from (embedding, refine)
    assert next(a.i for a in heads["lm_head_search"].attribute if a.name == "bits") == 4
    assert _top_k_is_exact(tmp_path / "search", deq_model) > 1e-3  # the rest are the 4-bit copy's
