"""`edgekit bench ET_BUNDLE --vs optimum-executorch`: Hugging Face's recipe for the same model, in its own venv.

The skip paths run the real CLI and the real interpreter probe (a subprocess of this venv's python, which has
no optimum-executorch). The slow test needs the side venv made by scripts/setup-optimum-executorch.sh
(default /tmp/oet-venv, or EDGEKIT_OPTIMUM_ET_PYTHON): it exports the tiny llama with their recipe, runs it
through their runtime, and compares the greedy ids with edgekit's row on the same prompt ids.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from edgekit.runtime.errors import UnsupportedError
from edgekit.runtime.manifest import read_manifest
from edgekit.sdk.bench.optimum_et import BASE_FLAGS, recipe_for
from edgekit.sdk.cli import main

SIDE_PYTHON = os.environ.get("EDGEKIT_OPTIMUM_ET_PYTHON", "/tmp/oet-venv/bin/python")


def _bench(*args: str) -> tuple[dict, str]:
    result = CliRunner().invoke(
        main, ["bench", *args, "--decode-tokens", "8", "--repeats", "1", "--no-quality", "--json"]
    )
    assert result.exit_code == 0, result.output
    return {r["engine"]: r for r in json.loads(result.stdout)}, result.stderr


def test_skipped_with_the_fix_when_the_interpreter_lacks_optimum_executorch(et_bundle, tmp_path):
    rows, stderr = _bench(
        str(et_bundle("8da8w")),
        "--vs",
        "optimum-executorch",
        "--optimum-executorch-python",
        sys.executable,
        "--cache-dir",
        str(tmp_path),
    )
    assert rows["edgekit"]["status"] == "ok"
    row = rows["optimum-executorch"]
    assert row["status"] == "skipped", row
    # names the interpreter it probed (so the option reached the runner) and both fixes
    assert f"optimum-executorch is not installed for {sys.executable}" in row["message"]
    assert "scripts/setup-optimum-executorch.sh VENV_DIR" in row["message"]
    assert "--optimum-executorch-python VENV_DIR/bin/python" in row["message"]
    assert "note: optimum-executorch skipped:" in stderr
    assert not any(tmp_path.iterdir()), "nothing may be exported when the peer is skipped"


def test_a_missing_interpreter_is_reported_by_path(et_bundle, tmp_path):
    missing = str(tmp_path / "no-venv" / "bin" / "python")
    rows, _ = _bench(str(et_bundle("8da8w")), "--vs", "optimum-executorch", "--optimum-executorch-python", missing)
    assert rows["optimum-executorch"]["status"] == "skipped"
    assert f"--optimum-executorch-python {missing!r} is not an executable" in rows["optimum-executorch"]["message"]


def test_skipped_for_onnx_bundles(tiny_bundle):
    rows, _ = _bench(str(tiny_bundle("fp32")), "--vs", "optimum-executorch", "--optimum-executorch-python", SIDE_PYTHON)
    assert rows["optimum-executorch"]["status"] == "skipped"
    assert "needs an ExecuTorch bundle" in rows["optimum-executorch"]["message"]


def test_option_parsing():
    runner = CliRunner()
    help_text = runner.invoke(main, ["bench", "--help"]).output
    assert "--optimum-executorch-python" in help_text and "optimum-executorch" in help_text
    bad = runner.invoke(main, ["bench", "x", "--vs", "optimum-executorc"])
    assert bad.exit_code == 2 and "optimum-executorch" in bad.output  # click lists the valid choices


def _with_quant(manifest, **quant):
    config = {**manifest.backend_config, "quantization": {**manifest.backend_config["quantization"], **quant}}
    return dataclasses.replace(manifest, backend_config=config)


def test_recipe_flags_follow_the_bundle_manifest(et_bundle):
    manifest = read_manifest(et_bundle("8da8w"))
    quant = manifest.backend_config["quantization"]
    assert (quant["weight_bits"], quant["embedding_bits"]) == (8, 32)
    ctx = ["--max_seq_len", str(manifest.max_context)]
    assert recipe_for(manifest).flags() == [*BASE_FLAGS, "--qlinear", "8da8w", *ctx]
    assert recipe_for(
        _with_quant(manifest, recipe="8da4w-emb8", weight_bits=4, group_size=32, embedding_bits=8)
    ).flags() == [*BASE_FLAGS, "--qlinear", "8da4w", "--qembedding", "8w", *ctx]
    assert recipe_for(_with_quant(manifest, recipe="fp32", weight_bits=32, activation="float32")).flags() == [
        *BASE_FLAGS,
        *ctx,
    ]
    assert BASE_FLAGS == ("--recipe", "xnnpack", "--use_custom_sdpa", "--use_custom_kv_cache")


def test_recipes_without_a_counterpart_are_refused_by_name(et_bundle):
    manifest = read_manifest(et_bundle("8da8w"))
    with pytest.raises(UnsupportedError, match=r"group size 64.*groups of 32"):
        recipe_for(_with_quant(manifest, recipe="8da4w", weight_bits=4, group_size=64))
    with pytest.raises(UnsupportedError, match=r"'odd'.*weight_bits=6"):
        recipe_for(_with_quant(manifest, recipe="odd", weight_bits=6))


@pytest.mark.slow
@pytest.mark.skipif(
    not Path(SIDE_PYTHON).is_file(),
    reason=f"no optimum-executorch venv at {SIDE_PYTHON} "
    "(scripts/setup-optimum-executorch.sh VENV_DIR; EDGEKIT_OPTIMUM_ET_PYTHON=VENV_DIR/bin/python)",
)
def test_real_row_on_the_tiny_model_then_cached(et_bundle, tmp_path):
    bundle = et_bundle("fp32")
    args = [
        str(bundle),
        "--vs",
        "optimum-executorch",
        "--optimum-executorch-python",
        SIDE_PYTHON,
        "--cache-dir",
        str(tmp_path),
    ]
    rows, _ = _bench(*args)
    ours, theirs = rows["edgekit"], rows["optimum-executorch"]
    assert theirs["status"] == "ok", theirs
    assert theirs["decode_tok_s"] > 0 and theirs["prefill_ms"] > 0 and theirs["peak_rss_mib"] > 0
    extra = theirs["extra"]
    assert extra["recipe"].endswith(" ".join([*BASE_FLAGS, "--max_seq_len", str(read_manifest(bundle).max_context)]))
    assert extra["export"] == "exported in this run" and extra["export_s"] > 0 and extra["export_peak_rss_mib"] > 0
    assert extra["versions"]["optimum-executorch"] != "absent"
    pte = Path(extra["folder"]) / "model.pte"
    assert pte.is_file() and extra["pte_mib"] == pytest.approx(pte.stat().st_size / 2**20)
    # fp32 both sides, same weights, same prompt ids: their greedy loop picks edgekit's tokens
    assert (
        theirs["first_tokens"] == ours["first_tokens"][: len(theirs["first_tokens"])]
        and len(theirs["first_tokens"]) == 8
    )

    again, _ = _bench(*args)  # second run: their .pte is reused, the first export's numbers are reported
    extra2 = again["optimum-executorch"]["extra"]
    assert again["optimum-executorch"]["status"] == "ok"
    assert extra2["export"].startswith("cached") and extra2["export_s"] == extra["export_s"]
    assert (
        extra2["folder"] == extra["folder"]
        and pte.stat().st_mtime_ns == Path(extra2["folder"], "model.pte").stat().st_mtime_ns
    )
