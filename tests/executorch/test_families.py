"""Every family the ExecuTorch target accepts computes transformers' function: eager module and lowered .pte.

Tiny random configs from tests/architectures/tiny_archs.py with each family's departures switched on (Mistral's
explicit head_dim, Qwen2's q/k/v biases, Qwen3's per-head q/k norms and head_dim ≠ hidden/heads, Phi-3's fused
qkv/gate_up tensors and partial rotary, Gemma 3's sandwich norms, 1+w norms, scaled embedding, GELU-tanh,
query_pre_attn_scalar and two rope thetas). Families with a
sliding window are exported with the cache no longer than the window, the only way the target accepts them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.architectures.tiny_archs import tiny_model, torch_logits, validation_ids

FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "phi3", "gemma3_text")
WINDOWED = {"mistral": 8, "qwen2": 8, "phi3": 16, "gemma3_text": 8}  # tiny_archs.py sliding windows


def _context(family: str) -> int:
    return WINDOWED.get(family, 48)


@pytest.mark.parametrize("family", FAMILIES)
def test_eager_decoder_matches_transformers(family):
    from edgekit.exporters.executorch.module import EtDecoder, load_custom_ops

    load_custom_ops()
    torch_model, loaded = tiny_model(family)
    ids = validation_ids(_context(family))
    expected = torch_logits(torch_model, ids)
    decoder = EtDecoder(loaded.config, loaded.tensors, _context(family), all_logits=True).eval()
    with torch.no_grad():
        one_call = decoder(torch.tensor([ids]), torch.zeros(1, dtype=torch.long))[0].numpy()
        decoder.reset_cache()
        steps = np.stack([decoder(torch.tensor([[t]]), torch.tensor([i]))[0, 0].numpy() for i, t in enumerate(ids)])
    np.testing.assert_allclose(one_call, expected, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(steps, expected, atol=1e-4, rtol=1e-4)


def test_every_registered_family_has_a_case_here():
    from edgekit.exporters.architectures import ARCHITECTURES

    assert set(ARCHITECTURES.names()) == set(FAMILIES)


@pytest.mark.parametrize("family", ["qwen2", "qwen3", "gemma3_text", "phi3"])
def test_lowered_program_matches_transformers(family, tmp_path):
    """fp32 through the whole target (torch.export, XNNPACK lowering, serialization), run by ExecuTorch's runtime:
    one-call prefill of half the context, then token-by-token decode to its end."""
    from edgekit.exporters.executorch.target import ExecuTorchTarget
    from edgekit.exporters.recipes import get_recipe
    from edgekit.runtime.backends.executorch import import_executorch_runtime

    torch_model, loaded = tiny_model(family)
    context = _context(family)
    ids = validation_ids(context)
    expected = torch_logits(torch_model, ids)
    result = ExecuTorchTarget().build(loaded, get_recipe("fp32"), tmp_path, context, {}, lambda event: None)
    assert result.backend == "executorch"
    runtime, _ = import_executorch_runtime()
    method = runtime.get().load_program(tmp_path / "model.pte").load_method("forward")
    half = context // 2
    rows = [method.execute([torch.tensor([ids[:half]]), torch.tensor([0])])[0][0].numpy()]
    for position in range(half, context):
        rows.append(method.execute([torch.tensor([[ids[position]]]), torch.tensor([position])])[0][0].numpy())
    np.testing.assert_allclose(np.stack(rows), expected[half - 1 :], atol=1e-4, rtol=1e-4)
