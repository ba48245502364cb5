"""Architecture specs: refusals with clear messages, and per-layer settings read from real configs."""

from __future__ import annotations

import dataclasses

import pytest
from edgekit.exporters.architectures import ARCHITECTURES, spec_for
from edgekit.runtime.errors import UnknownNameError, UnsupportedError

from tests.architectures.tiny_archs import tiny_model


def _with_hf(model, **changes):
    config = model.config
    return dataclasses.replace(config, hf_config={**config.hf_config, **changes})


def test_unknown_architecture_is_refused_with_the_sorted_list():
    from edgekit.exporters.sources.hf_config import check_supported

    with pytest.raises(UnsupportedError) as info:
        check_supported("mamba", "some/folder")
    expected = ", ".join(sorted(ARCHITECTURES.names()))
    assert f"architecture 'mamba' is not supported; supported architectures: {expected}" in str(info.value)
    assert expected.startswith("gemma3_text, llama, mistral, phi3, qwen2, qwen3")


def test_unknown_family_in_config_is_unknown_name_error():
    _, model = tiny_model("qwen2")
    with pytest.raises(UnknownNameError, match="known architectures: gemma3_text, llama, mistral, phi3, qwen2, qwen3"):
        spec_for(dataclasses.replace(model.config, architecture="falcon"))


def test_gemma3_270m_layer_settings():
    """Gemma 3 270M's own config (transformers defaults + the GGUF's values): every 6th layer global."""
    from edgekit.exporters.sources.hf_config import model_config_from_hf
    from transformers import Gemma3TextConfig

    hf = Gemma3TextConfig(
        num_hidden_layers=18,
        sliding_window=512,
        hidden_size=640,
        head_dim=256,
        num_attention_heads=4,
        num_key_value_heads=1,
        query_pre_attn_scalar=256,
    )
    spec = spec_for(model_config_from_hf(hf, "gemma3_text"))
    full = [i for i in range(18) if spec.layer_attention(i).local_window_size == -1]
    assert full == [5, 11, 17]
    assert spec.layer_attention(5).rope_theta == 1_000_000.0 and spec.layer_attention(0).rope_theta == 10_000.0
    assert spec.layer_attention(0).local_window_size == 512
    assert spec.attention_scale() == 256**-0.5
    assert spec.embedding_scale() == pytest.approx(640**0.5)


def test_gemma3_refuses_attention_softcapping():
    _, model = tiny_model("gemma3_text")
    with pytest.raises(UnsupportedError, match=r"gemma3_text: attn_logit_softcapping=50.0 is not supported"):
        spec_for(_with_hf(model, attn_logit_softcapping=50.0))


def test_gemma3_final_softcap_comes_from_config():
    _, model = tiny_model("gemma3_text")
    assert spec_for(model.config).final_logit_softcap is None
    assert spec_for(_with_hf(model, final_logit_softcapping=30.0)).final_logit_softcap == 30.0


def test_qwen3_refuses_attention_bias():
    _, model = tiny_model("qwen3")
    with pytest.raises(UnsupportedError, match="qwen3: attention_bias=True"):
        spec_for(_with_hf(model, attention_bias=True))


def test_phi3_refuses_longrope():
    _, model = tiny_model("phi3")
    config = dataclasses.replace(model.config, rope_scaling={"rope_type": "longrope", "short_factor": [1.0]})
    with pytest.raises(UnsupportedError, match="phi3: rope_scaling 'longrope'.*Phi-3-mini-4k-instruct"):
        spec_for(config)


def test_phi3_refuses_partial_rotary_the_kernel_cannot_run():
    _, model = tiny_model("phi3")
    with pytest.raises(UnsupportedError, match="partial rotary over 8 of 32 head dims"):
        spec_for(_with_hf(model, partial_rotary_factor=0.25, rope_parameters={"partial_rotary_factor": 0.25}))


def test_phi3_slices_fused_tensors_in_transformers_order():
    import numpy as np

    torch_model, model = tiny_model("phi3")
    spec = spec_for(model.config)
    attn = torch_model.model.layers[1].self_attn
    qkv = attn.qkv_proj.weight.detach().numpy()
    q_rows = model.config.num_heads * model.config.head_dim
    np.testing.assert_array_equal(spec.linear_weight(model, "q", 1), qkv[:q_rows])
    np.testing.assert_array_equal(
        spec.linear_weight(model, "v", 1), qkv[-model.config.num_kv_heads * model.config.head_dim :]
    )
    gate_up = torch_model.model.layers[1].mlp.gate_up_proj.weight.detach().numpy()
    np.testing.assert_array_equal(spec.linear_weight(model, "up", 1), gate_up[model.config.intermediate_size :])


def test_sliding_window_layers_follow_layer_types():
    _, model = tiny_model("qwen2")
    spec = spec_for(model.config)
    # max_window_layers=1: layer 0 full, the rest slide over 8 tokens (transformers' Qwen2Config.layer_types).
    assert [spec.layer_attention(i).local_window_size for i in range(3)] == [-1, 8, 8]
    _, mistral = tiny_model("mistral")
    assert {spec_for(mistral.config).layer_attention(i).local_window_size for i in range(3)} == {8}
