"""SmoothQuant before the 8daNw recipes: exact in float, less int8 error where activations have outlier channels."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

OUTLIER_CHANNEL, OUTLIER_GAIN = 5, 40.0


@pytest.fixture(scope="module")
def tiny_loaded(tiny_hf_folder, tmp_path_factory):
    from edgekit.exporters.sources import resolve_source

    return resolve_source(str(tiny_hf_folder), tmp_path_factory.mktemp("src"))


@pytest.fixture(scope="module")
def calibration(tiny_loaded):
    from edgekit.exporters.executorch.smooth import calibration_sequences

    return calibration_sequences(tiny_loaded, 128)


@pytest.fixture(scope="module")
def prompt_ids(tiny_loaded):
    from edgekit.exporters.validation.text import validation_text
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tiny_loaded.tokenizer.tokenizer_json))
    return tokenizer.encode(validation_text(), add_special_tokens=False).ids[:200]


def _with_outliers(tensors, layers: int) -> dict:
    """The same float function with an activation outlier: channel c of every pre-attention norm is scaled up
    and the q/k/v columns that read it scaled down, as trained LLMs end up (SmoothQuant §3, 'outliers persist
    in fixed channels')."""
    out = {k: np.array(v, dtype=np.float32, copy=True) for k, v in tensors.items()}
    for i in range(layers):
        p = f"model.layers.{i}."
        out[p + "input_layernorm.weight"][OUTLIER_CHANNEL] *= OUTLIER_GAIN
        for proj in ("q_proj", "k_proj", "v_proj"):
            out[p + f"self_attn.{proj}.weight"][:, OUTLIER_CHANNEL] /= OUTLIER_GAIN
    return out


def _decoder(loaded, tensors):
    from edgekit.exporters.executorch.module import EtDecoder, load_custom_ops

    load_custom_ops()
    return EtDecoder(loaded.config, tensors, 256, all_logits=True).eval()


@torch.no_grad()
def _logits(decoder, ids):
    decoder.reset_cache()
    return decoder(torch.tensor([ids]), torch.zeros(1, dtype=torch.long))[0]


def _kl(ref, out):
    p = ref.log_softmax(-1)
    return float((p.exp() * (p - out.log_softmax(-1))).sum(-1).mean())


def test_smoothing_keeps_the_float_function_and_the_source_weights(tiny_loaded, calibration, prompt_ids):
    from edgekit.exporters.executorch.smooth import smooth_decoder

    tensors = _with_outliers(tiny_loaded.tensors, tiny_loaded.config.num_layers)
    snapshot = {k: v.copy() for k, v in tensors.items()}
    reference = _logits(_decoder(tiny_loaded, tensors), prompt_ids)
    smoothed = _decoder(tiny_loaded, tensors)
    facts = smooth_decoder(smoothed, calibration, 0.5)
    assert facts["method"] == "smoothquant" and facts["alpha"] == 0.5
    assert facts["calibration_tokens"] == sum(map(len, calibration)) > 0
    assert facts["max_scale_ratio_qkv"] > 5  # the outlier channel got its own scale
    torch.testing.assert_close(_logits(smoothed, prompt_ids), reference, rtol=1e-4, atol=2e-4)
    # Weights alias the source arrays (and the head aliases the embedding): smoothing must copy, not edit in place.
    assert all(np.array_equal(snapshot[k], tensors[k]) for k in tensors)
    assert torch.equal(smoothed.embed_tokens.weight, torch.from_numpy(tensors["model.embed_tokens.weight"]))


def test_smoothing_keeps_the_hidden_state_output(tiny_loaded, calibration, prompt_ids):
    """The final norm's weight is divided by the head's scales: the hidden output must multiply them back."""
    from edgekit.exporters.executorch.smooth import smooth_decoder

    tensors = _with_outliers(tiny_loaded.tensors, tiny_loaded.config.num_layers)
    plain, smoothed = _decoder(tiny_loaded, tensors), _decoder(tiny_loaded, tensors)
    smooth_decoder(smoothed, calibration, 0.5)
    assert smoothed.hidden_scale is not None and not torch.equal(smoothed.norm.weight, plain.norm.weight)
    start = torch.zeros(1, dtype=torch.long)
    with torch.no_grad():
        logits, hidden = smoothed.forward_with_hidden(torch.tensor([prompt_ids]), start)
        plain_logits, plain_hidden = plain.forward_with_hidden(torch.tensor([prompt_ids]), start)
    torch.testing.assert_close(hidden, plain_hidden, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(logits, plain_logits, rtol=1e-4, atol=2e-4)


def test_smoothing_cuts_int8_activation_error_on_outlier_channels(tiny_loaded, calibration, prompt_ids):
    # 8-bit weights: the activation error is what smoothing moves. (With 4-bit groups of 32 on this 64-wide toy the
    # migrated outlier costs as much weight precision as it saves; on SmolLM2-135M 8da4w gains, smooth.py.)
    bits = 8
    from edgekit.exporters.executorch.quantize import EffectiveQuant, quantize_decoder
    from edgekit.exporters.executorch.smooth import smooth_decoder

    tensors = _with_outliers(tiny_loaded.tensors, tiny_loaded.config.num_layers)
    reference = _logits(_decoder(tiny_loaded, tensors), prompt_ids)
    group = None
    plain = _decoder(tiny_loaded, tensors)
    quantize_decoder(plain, EffectiveQuant(f"8da{bits}w", bits, group, 32))
    smoothed = _decoder(tiny_loaded, tensors)
    smooth_decoder(smoothed, calibration, 0.5)
    quantize_decoder(smoothed, EffectiveQuant(f"8da{bits}w", bits, group, 32, 0.5))
    kl_plain, kl_smooth = _kl(reference, _logits(plain, prompt_ids)), _kl(reference, _logits(smoothed, prompt_ids))
    assert kl_smooth < 0.5 * kl_plain, (kl_plain, kl_smooth)


def test_calibration_is_held_out_from_validation(tiny_loaded, calibration):
    from edgekit.exporters.executorch.smooth import CALIBRATION_FILE
    from edgekit.exporters.validation.text import GOLDEN_PROMPT, validation_text

    calibration_text = CALIBRATION_FILE.read_text(encoding="utf-8")
    assert GOLDEN_PROMPT not in calibration_text and "France" not in calibration_text
    validation_sentences = {s.strip() for s in re.split(r"[.!?]\s", validation_text()) if len(s.strip()) > 30}
    assert not [s for s in validation_sentences if s in calibration_text]
    # Chat-templated: the template's role markers are part of what the device sees, so they are calibrated too.
    from tokenizers import Tokenizer

    data = json.loads(calibration_text)
    im_start = Tokenizer.from_file(str(tiny_loaded.tokenizer.tokenizer_json)).token_to_id("<|im_start|>")
    assert im_start is not None
    assert sum(im_start in ids for ids in calibration) == len(data["conversations"])
    assert len(calibration) == len(data["conversations"]) + len(data["prose"])
