"""Quant recipe registry: names, frozen data, refusal messages, auto order."""

from __future__ import annotations

import dataclasses
import json

import pytest
from edgekit.exporters.recipes import AUTO_CANDIDATES, FLOAT_BITS, RECIPES, QuantMethod, QuantRecipe, get_recipe
from edgekit.runtime.errors import ConfigError, UnknownNameError


def test_onnx_recipes_are_registered():
    for name in ("fp32", "int8", "int4", "int4-rtn", "int4-kquant", "gguf"):
        assert "onnx" in get_recipe(name).targets


def test_unknown_recipe_lists_known_names():
    with pytest.raises(UnknownNameError) as info:
        get_recipe("int3")
    message = str(info.value)
    assert "'int3'" in message
    for name in ("fp32", "int4", "int8", "gguf"):
        assert name in message
    assert info.value.known == sorted(info.value.known)


def test_empty_recipe_name_is_a_config_error():
    with pytest.raises(ConfigError, match="non-empty"):
        get_recipe("")


def test_recipes_are_frozen_and_json_safe():
    recipe = get_recipe("int4")
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.bits = 8  # type: ignore[misc]
    data = json.loads(json.dumps(recipe.to_dict()))
    assert data["name"] == "int4" and data["bits"] == 4 and data["targets"] == ["onnx"]


def test_int4_is_the_better_method_not_rtn():
    assert get_recipe("int4").method == get_recipe("int4-kquant").method == QuantMethod.KQUANT
    assert get_recipe("int4-rtn").method == QuantMethod.RTN


def test_auto_candidates_are_registered_and_smallest_first():
    assert all(name in RECIPES for name in AUTO_CANDIDATES)
    assert AUTO_CANDIDATES[-1] == "fp32"
    widths = [get_recipe(n).bits for n in AUTO_CANDIDATES]
    assert widths == sorted(widths)


@pytest.mark.parametrize(
    "field, value, message",
    [("bits", 3, "bits=3"), ("group_size", 24, "group_size=24"), ("method", "magic", "unknown method")],
)
def test_bad_recipe_values_are_rejected(field, value, message):
    base = dict(
        name="x",
        bits=4,
        group_size=32,
        symmetric=True,
        method="rtn",
        embedding_bits=8,
        head_bits=8,
        targets=frozenset({"onnx"}),
        description="",
    )
    base[field] = value
    with pytest.raises(ValueError, match=message):
        QuantRecipe(**base)


def test_targets_accepts_any_iterable_but_stores_frozenset():
    recipe = QuantRecipe("y", FLOAT_BITS, 32, True, "none", FLOAT_BITS, FLOAT_BITS, {"onnx"}, "")  # type: ignore[arg-type]
    assert (
        isinstance(recipe.targets, frozenset)
        and recipe.supports_target("onnx")
        and not recipe.supports_target("executorch")
    )
