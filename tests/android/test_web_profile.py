"""The web graph profile (exporters/edgekit/exporters/onnx/web_profile.py): same graph, float activations everywhere.

onnxruntime-web's WASM build computes MatMulNBits accuracy_level 4 with float activations (measured: its output
equals the CPU's level-0 output), so a web bundle pins level 0 and both runtimes compute the same thing.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest


def _accuracy_levels(model_path: Path) -> collections.Counter:
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    levels: collections.Counter = collections.Counter()
    for node in graph.node:
        if node.op_type == "MatMulNBits":
            levels[next((a.i for a in node.attribute if a.name == "accuracy_level"), 0)] += 1
    return levels


def test_web_recipe_pins_float_activations():
    from edgekit.exporters.onnx.web_profile import web_recipe
    from edgekit.exporters.recipes import get_recipe

    for name in ("int4", "int8", "gguf"):
        recipe = get_recipe(name)
        web = web_recipe(recipe)
        assert (web.accuracy_level, web.int8_accuracy_level) == (0, 0)
        assert (web.name, web.bits, web.group_size, web.method) == (
            recipe.name,
            recipe.bits,
            recipe.group_size,
            recipe.method,
        )


@pytest.fixture(scope="module")
def tiny_model(tiny_gguf, tmp_path_factory):
    from edgekit.exporters.sources import resolve_source

    return resolve_source(str(tiny_gguf), tmp_path_factory.mktemp("work"))


def test_web_profile_graph_has_only_level_0_matmuls(tiny_model, tmp_path: Path):
    from edgekit.exporters.onnx import build_onnx
    from edgekit.exporters.recipes import get_recipe
    from edgekit.runtime.manifest import OnnxGraphSpec

    model = tiny_model
    cpu = build_onnx(model, get_recipe("gguf"), tmp_path / "cpu", 64)
    web = build_onnx(model, get_recipe("gguf"), tmp_path / "web", 64, profile="web")
    cpu_levels, web_levels = (
        _accuracy_levels(tmp_path / "cpu" / "model.onnx"),
        _accuracy_levels(tmp_path / "web" / "model.onnx"),
    )
    assert sum(cpu_levels.values()) == sum(web_levels.values()) > 0, "the web profile must keep the graph"
    assert set(web_levels) == {0}, web_levels
    assert OnnxGraphSpec.from_dict(web.backend_config).profile == "web"
    assert OnnxGraphSpec.from_dict(cpu.backend_config).profile == "cpu"


def test_unknown_profile_is_refused_with_the_known_ones(tiny_model, tmp_path: Path):
    from edgekit.exporters.onnx import build_onnx
    from edgekit.exporters.recipes import get_recipe
    from edgekit.runtime.errors import ConfigError

    model = tiny_model
    with pytest.raises(ConfigError, match=r"unknown ONNX graph profile 'phone'; known profiles: cpu, web"):
        build_onnx(model, get_recipe("gguf"), tmp_path / "x", 64, profile="phone")
