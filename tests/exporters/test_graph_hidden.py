"""The graph's ``last_hidden`` output: the final normed hidden state of the kept positions, in both profiles.

Checked against the real transformers model the graph was built from: its last ``hidden_states`` (after the final
norm, the LM head's input) at the kept positions, and for a float head logits = hidden @ embedding.T.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from edgekit.exporters.onnx import build_onnx
from edgekit.exporters.onnx.builder import LAST_HIDDEN
from edgekit.exporters.recipes import get_recipe

from tests.exporters.graph_helpers import tiny_llama

IDS = [3, 77, 250, 9, 401, 12, 5, 88]
MAX_CONTEXT = 32


@pytest.fixture(scope="module")
def tiny():
    return tiny_llama(tie=True)


def _reference(torch_model) -> tuple[np.ndarray, np.ndarray]:
    import torch

    with torch.no_grad():
        out = torch_model(torch.tensor([IDS]), output_hidden_states=True)
    return out.hidden_states[-1][0].numpy(), out.logits[0].numpy()


def _run(folder, keep: int) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    outputs = {o.name: o for o in session.get_outputs()}
    assert outputs[LAST_HIDDEN].shape == ["batch_size", "logits_to_keep", 64]
    feeds: dict[str, np.ndarray] = {
        "input_ids": np.array([IDS], dtype=np.int64),
        "attention_mask": np.ones((1, len(IDS)), dtype=np.int64),
        "logits_to_keep": np.array([keep], dtype=np.int64),
    }
    for i in session.get_inputs():
        if i.name.startswith("past_key_values."):
            feeds[i.name] = np.zeros((1, i.shape[1], MAX_CONTEXT, i.shape[3]), dtype=np.float32)
    logits, hidden = session.run(["logits", LAST_HIDDEN], feeds)
    return {"logits": logits[0], "hidden": hidden[0]}


@pytest.mark.parametrize("profile", ["cpu", "web"])
def test_last_hidden_is_the_head_input_of_the_kept_positions(tiny, tmp_path, profile):
    torch_model, model = tiny
    result = build_onnx(model, get_recipe("fp32"), tmp_path, MAX_CONTEXT, profile=profile)
    assert result.backend_config["last_hidden"] == LAST_HIDDEN and result.backend_config["profile"] == profile
    hidden, logits = _reference(torch_model)
    table = model.tensors["model.embed_tokens.weight"]
    for keep in (1, 3):
        out = _run(tmp_path, keep)
        assert out["hidden"].shape == (keep, 64)
        np.testing.assert_allclose(out["hidden"], hidden[-keep:], atol=1e-4, rtol=0)
        np.testing.assert_allclose(out["logits"], out["hidden"] @ table.T, atol=1e-4, rtol=0)
        np.testing.assert_allclose(out["logits"], logits[-keep:], atol=1e-4, rtol=0)


def test_quantized_web_graph_exports_the_normed_state(tiny, tmp_path):
    """int4 with the web profile (float activations): the state is the normed one, within quantization error."""
    torch_model, model = tiny
    build_onnx(model, get_recipe("int4"), tmp_path, MAX_CONTEXT, profile="web")
    hidden, _ = _reference(torch_model)
    out = _run(tmp_path, 2)
    error = np.sqrt(np.mean((out["hidden"] - hidden[-2:]) ** 2)) / np.sqrt(np.mean(hidden[-2:] ** 2))
    assert error < 0.1, error  # the pre-norm residual or another layer's state would be far off
