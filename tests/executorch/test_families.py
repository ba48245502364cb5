"""Every family the ExecuTorch target accepts computes transformers' function: eager module and lowered .pte.

Tiny random configs from tests/architectures/tiny_archs.py with each family's departures switched on (Mistral's
explicit head_dim, Qwen2's q/k/v biases, Qwen3's per-head q/k norms and head_dim ≠ hidden/heads, Phi-3's fused
qkv/gate_up tensors and partial rotary, Gemma 3's sandwich norms, 1+w norms, scaled embedding, GELU-tanh,
query_pre_attn_scalar and two rope thetas). The text (48 tokens) is longer than every tiny sliding window (8, or 16
for Phi-3), so windowed layers must drop the keys that left their window: in one call, token by token, and across
call boundaries.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.architectures.tiny_archs import tiny_model, torch_logits, validation_ids

FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "phi3", "gemma3_text")
TOKENS = 48
CONTEXT = 64  # the KV cache: longer than the text, so unused cache rows must not leak in either


def test_every_registered_family_has_a_case_here():
    from edgekit.exporters.architectures import ARCHITECTURES

    assert set(ARCHITECTURES.names()) == set(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_eager_decoder_matches_transformers(family):
    from edgekit.exporters.executorch.module import EtDecoder, load_custom_ops

    load_custom_ops()
    torch_model, loaded = tiny_model(family)
    ids = validation_ids(TOKENS)
    expected = torch_logits(torch_model, ids)
    decoder = EtDecoder(loaded.config, loaded.tensors, CONTEXT, all_logits=True).eval()
    with torch.no_grad():
        one_call = decoder(torch.tensor([ids]), torch.zeros(1, dtype=torch.long))[0].numpy()
        decoder.reset_cache()
        steps = np.stack([decoder(torch.tensor([[t]]), torch.tensor([i]))[0, 0].numpy() for i, t in enumerate(ids)])
        decoder.reset_cache()
        chunks = [decoder(torch.tensor([ids[:20]]), torch.zeros(1, dtype=torch.long))[0].numpy()]
        chunks.append(decoder(torch.tensor([ids[20:]]), torch.tensor([20]))[0].numpy())
    np.testing.assert_allclose(one_call, expected, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(steps, expected, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(np.concatenate(chunks), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("family", ["qwen2", "qwen3", "gemma3_text", "phi3"])
def test_lowered_program_matches_transformers(family, tmp_path):
    """fp32 through the whole target (torch.export, XNNPACK lowering, serialization), run by ExecuTorch's runtime:
    one-call prefill of half the text, then token-by-token decode past every sliding window."""
    from edgekit.exporters.executorch.target import ExecuTorchTarget
    from edgekit.exporters.recipes import get_recipe
    from edgekit.runtime.backends.executorch import import_executorch_runtime

    torch_model, loaded = tiny_model(family)
    ids = validation_ids(TOKENS)
    expected = torch_logits(torch_model, ids)
    result = ExecuTorchTarget().build(loaded, get_recipe("fp32"), tmp_path, CONTEXT, {}, lambda event: None)
    assert result.backend == "executorch"
    runtime, _ = import_executorch_runtime()
    method = runtime.get().load_program(tmp_path / "model.pte").load_method("forward")
    half = TOKENS // 2
    rows = [method.execute([torch.tensor([ids[:half]]), torch.tensor([0])])[0][0].numpy()]
    for position in range(half, TOKENS):
        rows.append(method.execute([torch.tensor([[ids[position]]]), torch.tensor([position])])[0][0].numpy())
    np.testing.assert_allclose(np.stack(rows), expected[half - 1 :], atol=1e-4, rtol=1e-4)
