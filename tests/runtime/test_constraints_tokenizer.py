"""Constrained decoding with a real BPE vocabulary: the tiny bundle (tests/fixtures: random weights, the real
SmolLM2 tokenizer, 49k tokens with merges such as '{"', '":"' and '","' and special tokens).

The toy bundle of test_constraints.py has one token per byte; here llguidance has to allow multi-byte tokens
that cross JSON syntax (a quote and a colon in one token) and keep every special token out.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.fixtures.require import import_or_skip_or_fail

# the tiny bundle is exported by the real pipeline
import_or_skip_or_fail("torch", "pip install -e '.[export]' (scripts/setup.sh installs it)")

from edgekit.runtime import FinishReason, load  # noqa: E402
from edgekit.runtime.constraints import Constraint  # noqa: E402

from .test_constraints import SCHEMAS, check  # noqa: E402

MESSAGES = [{"role": "user", "content": "Describe a city as JSON."}]
SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"enum": ["Paris", "Rome", "Oslo"]},
        "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "n": {"type": "integer", "minimum": 0, "maximum": 40},
        "note": {"type": "string", "maxLength": 12},
        "tags": {"type": "array", "items": {"enum": ["old", "big"]}, "maxItems": 2},
    },
    "required": ["city", "code", "n", "note", "tags"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def tiny(tiny_bundle):
    model = load(tiny_bundle("int8"))
    yield model
    model.close()


def test_sampled_json_follows_the_schema_with_merged_tokens(tiny):
    constraint = Constraint.json_schema(SCHEMA)
    merged = 0
    special = {tiny.tokenizer.bos_id, *tiny.tokenizer.eos_ids}
    for seed in range(4):
        result = tiny.generate(MESSAGES, constraint=constraint, temperature=1.0, seed=seed, max_new_tokens=160)
        assert result.finish_reason is FinishReason.STOP, (seed, result.text)
        check(json.loads(result.text), SCHEMA)
        merged += sum(len(t.text) > 1 for t in result.tokens)
        assert not special & set(result.token_ids)
    assert merged  # the grammar let multi-character tokens through, not only single bytes


@pytest.mark.parametrize("name", ["nested", "array"])
def test_greedy_json_follows_the_schema(tiny, name):
    result = tiny.generate(
        MESSAGES, constraint=Constraint.json_schema(SCHEMAS[name]), temperature=0, max_new_tokens=160
    )
    check(json.loads(result.text), SCHEMAS[name])
    assert all(t.unconstrained_top_id is not None for t in result.tokens)


def test_regex_with_a_real_vocabulary(tiny):
    pattern = r"(yes|no), because [a-z]{3,12}\."
    for seed in range(3):
        result = tiny.generate(
            MESSAGES, constraint=Constraint.regex(pattern), temperature=1.0, seed=seed, max_new_tokens=60
        )
        assert re.fullmatch(pattern, result.text), (seed, result.text)
