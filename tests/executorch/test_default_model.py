"""The real default model (SmolLM2-135M-Instruct) exported with 8da8w: the only default-model ExecuTorch export
in the suite (lowering takes minutes). Cached like tests/fixtures/bundles.py ``default_bundle``."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.fixtures.bundles import CACHE_ROOT, build_cached, exporter_fingerprint

# Measured on this bundle: teacher-forced top-1 agreement with the float reference (see the report);
# the floor sits below it with margin for the validation text's near-ties.
MIN_AGREEMENT = 0.9


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
        result = model.generate([{"role": "user", "content": "What is the capital of France?"}], max_new_tokens=24)
    assert "Paris" in result.text, result.text
    assert result.finish_reason in ("eos", "length")
