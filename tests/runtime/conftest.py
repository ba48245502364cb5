"""Fixtures for runtime tests: toy bundles (tests/runtime/toy_bundle.py) with scripted output."""

from __future__ import annotations

import numpy as np
import pytest

from .toy_bundle import IM_END, build_toy_bundle, encode_bytes, script_table

# The scripted answer of the default toy bundle: multi-byte characters (2-byte "ö", 4-byte emoji) on purpose.
ANSWER = "Hi wörld! 😀 ok END tail"
MAX_CONTEXT = 64
START = 20  # the chat-templated prompt "hello" is 24 tokens; the script covers positions 20.. so short prompts get it


def answer_table(answer: str = ANSWER, start: int = START, max_context: int = MAX_CONTEXT) -> np.ndarray:
    ids = encode_bytes(answer) + [IM_END]
    # pad the script from `start` so any prompt of length <= start+1 lands inside it
    return script_table(max_context, ids, start=start)


@pytest.fixture(scope="session")
def toy_bundle(tmp_path_factory):
    """Chat-templated prompt "hello" (24 tokens) → greedy answer ANSWER[1:]... (see test_generation)."""
    return build_toy_bundle(tmp_path_factory.mktemp("toy"), answer_table())


@pytest.fixture(scope="session")
def toy_model(toy_bundle):
    from edgekit.runtime import load

    return load(toy_bundle)


@pytest.fixture
def fresh_toy_bundle(tmp_path):
    """A bundle of one's own (for tampering)."""
    return build_toy_bundle(tmp_path / "bundle", answer_table())
