"""Fixtures for the ExecuTorch target: tiny-model .pte bundles, exported once and cached on disk.

Bundles go through the real pipeline (``export(ExportSpec(target="executorch"))``: source → module →
quantize → torch.export → XNNPACK lowering → .pte → manifest → validation through the runtime
backend), keyed like tests/fixtures/bundles.py so an unchanged tree reuses them across sessions.
Every test here needs the ``executorch`` extra; without it the folder is skipped.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.bundles import CACHE_ROOT, build_cached, exporter_fingerprint
from tests.fixtures.require import import_or_skip_or_fail

import_or_skip_or_fail("executorch", "pip install -e '.[executorch]' (scripts/setup.sh installs it)")

VALIDATION_TOKENS = 512  # tiny bundles: enough positions for a stable agreement number, seconds through the backend


def _key(source: Path) -> str:
    # EDGEKIT_ET_TEST_KEY pins the key to bundles an earlier tree built (iterating on tests only; never in CI).
    if os.environ.get("EDGEKIT_ET_TEST_KEY"):
        return os.environ["EDGEKIT_ET_TEST_KEY"]
    digest = hashlib.sha256(exporter_fingerprint().encode())
    digest.update(str(source).encode())
    return digest.hexdigest()[:16]


def export_executorch(source: Path, recipe: str, folder: Path, options: dict | None = None, max_context: int = 256):
    from edgekit.exporters import ExportSpec, ValidationSettings, export

    return export(
        ExportSpec(
            model=str(source),
            out=folder,
            target="executorch",
            quant=recipe,
            max_context=max_context,
            options=dict(options or {}),
            validation=ValidationSettings(max_tokens=VALIDATION_TOKENS),
        )
    )


@pytest.fixture(scope="session")
def et_bundle(tiny_hf_folder: Path) -> Callable[[str], Path]:
    """Factory: ``et_bundle("8da8w")`` -> validated ExecuTorch bundle of the tiny llama (max_context 256). Read-only."""
    key = _key(tiny_hf_folder)

    def make(recipe: str = "fp32") -> Path:
        path = CACHE_ROOT / "test-bundles" / f"tiny-et-{recipe}-{key}"
        return build_cached(path, lambda folder: export_executorch(tiny_hf_folder, recipe, folder))

    return make


def all_logits_bundle(tiny_hf_folder: Path) -> Path:
    """The tiny llama as 8da4w, group 64, ``logits: "all"`` (every row from one call); cached like ``et_bundle``."""
    from tests.fixtures.bundles import CACHE_ROOT, build_cached

    path = CACHE_ROOT / "test-bundles" / f"tiny-et-8da4w-g64-all-{_key(tiny_hf_folder)}"
    options = {"group_size": 64, "logits": "all"}
    return build_cached(path, lambda folder: export_executorch(tiny_hf_folder, "8da4w", folder, options))
