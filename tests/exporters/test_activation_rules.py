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


def _matmuls(model_path: Path) -> dict[str, tuple[int, int, bool, bool]]:
    """(accuracy_level, bits, has zero points, has the block correction) of every MatMulNBits, by name."""
    graph = onnx.load(str(model_path), load_external_data=False).graph
    corrected = {node.name.split("/")[0] for node in graph.node if "/correction" in node.name}
    out = {}
    for node in graph.node:
        if node.op_type != "MatMulNBits":
            continue
        name = node.name.split("/")[0]
        attrs = {a.name: a.i for a in node.attribute}
        zero_points = len(node.input) > 3 and node.input[3] != ""
        out[name] = (attrs["accuracy_level"], attrs["bits"], zero_points, name in corrected)
    return out


# recipe -> the (level, bits, zero points, correction) of a Q4_1 decoder matmul, by kind
_Q4_1_FORMS = {
    "gguf": dict.fromkeys(("q_k_v", "o", "gate_up", "down"), (0, 4, False, True)),
    "gguf-fast": dict.fromkeys(("q_k_v", "o", "gate_up", "down"), (4, 8, True, False)),
    "gguf-balanced": {
        **dict.fromkeys(("q_k_v", "o", "gate_up"), (4, 8, True, False)),
        "down": (0, 4, False, True),
    },
}


@pytest.mark.parametrize("name", sorted(_Q4_1_FORMS))
def test_gguf_recipes_put_each_matmul_on_its_level_and_form(tiny_model, tmp_path: Path, name):
    """gguf: every 4-bit layer on float activations, exact with the correction term; gguf-fast: int8 activations
    with Q4_1's offsets in 8-bit zero points (no correction ops); gguf-balanced: the same except the down
    projections, exact on float activations. All keep the Q8_0 head 8-bit on int8 activations (refined)."""
    from edgekit.exporters.onnx import build_onnx
    from edgekit.exporters.recipes import get_recipe

    recipe = get_recipe(name)
    build_onnx(tiny_model, recipe, tmp_path / name, 64)
    forms = _matmuls(tmp_path / name / "model.onnx")
    kinds = {layer.rsplit(".", 1)[-1] for layer in forms if layer.startswith("layers.")}
    assert {"gate_up", "q_k_v", "o", "down"} <= kinds, forms
    for matmul, form in forms.items():
        if matmul == "lm_head_search":  # gguf-fast's 4-bit copy of the head for the candidate search
            assert name == "gguf-fast" and form[:2] == (4, 4) and not form[3], (matmul, form)
            continue
        if matmul == "lm_head":
            assert form[:2] == (4, 8) and not form[3], (matmul, form)
            continue
        assert form == _Q4_1_FORMS[name][matmul.rsplit(".", 1)[-1]], (matmul, form, forms)


def test_first_matching_rule_wins_over_the_width_default(tiny_model, tmp_path: Path):
    from edgekit.exporters.onnx import build_onnx
    from edgekit.exporters.recipes import get_recipe

    recipe = dataclasses.replace(
        get_recipe("gguf"),
        accuracy_level=0,
        activation_rules=(ActivationRule("layers.0.*", 4), ActivationRule("layers.*.o", 1), ("lm_head", 0)),
    )
    build_onnx(tiny_model, recipe, tmp_path / "ruled", 64)
    levels = {name: form[0] for name, form in _matmuls(tmp_path / "ruled" / "model.onnx").items()}
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

    data = json.loads(json.dumps(get_recipe("gguf-balanced").to_dict()))  # as the manifest stores it
    assert {"pattern": "layers.*.down", "accuracy_level": 0, "bits": 4} in data["activation_rules"]
    assert data["int8_offsets"] == "zero-point"
    rebuilt = QuantRecipe(**{**data, "targets": frozenset(data["targets"]), "extra": tuple(data["extra"].items())})
    assert rebuilt == get_recipe("gguf-balanced")
    assert rebuilt.accuracy_level_for("layers.3.down", 4) == 0
    assert rebuilt.accuracy_level_for("layers.3.down", 8) == 4  # 8-bit weights keep the fast int8 kernel
    assert rebuilt.accuracy_level_for("layers.3.o", 4) == 4
    # a manifest written before the field rebuilds with the exact correction
    older = {k: v for k, v in data.items() if k != "int8_offsets"}
    assert QuantRecipe(**{**older, "targets": frozenset(data["targets"]), "extra": ()}).int8_offsets == "correction"


def test_an_unknown_offset_form_is_refused_with_the_known_ones():
    from edgekit.exporters.recipes import get_recipe

    with pytest.raises(ValueError, match="int8_offsets='dense'.*correction, zero-point"):
        dataclasses.replace(get_recipe("gguf"), int8_offsets="dense")


def test_a_bad_rule_width_is_refused():
    with pytest.raises(ValueError, match="bits=3"):
        ActivationRule("layers.*.o", 0, bits=3)


def test_a_bad_head_search_width_is_refused():
    from edgekit.exporters.recipes import get_recipe

    with pytest.raises(ValueError, match="head_search_bits=8"):
        dataclasses.replace(get_recipe("gguf-fast"), head_search_bits=8)


def test_the_head_search_copy_is_built_only_where_the_head_holds_its_share(tiny_model, tmp_path: Path):
    """gguf-fast's 4-bit search copy of the head pays only where the head dominates what a token reads
    (head_search_min_share): the same tiny model gets it below the threshold and not above."""
    from edgekit.exporters.onnx import build_onnx
    from edgekit.exporters.onnx.builder import head_share
    from edgekit.exporters.recipes import get_recipe

    share = head_share(tiny_model.config)
    assert 0 < share < 1
    built = {}
    for label, threshold in (("below", share * 0.9), ("above", min(1.0, share * 1.1))):
        recipe = dataclasses.replace(get_recipe("gguf-fast"), head_search_min_share=threshold)
        build_onnx(tiny_model, recipe, tmp_path / label, 64)
        built[label] = "lm_head_search" in _matmuls(tmp_path / label / "model.onnx")
    assert built == {"below": True, "above": False}, (share, built)
    assert get_recipe("gguf-fast").head_search_min_share == 0.5
    with pytest.raises(ValueError, match="head_search_min_share=1.5"):
        dataclasses.replace(get_recipe("gguf-fast"), head_search_min_share=1.5)
