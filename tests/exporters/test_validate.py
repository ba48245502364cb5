"""Validation metrics against independent torch computations, the validation text, and the runner seam."""

from __future__ import annotations

import math

import numpy as np
import pytest


def _random_logits(rng, rows=40, vocab=300, scale=3.0):
    return (rng.standard_normal((rows, vocab)) * scale).astype(np.float32)


def test_metrics_match_torch():
    import torch
    from edgekit.exporters.validation.metrics import compare_positions, log_softmax

    rng = np.random.default_rng(0)
    ref_logits = _random_logits(rng)
    exp_logits = ref_logits + rng.standard_normal(ref_logits.shape).astype(np.float32) * 0.5
    targets = rng.integers(0, ref_logits.shape[1], size=len(ref_logits))
    stats = compare_positions(log_softmax(ref_logits), exp_logits, targets, rows_per_step=7).summary()

    ref_t, exp_t = torch.tensor(ref_logits, dtype=torch.float64), torch.tensor(exp_logits, dtype=torch.float64)
    ref_lp, exp_lp = torch.log_softmax(ref_t, -1), torch.log_softmax(exp_t, -1)
    kl = torch.nn.functional.kl_div(exp_lp, ref_lp, log_target=True, reduction="none").sum(-1)
    tgt = torch.tensor(targets)
    assert stats["positions"] == len(targets)
    assert stats["top1_agreement"] == pytest.approx(float((ref_t.argmax(-1) == exp_t.argmax(-1)).double().mean()))
    assert stats["mean_kl"] == pytest.approx(float(kl.mean()), rel=1e-4)
    assert stats["max_kl"] == pytest.approx(float(kl.max()), rel=1e-4)
    nll_ref = float(torch.nn.functional.cross_entropy(ref_t, tgt))
    nll_exp = float(torch.nn.functional.cross_entropy(exp_t, tgt))
    assert stats["perplexity_reference"] == pytest.approx(math.exp(nll_ref), rel=1e-4)
    assert stats["perplexity_exported"] == pytest.approx(math.exp(nll_exp), rel=1e-4)
    assert 0.0 < stats["top1_agreement"] < 1.0 and stats["mean_kl"] > 0.01  # the perturbation is visible


def test_identical_models_agree_fully():
    from edgekit.exporters.validation.metrics import compare_positions, log_softmax

    rng = np.random.default_rng(1)
    logits = _random_logits(rng)
    targets = rng.integers(0, logits.shape[1], size=len(logits))
    stats = compare_positions(log_softmax(logits), logits, targets).summary()
    assert stats["top1_agreement"] == 1.0
    assert stats["mean_kl"] < 1e-6
    assert stats["perplexity_ratio"] == pytest.approx(1.0, abs=1e-6)


def test_validation_text_is_long_real_prose(tiny_bundle):
    from edgekit.exporters.validation.text import validation_text
    from tokenizers import Tokenizer

    text = validation_text()
    ids = Tokenizer.from_file(str(tiny_bundle("fp32") / "tokenizer.json")).encode(text, add_special_tokens=False).ids
    assert len(ids) >= 2000
    assert "<|im_start|>" not in text and "assistant" not in text.lower()
    assert len(set(text.split())) > 800  # varied vocabulary, not a repeated paragraph


def test_runner_scores_a_bundle_through_the_backend_seam(tiny_bundle, tmp_path):
    """The child-process runner alone: reference = the bundle itself, so agreement must be 1 and KL ~0."""
    from edgekit.exporters.validation.metrics import log_softmax
    from edgekit.exporters.validation.runner import run_job
    from edgekit.runtime.backends import BackendOptions, get_backend
    from edgekit.runtime.manifest import read_manifest

    folder = tiny_bundle("int8")
    manifest = read_manifest(folder)
    backend = get_backend(manifest.backend).open(folder, manifest, BackendOptions())
    segment = list(range(100, 200))
    logits = backend.forward(np.asarray(segment), backend.new_cache(), logits_to_keep=len(segment))
    reference = tmp_path / "ref.f32"
    log_softmax(logits[:-1]).tofile(reference)
    result = run_job(
        {
            "bundle": str(folder),
            "segments": [segment],
            "reference": str(reference),
            "vocab": manifest.architecture.vocab_size,
            "window": 32,  # windowed through the cache vs one 100-token forward above
            "golden_ids": [1, 2, 3],
            "golden_max_new": 4,
            "eos_ids": [2],
            "threads": 1,
        }
    )
    assert result["summary"]["positions"] == 99
    assert result["summary"]["top1_agreement"] == 1.0
    assert result["summary"]["mean_kl"] < 1e-5
    assert 1 <= len(result["golden_ids"]) <= 4
    assert result["peak_rss_mib"] >= result["generation_peak_rss_mib"] > 0


def test_check_quality_message_names_recipe_floor_and_fix():
    from edgekit.exporters.validation.quality import ValidationResult, check_quality
    from edgekit.runtime.errors import QualityGateError

    result = ValidationResult(
        tokens=10,
        positions=9,
        segments=1,
        top1_agreement=0.8,
        mean_kl=0.2,
        max_kl=1.0,
        perplexity_reference=10.0,
        perplexity_exported=12.0,
        perplexity_ratio=1.2,
        golden={},
        peak_rss_mib=1.0,
        generation_peak_rss_mib=1.0,
        seconds=0.1,
        backend="onnx",
        min_agreement=0.95,
        passed=False,
    )
    with pytest.raises(QualityGateError, match=r"'int4'.*0\.8000 < 0\.9500.*lower --min-agreement"):
        check_quality(result, "int4")
    result.passed = True
    check_quality(result, "int4")


def _rows(probabilities: list[dict[int, float]], vocab: int = 8) -> list[np.ndarray]:
    rows = []
    for probs in probabilities:
        row = np.full(vocab, 1e-6)
        for token, p in probs.items():
            row[token] = p
        rows.append(np.log(row / row.sum()))
    return rows


def test_golden_divergence_names_the_token_and_judges_near_ties():
    from edgekit.exporters.validation.quality import golden_divergence

    decode = lambda ids: f"<{ids[0]}>"  # noqa: E731
    reference = [3, 4, 5]
    # The reference chose 4 with 0.40 and gave the exported 6 0.35: a near-tie any rounding may flip.
    rows = _rows([{3: 0.9}, {4: 0.40, 6: 0.35, 1: 0.25}, {5: 0.9}])
    tie = golden_divergence(reference, [3, 6, 7], rows, decode)
    assert tie == {
        "index": 1,
        "reference_token": "<4>",
        "exported_token": "<6>",
        "reference_prob": pytest.approx(0.40, abs=1e-3),
        "exported_token_reference_prob": pytest.approx(0.35, abs=1e-3),
        "near_tie": True,
    }
    # A token the reference all but ruled out is real damage, not a tie.
    rows = _rows([{3: 0.85, 2: 0.10, 6: 0.05}, {4: 0.9}, {5: 0.9}])
    damage = golden_divergence(reference, [6, 4, 5], rows, decode)
    assert damage["index"] == 0 and damage["near_tie"] is False
    assert golden_divergence(reference, [3, 4, 5], rows, decode) is None
    assert golden_divergence(reference, [3, 4], rows, decode) is None  # stopped early: no differing token
