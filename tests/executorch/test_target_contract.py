"""The ExecuTorch target's registry entries and every refusal path (no lowering here: these run in seconds)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from edgekit.runtime.errors import ConfigError, UnsupportedError

ET_RECIPES = ("8da8w", "8da8w-emb8", "8da4w", "8da4w-emb8")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_loaded(tiny_hf_folder, tmp_path_factory):
    from edgekit.exporters.sources import resolve_source

    return resolve_source(str(tiny_hf_folder), tmp_path_factory.mktemp("src"))


@pytest.fixture(scope="module")
def et_target():
    from edgekit.exporters.pipeline import load_target

    return load_target("executorch")


def test_recipes_are_registered_for_executorch_only():
    import edgekit.exporters.executorch  # noqa: F401
    from edgekit.exporters.recipes import RECIPES, QuantMethod, get_recipe

    for name in ET_RECIPES:
        recipe = get_recipe(name)
        assert recipe.targets == frozenset({"executorch"})
        assert recipe.method == QuantMethod.DYNAMIC and recipe.activation_bits == 8
        assert recipe.to_dict()["name"] == name
    assert get_recipe("8da4w").bits == 4 and get_recipe("8da8w").bits == 8
    assert get_recipe("8da4w-emb8").embedding_bits == 8 and get_recipe("8da4w").embedding_bits == 32
    assert "executorch" in get_recipe("fp32").targets
    executorch_names = {n for n, r in RECIPES.items() if r.supports_target("executorch")}
    assert executorch_names == {"fp32", *ET_RECIPES}


def test_target_refuses_onnx_recipes_by_name(et_target, tiny_loaded):
    from edgekit.exporters.recipes import get_recipe

    reason = et_target.supports(get_recipe("int4"), tiny_loaded)
    assert reason is not None and "'int4'" in reason and "onnx" in reason and "8da8w" in reason
    for name in ("fp32", *ET_RECIPES):
        assert et_target.supports(get_recipe(name), tiny_loaded) is None


def test_onnx_target_refuses_executorch_recipes(tiny_loaded):
    import edgekit.exporters.executorch  # noqa: F401
    from edgekit.exporters.pipeline import load_target
    from edgekit.exporters.recipes import get_recipe

    reason = load_target("onnx").supports(get_recipe("8da8w"), tiny_loaded)
    assert reason is not None and "executorch" in reason


def test_target_refuses_unknown_architecture_and_unsupported_rope(et_target, tiny_loaded):
    from edgekit.exporters.recipes import get_recipe

    unknown = replace(tiny_loaded, config=replace(tiny_loaded.config, architecture="gpt2"))
    reason = et_target.supports(get_recipe("8da8w"), unknown)
    assert reason is not None and "'gpt2'" in reason and "gemma3_text" in reason and "qwen3" in reason
    yarn = replace(tiny_loaded, config=replace(tiny_loaded.config, rope_scaling={"rope_type": "yarn", "factor": 4.0}))
    reason = et_target.supports(get_recipe("8da8w"), yarn)
    assert reason is not None and "'yarn'" in reason and "llama3" in reason


@pytest.mark.parametrize(
    "recipe, options, fragment",
    [
        ("8da4w", {"group_size": 48}, "power of two"),
        ("8da4w", {"group_size": 128}, "does not divide"),  # tiny hidden size is 64
        ("8da8w", {"group_size": 64}, "per-channel"),
        ("8da8w", {"embedding_bits": 4}, "embedding_bits=4"),
        ("8da8w", {"colour": "blue"}, "unknown executorch option(s) colour"),
        ("fp32", {"logits": "some"}, "logits='some'"),
        ("fp32", {"max_seq_len": 0}, "max_seq_len=0"),
        ("8da8w", {"smooth_alpha": 1.5}, "outside 0..1"),
        ("8da4w", {"smooth_alpha": "lots"}, "not a number"),
        ("fp32", {"smooth_alpha": 0.5}, "only applies to the int8-activation recipes"),
        ("fp32", {"smooth_alpha": "lots"}, "not a number"),
    ],
)
def test_bad_options_fail_before_any_lowering(et_target, tiny_loaded, tmp_path, recipe, options, fragment):
    from edgekit.exporters.recipes import get_recipe

    with pytest.raises(ConfigError) as err:
        et_target.build(tiny_loaded, get_recipe(recipe), tmp_path, 64, options, lambda event: None)
    assert fragment in str(err.value)
    assert not list(tmp_path.iterdir())


def test_pipeline_refuses_combination_with_both_names(tiny_hf_folder, tmp_path):
    from edgekit.exporters import ExportSpec, export

    with pytest.raises(UnsupportedError) as err:
        export(
            ExportSpec(model=str(tiny_hf_folder), out=tmp_path / "b", target="executorch", quant="int4", validate=False)
        )
    message = str(err.value)
    assert "target 'executorch' cannot build recipe 'int4'" in message and "8da4w" in message
    assert not (tmp_path / "b").exists()


def test_cli_refusal_is_one_clean_line(tiny_hf_folder, tmp_path):
    from edgekit.sdk.cli import main

    result = CliRunner().invoke(
        main,
        [
            "export",
            str(tiny_hf_folder),
            "--target",
            "executorch",
            "--quant",
            "int8",
            "--out",
            str(tmp_path / "b"),
            "--quiet",
        ],
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "cannot build recipe 'int8'" in result.output


_HIDE_EXECUTORCH = "import sys; sys.modules['executorch'] = None\n"  # import fails, find_spec -> None


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)


def test_missing_executorch_is_a_dependency_error_in_exporter_and_runtime(tmp_path):
    (tmp_path / "edgekit.json").write_text("{}")  # never read: the import fails first
    code = _HIDE_EXECUTORCH + (
        "from edgekit.runtime.errors import DependencyError\n"
        "from edgekit.exporters.executorch import require_executorch\n"
        "from edgekit.runtime.backends.executorch import import_executorch_runtime\n"
        "for call in (require_executorch, import_executorch_runtime):\n"
        "    try:\n"
        "        call()\n"
        "    except DependencyError as exc:\n"
        "        print(exc)\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("the executorch export target needs the 'executorch' extra")
    assert lines[1].startswith("the executorch backend needs the 'executorch' extra")
    assert all("pip install 'edgekit[executorch]'" in line for line in lines)


def test_onnx_path_and_backend_registry_stay_torch_free():
    """Importing the ExecuTorch backend module (not opening it) and the target package must not pull torch in."""
    code = (
        "import sys\n"
        "from edgekit.runtime.backends import get_backend\n"
        "get_backend('onnx')\n"
        "cls = get_backend('executorch')\n"
        "import edgekit.exporters.executorch\n"
        "from edgekit.exporters.recipes import get_recipe\n"
        "get_recipe('8da4w')\n"
        "print(sorted(m for m in ('torch', 'executorch', 'torchao', 'transformers') if m in sys.modules))\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().replace("'", '"')) == []
