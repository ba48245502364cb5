"""`edgekit export`: stdout carries the path or JSON, progress and the table go to stderr, bad input is one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from edgekit.sdk.cli import main


def _run(*args):
    return CliRunner().invoke(main, ["export", *map(str, args)])


def test_export_json_and_progress(tiny_hf_folder, tmp_path):
    out = tmp_path / "bundle"
    result = _run(tiny_hf_folder, "--quant", "fp32", "--out", out, "--validation-tokens", "200", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)  # stdout is only the JSON report
    assert report["bundle"] == str(out) and report["recipe"] == "fp32"
    assert report["validation"]["top1_agreement"] == 1.0
    assert "[1/4] load" in result.stderr and "validate" in result.stderr
    table = result.stderr.splitlines()
    header = next(line for line in table if line.startswith("recipe"))
    for column in ("size MiB", "agreement", "mean KL", "ppl", "time s"):
        assert column in header
    assert any("golden" in line for line in table)
    assert (out / "edgekit.json").is_file()


def test_export_prints_only_the_bundle_path(tiny_hf_folder, tmp_path):
    out = tmp_path / "b"
    result = _run(tiny_hf_folder, "--quant", "int8", "--out", out, "--validation-tokens", "200", "--quiet")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert result.stderr == ""


def test_strict_miss_exits_nonzero_with_one_line(tiny_hf_folder, tmp_path):
    out = tmp_path / "b"
    result = _run(tiny_hf_folder, "--quant", "int4", "--out", out, "--validation-tokens", "200", "--strict", "--quiet")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: recipe 'int4' missed the quality floor")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["/no/such/model", "--out", "{tmp}/b"], "no such file or folder"),
        (["default", "--quant", "int3", "--out", "{tmp}/b"], "unknown quant recipe 'int3'; known quant recipes: "),
        (["default", "--target", "tflite", "--out", "{tmp}/b"], "unknown export target 'tflite'; known export targets"),
        (["default", "--out", "{tmp}"], "already exists; pass --force"),
        (["default", "--min-agreement", "2", "--out", "{tmp}/b"], "--min-agreement must be between 0 and 1"),
        (["{tmp}/junk.gguf", "--out", "{tmp}/b"], "is not a GGUF file"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, args, message):
    (tmp_path / "junk.gguf").write_bytes(b"junk")
    result = _run(*[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_max_context_above_model(tiny_hf_folder, tmp_path):
    result = _run(tiny_hf_folder, "--out", tmp_path / "b", "--max-context", "100000", "--quiet")
    assert result.exit_code == 1
    assert "--max-context 100000 is above the model's maximum context of 512 tokens" in result.stderr


def test_real_process_has_no_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from edgekit.sdk.cli import main; main()",
            "export",
            str(tmp_path / "missing"),
            "--out",
            str(tmp_path / "b"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.strip().startswith("Error: model") and "Traceback" not in proc.stderr


def test_missing_export_extra_is_a_dependency_error(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    result = _run("default", "--out", tmp_path / "b")
    assert result.exit_code == 1
    assert "needs the 'export' extra (missing module 'torch'): pip install 'edgekit[export]'" in result.stderr


def test_target_options_parse_to_typed_values_and_typos_are_refused(tiny_hf_folder, tmp_path):
    from edgekit.exporters.executorch.target import ExecuTorchOptions
    from edgekit.exporters.onnx.target import OnnxOptions
    from edgekit.sdk.cli.export_cmd import parse_target_options

    parsed = parse_target_options(
        ("group_size=64", "smooth_alpha=0.25", "logits=all", "max_seq_len=128"), ExecuTorchOptions
    )
    assert parsed == ExecuTorchOptions(group_size=64, smooth_alpha=0.25, logits="all", max_seq_len=128)
    assert type(parsed.group_size) is int and type(parsed.smooth_alpha) is float
    # "0" is a float for smooth_alpha and an int for max_seq_len: the declared type decides, not the text
    assert type(parse_target_options(("smooth_alpha=0",), ExecuTorchOptions).smooth_alpha) is float
    assert parse_target_options((), OnnxOptions, profile="web") == OnnxOptions(profile="web")
    bad = _run(tiny_hf_folder, "-o", "group_size", "--out", tmp_path / "b")
    assert bad.exit_code == 2 and "'group_size' is not KEY=VALUE" in bad.stderr
    typo = _run(tiny_hf_folder, "--quant", "fp32", "-o", "colour=blue", "--out", tmp_path / "b", "--quiet")
    assert typo.exit_code == 1
    assert typo.stderr.strip() == "Error: unknown onnx option(s) colour; known: profile (cpu, web)"
    wrong_type = _run(
        tiny_hf_folder, "--target", "executorch", "-o", "group_size=big", "--out", tmp_path / "b", "--quiet"
    )
    assert wrong_type.exit_code == 1
    assert wrong_type.stderr.strip() == "Error: executorch option group_size='big' is not an integer (int)"
    assert not (tmp_path / "b").exists()


def test_export_help_lists_every_targets_options_from_their_dataclasses():
    from edgekit.exporters.pipeline import TARGET_MODULES, load_target

    for args in (["--help"], ["--list-options"]):
        result = _run(*args)
        assert result.exit_code == 0, result.stderr
        text = " ".join(result.stdout.split())  # --help wraps lines
        for name in TARGET_MODULES:
            options_type = load_target(name).options_type
            assert f"{name}:" in text
            for info in options_type.infos():
                assert f"{info.name} ({info.value_type.name};" in text, (args, info.name)
    listing = _run("--list-options").stdout
    assert "profile (str; default 'cpu'; allowed 'cpu', 'web')" in listing
    assert "smooth_alpha (float; default 0.5 for the 8daNw recipes; allowed 0..1)" in listing


def test_summary_names_a_golden_near_tie():
    from types import SimpleNamespace

    from edgekit.sdk.cli.export_cmd import summary_table

    divergence = {
        "index": 0,
        "reference_token": "The",
        "exported_token": "L",
        "reference_prob": 0.291,
        "exported_token_reference_prob": 0.268,
        "near_tie": True,
    }
    golden = {
        "prompt": "Q?",
        "exported_text": "L'Étoile",
        "tokens_matching": 0,
        "tokens_compared": 8,
        "match": False,
        "divergence": divergence,
    }
    validation = SimpleNamespace(
        top1_agreement=0.93,
        mean_kl=0.009,
        perplexity_exported=25.0,
        perplexity_reference=24.8,
        peak_rss_mib=900.0,
        golden=golden,
        passed=None,
    )
    report = SimpleNamespace(
        recipe="8da8w", size_bytes=2**20, validation=validation, seconds=1.0, candidates=[], warnings=[]
    )
    lines = summary_table(report).splitlines()
    assert lines[2].startswith("golden ✗ 'Q?' -> \"L'Étoile\"")
    assert lines[3] == "  first difference at token 0: float p('The')=0.291 vs p('L')=0.268, a near-tie"
    divergence["near_tie"] = False
    assert summary_table(report).splitlines()[3].endswith(", not a near-tie")
