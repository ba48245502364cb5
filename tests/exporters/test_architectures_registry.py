"""Architecture registry: lookups, errors, and the GGUF q/k row mapping."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from edgekit.exporters.architectures import ARCHITECTURES, ArchitectureSpec, get_architecture, spec_for
from edgekit.runtime.errors import UnknownNameError, UnsupportedError

from tests.exporters.graph_helpers import tiny_llama


def test_llama_is_registered():
    cls = get_architecture("llama")
    assert issubclass(cls, ArchitectureSpec) and cls.family == "llama"


def test_unknown_architecture_lists_sorted_names():
    with pytest.raises(UnknownNameError) as info:
        get_architecture("mamba")
    assert "'mamba'" in str(info.value)
    assert info.value.known == sorted(ARCHITECTURES.names())
    assert "llama" in str(info.value)


def test_spec_for_unknown_config_raises():
    _, model = tiny_llama()
    config = dataclasses.replace(model.config, architecture="rwkv")
    with pytest.raises(UnknownNameError, match="rwkv"):
        spec_for(config)


def test_llama_refuses_bias_checkpoints():
    _, model = tiny_llama()
    config = dataclasses.replace(model.config, hf_config={**model.config.hf_config, "attention_bias": True})
    with pytest.raises(UnsupportedError, match="attention_bias"):
        spec_for(config)


def test_gguf_row_order_undoes_llama_cpp_permutation():
    """Reference: transformers' LlamaTensorProcessor._reverse_permute_weights (GGUF loader)."""
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    _, model = tiny_llama()
    spec = spec_for(model.config)
    cfg = model.config
    processor = LlamaTensorProcessor(
        config={"num_attention_heads": cfg.num_heads, "num_key_value_heads": cfg.num_kv_heads}
    )
    for role, heads in (("q", cfg.num_heads), ("k", cfg.num_kv_heads)):
        rows = heads * cfg.head_dim
        gguf_rows = np.random.default_rng(1).standard_normal((rows, 8)).astype(np.float32)
        expected = processor._reverse_permute_weights(
            gguf_rows, cfg.num_heads, cfg.num_kv_heads if role == "k" else cfg.num_heads
        )
        order = spec.gguf_row_order(role, rows)
        np.testing.assert_array_equal(gguf_rows[order], expected)
    assert spec.gguf_row_order("v", cfg.num_kv_heads * cfg.head_dim) is None


def test_rope_cache_matches_transformers():
    import torch
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    torch_model, model = tiny_llama()
    spec = spec_for(model.config)
    cos, sin = spec.rope_cache(spec.layer_attention(0), 16)
    rotary = LlamaRotaryEmbedding(torch_model.config)
    ref_cos, ref_sin = rotary(torch.zeros(1, 16, 8), torch.arange(16)[None])
    half = model.config.head_dim // 2
    np.testing.assert_allclose(cos, ref_cos[0, :, :half].numpy(), atol=1e-6)
    np.testing.assert_allclose(sin, ref_sin[0, :, :half].numpy(), atol=1e-6)


def test_unsupported_rope_scaling_is_refused():
    _, model = tiny_llama()
    config = dataclasses.replace(model.config, rope_scaling={"rope_type": "yarn", "factor": 4.0})
    spec = spec_for(config)
    with pytest.raises(UnsupportedError, match="yarn"):
        spec.rope_cache(spec.layer_attention(0), 8)


def test_head_dim_groupqueryattention_cannot_run_is_refused():
    _, model = tiny_llama()
    config = dataclasses.replace(model.config, head_dim=24)
    with pytest.raises(UnsupportedError, match="head_dim 24"):
        spec_for(config)
