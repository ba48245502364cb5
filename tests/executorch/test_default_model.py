"""The real default model (SmolLM2-135M-Instruct) exported with 8da8w: the only default-model ExecuTorch export
in the suite (lowering takes minutes). Cached like tests/fixtures/bundles.py ``default_bundle``."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.fixtures.bundles import CACHE_ROOT, build_cached, exporter_fingerprint

# Measured on this bundle (3,023 tokens): top-1 agreement 0.9035 (segments 0.88-0.92), KL 0.0186, perplexity
# 25.27 vs 24.84 float. The floor sits below with margin for kernel-level differences between machines.
MIN_AGREEMENT = 0.88


@pytest.fixture(scope="module")
def default_et_bundle():
    from edgekit.exporters import ExportSpec, export
    from edgekit.exporters.sources import default_model_path
    from edgekit.runtime.errors import SourceError
    from edgekit.runtime.manifest import sha256_file

    try:
        source = default_model_path()
    except SourceError as exc:
        pytest.skip(str(exc))
    digest = hashlib.sha256(sha256_file(source).encode())
    digest.update(exporter_fingerprint().encode())
    path = CACHE_ROOT / "test-bundles" / f"et-8da8w-{digest.hexdigest()[:16]}"
    return build_cached(
        path, lambda folder: export(ExportSpec(model="default", out=folder, target="executorch", quant="8da8w"))
    )


@pytest.mark.slow
def test_default_model_8da8w_agrees_and_answers_paris(default_et_bundle):
    from edgekit.runtime import load

    manifest = json.loads((default_et_bundle / "edgekit.json").read_text())
    validation = manifest["validation"]
    assert validation["backend"] == "executorch"
    assert validation["top1_agreement"] >= MIN_AGREEMENT, validation["top1_agreement"]
    assert validation["perplexity_ratio"] < 1.1
    with load(default_et_bundle) as model:
        # "What is the capital of France?" starts with a near-tie in float ("The" 25.33 vs "L" 25.24, FINDINGS);
        # XNNPACK's 8da8w kernels flip it ("L" 24.54 vs "The" 24.50) and the answer wanders off. These two prompts
        # have no such tie at the first token, so they test what the model knows, not a coin flip.
        chat = model.generate([{"role": "user", "content": "Which city is the capital of France?"}], max_new_tokens=24)
        raw = model.generate("The capital of France is", max_new_tokens=4, chat=False)
    assert "Paris" in chat.text, chat.text
    assert raw.text.strip().startswith("Paris"), raw.text
