"""Fixtures for the Pi tests: a toy bundle (the runtime's own builder) and manifests of chosen size."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from edgekit.runtime.manifest import MANIFEST_NAME, ArchitectureInfo, Manifest, TokenizerInfo

TESTS = Path(__file__).resolve().parents[1]


def _toy_module():
    # Loaded by path: tests/runtime is another area's package and not importable by name from here.
    spec = importlib.util.spec_from_file_location("edgekit_pi_toy_bundle", TESTS / "runtime" / "toy_bundle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def set_peak_rss(bundle: Path, peak_rss_mib) -> Path:
    """Rewrite the manifest's memory entry (edgekit.json is not in its own checksum list)."""
    path = Path(bundle) / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["memory"] = {} if peak_rss_mib is None else {"peak_rss_mib": peak_rss_mib}
    path.write_text(json.dumps(data, indent=2))
    return Path(bundle)


@pytest.fixture
def toy_bundle_dir(tmp_path) -> Path:
    return _toy_module().build_toy_bundle(tmp_path / "toy")


def make_manifest(peak_rss_mib=None, recipe: str | None = "gguf") -> Manifest:
    return Manifest(
        backend="onnx",
        model={"name": "SmolLM2-135M-Instruct"},
        architecture=ArchitectureInfo(
            family="llama",
            hidden_size=576,
            num_layers=30,
            num_heads=9,
            num_kv_heads=3,
            head_dim=64,
            vocab_size=49152,
            intermediate_size=1536,
            max_position_embeddings=2048,
            rope_theta=100000.0,
            rms_norm_eps=1e-5,
            tie_word_embeddings=True,
        ),
        files=[],
        backend_config={},
        max_context=2048,
        tokenizer=TokenizerInfo(),
        recipe={"name": recipe} if recipe else {},
        memory={} if peak_rss_mib is None else {"peak_rss_mib": peak_rss_mib},
    )
