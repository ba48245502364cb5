"""`edgekit doctor`: the device report, in text and JSON, and its verdict on bundles."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner
from edgekit.runtime import device
from edgekit.runtime.memory import DEFAULT_MODEL_FOOTPRINTS
from edgekit.sdk.cli import main

from .conftest import set_peak_rss


def run(*args):
    return CliRunner().invoke(main, ["doctor", *args], catch_exceptions=False)


def test_json_report_matches_the_device():
    import onnxruntime

    result = run("--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    cpu = device.cpu_info()
    assert report["device"]["cpu"]["features"] == list(cpu.features)
    assert report["device"]["cpu"]["arch"] == cpu.arch
    assert report["recommended_threads"] == device.recommended_threads(cpu)
    assert report["onnxruntime"]["version"] == onnxruntime.__version__
    assert "CPUExecutionProvider" in report["onnxruntime"]["providers"]
    assert [r["recipe"] for r in report["default_model_recipes"]] == [fp.recipe for fp in DEFAULT_MODEL_FOOTPRINTS]
    assert report["device"]["memory"]["available_mib"] > 0


def test_text_report_names_every_section():
    result = run()
    assert result.exit_code == 0, result.output
    for label in ("platform", "cpu", "features", "cores", "memory", "onnxruntime", "threads", "default model recipes"):
        assert any(line.startswith(label) for line in result.output.splitlines()), label
    assert "gguf" in result.output


def test_bundle_that_fits_and_one_that_does_not(toy_bundle_dir, tmp_path):
    set_peak_rss(toy_bundle_dir, 1.0)
    ok = run("--json", str(toy_bundle_dir))
    assert ok.exit_code == 0, ok.output
    row = json.loads(ok.output)["bundles"][0]
    assert row["fits"] is True and row["peak_rss_mib"] == 1.0

    set_peak_rss(toy_bundle_dir, 10**9)
    bad = run(str(toy_bundle_dir))
    assert bad.exit_code == 1
    assert "fits: NO" in bad.output and "cannot be run on this device" in bad.output


def test_unreadable_bundle_is_reported_not_a_traceback(tmp_path):
    result = run(str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert "does not exist" in result.output and "Traceback" not in result.output


def test_doctor_never_imports_torch():
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom edgekit.sdk.cli import main\n"
        "r = CliRunner().invoke(main, ['doctor', '--json'])\nassert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
