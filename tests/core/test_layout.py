"""The package layout promises of docs/architecture.md: one PEP 420 namespace, three roots, a torch-free base."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import edgekit.exporters
import edgekit.runtime
import edgekit.sdk
import tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_three_roots_one_namespace_without_init():
    for root in ("runtime", "exporters", "sdk"):
        assert (ROOT / root / "edgekit" / root / "__init__.py").is_file()
        assert not (ROOT / root / "edgekit" / "__init__.py").exists(), f"{root}/edgekit/__init__.py breaks PEP 420"
    assert Path(edgekit.runtime.__file__).parts[-4] == "runtime"
    assert Path(edgekit.exporters.__file__).parts[-4] == "exporters"
    assert Path(edgekit.sdk.__file__).parts[-4] == "sdk"


def test_base_install_has_no_torch_and_export_pins_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"]).lower()
    for heavy in ("torch", "transformers", "onnxruntime-genai", "executorch"):
        assert heavy not in base
    export = project["optional-dependencies"]["export"]
    assert "torch==2.13.0" in export, "an unpinned torch pulls a multi-GB CUDA build"


def test_version_is_exported():
    assert edgekit.sdk.__version__.count(".") == 2


def test_cli_help_lists_commands_without_importing_torch():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from edgekit.sdk.cli import main\n"
        "r = CliRunner().invoke(main, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(r.output)\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO_TORCH')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "NO_TORCH" in out
    for command in ("export", "run", "chat", "info"):
        assert command in out


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in readme
    assert "exec bash scripts/test.sh" in ci
