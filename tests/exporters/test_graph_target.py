"""Export target ``onnx``: refusals name recipe and target/source; the tied tensor is stored once."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest
from edgekit.exporters.loaded_model import GGUFTensor
from edgekit.exporters.onnx import build_onnx
from edgekit.exporters.recipes import QuantRecipe, get_recipe
from edgekit.exporters.target_registry import TARGETS
from edgekit.runtime.errors import ConfigError, UnknownNameError, UnsupportedError

from tests.exporters.graph_helpers import gguf_tiny, tiny_llama


@pytest.fixture(scope="module")
def tiny():
    return tiny_llama(tie=True)


def test_onnx_target_is_registered():
    assert "onnx" in TARGETS.names()


def test_gguf_recipe_refused_for_non_gguf_source(tiny):
    _, model = tiny
    reason = TARGETS.get("onnx").supports(get_recipe("gguf"), model)
    assert reason is not None and "'gguf'" in reason and "not a GGUF" in reason and model.source in reason


def test_gguf_recipe_refused_for_k_quant_blocks(tiny):
    _, model = tiny
    # Q3_K has no exact MatMulNBits form (Q4_K/Q5_K/Q6_K do: quant/gguf_kquant_blocks.py).
    bad = {
        "model.layers.0.mlp.down_proj.weight": GGUFTensor(
            "model.layers.0.mlp.down_proj.weight",
            "blk.0.ffn_down.weight",
            "Q3_K",
            (64, 256),
            np.zeros((64, 110), np.uint8),
        )
    }
    reason = TARGETS.get("onnx").supports(get_recipe("gguf"), dataclasses.replace(model, gguf_tensors=bad))
    assert reason is not None and "Q3_K" in reason and "blk.0.ffn_down.weight" in reason and "'gguf'" in reason


def test_recipe_of_another_target_is_refused(tiny):
    _, model = tiny
    recipe = QuantRecipe("8da4w", 4, 32, True, "dynamic", 8, 8, frozenset({"executorch"}), "", activation_bits=8)
    reason = TARGETS.get("onnx").supports(recipe, model)
    assert reason is not None and "'8da4w'" in reason and "'onnx'" in reason and "executorch" in reason
    with pytest.raises(UnsupportedError, match="8da4w"):
        build_onnx(model, recipe, "/nonexistent", max_context=8)


def test_unknown_architecture_is_refused(tiny):
    _, model = tiny
    other = dataclasses.replace(model, config=dataclasses.replace(model.config, architecture="rwkv"))
    reason = TARGETS.get("onnx").supports(get_recipe("int4"), other)
    assert reason is not None and "rwkv" in reason and "llama" in reason


def test_supported_combinations_pass(tiny):
    torch_model, model = tiny
    target = TARGETS.get("onnx")
    for name in ("fp32", "int8", "int4", "int4-rtn"):
        assert target.supports(get_recipe(name), model) is None
    _, gguf_model = gguf_tiny(torch_model)
    assert target.supports(get_recipe("gguf"), gguf_model) is None


def test_bad_profile_and_context_are_config_errors(tiny, tmp_path):
    _, model = tiny
    with pytest.raises(UnknownNameError, match="web2"):
        TARGETS.get("onnx").build(model, get_recipe("fp32"), tmp_path, 8, {"profile": "web2"}, lambda e: None)
    with pytest.raises(ConfigError, match="max_context"):
        build_onnx(model, get_recipe("fp32"), tmp_path, max_context=0)


def test_tied_quantized_tensor_is_stored_once_and_progress_is_reported(tiny, tmp_path):
    _, model = tiny
    events = []
    TARGETS.get("onnx").build(model, get_recipe("int4"), tmp_path, 32, {}, events.append)
    graph = onnx.load(str(tmp_path / "model.onnx"), load_external_data=False).graph
    by_op = {}
    for node in graph.node:
        by_op.setdefault(node.op_type, []).append(node)
    gather = by_op["GatherBlockQuantized"][0]
    head = next(n for n in by_op["MatMulNBits"] if n.name.startswith("lm_head"))
    assert gather.input[0] == head.input[1]  # the very same initializer, no Reshape (it would be folded into a copy)
    scales = next(n for n in by_op["Reshape"] if n.output[0] == gather.input[2])
    assert scales.input[0] == head.input[2]
    assert sum(1 for t in graph.initializer if "embed" in t.name) == 0
    # One fused q|k|v and one fused gate|up MatMulNBits per layer, plus o, down and the head.
    assert len(by_op["MatMulNBits"]) == 4 * model.config.num_layers + 1
    assert len(by_op["GroupQueryAttention"]) == model.config.num_layers
    done = [e for e in events if e.done]
    assert [e.name for e in done][-1] == "save" and any("max_err" in e.metrics for e in done)
