"""Fixtures for the architecture tests: the real Gemma 3 270M GGUF (assembled by scripts/setup-extra-models.sh)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GEMMA3_GGUF = REPO / ".cache" / "models" / "gemma-3-270m-q4_k_m.gguf"


@pytest.fixture(scope="session")
def gemma3_gguf_path() -> Path:
    # Not a skip: CI runs scripts/setup.sh, which assembles the file, so its absence is a setup bug.
    if not GEMMA3_GGUF.is_file():
        pytest.fail(f"{GEMMA3_GGUF} is missing; run: bash scripts/setup-extra-models.sh")
    return GEMMA3_GGUF
