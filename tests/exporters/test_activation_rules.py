"""A recipe's per-matmul activation rules reach the graph: each MatMulNBits runs at the level its name selects."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import onnx
import pytest
from edgekit.exporters.recipe_types import ActivationRule


@pytest.fixture(scope="module")
def tiny_model(tiny_gguf, tmp_path_factory):
    from edgekit.exporters.sources import resolve_source

    return resolve_source(str(tiny_gguf), tmp_path_factory.mktemp("work"))


def _levels(model_path: Path) -> dict[str, int]:
    """accuracy_level of every MatMulNBits, by the matmul's name (``layers.{i}.{kind}`` or ``lm_head``)."""
    graph = onnx.load(str(model_path), load_external_data=False).graph
    return {
        node.name.split("/")[0]: next(a.i for a in node.attribute if a.name == "accuracy_level")
        for node in graph.node
        if node.op_type == "MatMulNBits"
    }


@pytest.mark.parametrize("name", ["gguf", "gguf-fast"])
def test_gguf_recipes_put_each_matmul_on_its_level(tiny_model, tmp_path: Path, name):
    """gguf: every 4-bit layer on float activations (exact); gguf-fast: int8 activations except gate/up.
    Both keep the 8-bit head on int8 activations (refined, onnx/builder.py)."""
    from edgekit.exporters.onnx import build_onnx
    from edgekit.exporters.recipes import get_recipe

    recipe = get_recipe(name)
    build_onnx(tiny_model, recipe, tmp_path / name, 64)
    levels = _levels(tmp_path / name / "model.onnx")
    kinds = {layer.rsplit(".", 1)[-1] for layer in levels if layer.startswith("layers.")}
    assert {"gate_up", "q_k_v", "o", "down"} <= kinds, levels
    for matmul, level in levels.items():
        if matmul == "lm_head":
            want = 4
        elif name == "gguf":
            want = 0
        else:
            want = 0 if matmul.endswith(".gate_up") else 4
        assert level == want, (matmul, level, levels)


def test_first_matching_rule_wins_over_the_width_default(tiny_model, tmp_path: Path):
    from edgekit.exporters.onnx import build_onnx
    from edgekit.exporters.recipes import get_recipe

    recipe = dataclasses.replace(
        get_recipe("gguf"),
        accuracy_level=0,
        activation_rules=(ActivationRule("layers.0.*", 4), ActivationRule("layers.*.o", 1), ("lm_head", 0)),
    )
    build_onnx(tiny_model, recipe, tmp_path / "ruled", 64)
    levels = _levels(tmp_path / "ruled" / "model.onnx")
    for name, level in levels.items():
        if name.startswith("layers.0."):
            want = 4
        elif name.endswith(".o"):
            want = 1
        else:
            want = 0  # lm_head by its rule, the rest by the 4-bit default
        assert level == want, (name, level)


def test_manifest_recipe_records_the_rules():
    from edgekit.exporters.recipe_types import QuantRecipe
    from edgekit.exporters.recipes import get_recipe

    data = json.loads(json.dumps(get_recipe("gguf-fast").to_dict()))  # as the manifest stores it
    assert {"pattern": "layers.*.gate_up", "accuracy_level": 0, "bits": 4} in data["activation_rules"]
    rebuilt = QuantRecipe(**{**data, "targets": frozenset(data["targets"]), "extra": tuple(data["extra"].items())})
    assert rebuilt == get_recipe("gguf-fast")
    assert rebuilt.accuracy_level_for("layers.3.gate_up", 4) == 0
    assert rebuilt.accuracy_level_for("layers.3.gate_up", 8) == 4  # 8-bit weights keep the fast int8 kernel
    assert rebuilt.accuracy_level_for("layers.3.o", 4) == 4


def test_a_bad_rule_width_is_refused():
    with pytest.raises(ValueError, match="bits=3"):
        ActivationRule("layers.*.o", 0, bits=3)


def test_a_bad_head_search_width_is_refused():
    from edgekit.exporters.recipes import get_recipe

    with pytest.raises(ValueError, match="head_search_bits=8"):
        dataclasses.replace(get_recipe("gguf-fast"), head_search_bits=8)
