"""edgekit bench: runs the runtime in a subprocess and prints the table; absent peers are skipped with a message.
(A benchmark: nothing here asserts a speed.)"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from edgekit.sdk.bench.runner import EngineResult, format_table
from edgekit.sdk.cli import main

from .toy_bundle import build_toy_bundle, script_table


@pytest.fixture(scope="module")
def bench_bundle(tmp_path_factory):
    # the bench prompt is ~128 tokens of text: 300+ byte tokens with the toy tokenizer
    return build_toy_bundle(tmp_path_factory.mktemp("bench"), script_table(512), max_context=512)


def test_bench_json_measures_edgekit_and_skips_missing_peer(bench_bundle, tmp_path):
    pytest.importorskip("matplotlib", reason="--plot needs the bench extra (matplotlib)")
    result = CliRunner().invoke(
        main,
        [
            "bench",
            str(bench_bundle),
            "--vs",
            "llama.cpp",
            "--llamacpp-python",
            str(tmp_path / "no-python"),
            "--decode-tokens",
            "8",
            "--repeats",
            "1",
            "--json",
            "--plot",
            str(tmp_path / "bench.png"),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = {r["engine"]: r for r in json.loads(result.stdout)}
    ours = rows["edgekit"]
    assert ours["status"] == "ok"
    assert ours["decode_tok_s"] > 0 and ours["prefill_ms"] > 0 and ours["peak_rss_mib"] > 0
    assert ours["cold_start_ms"] >= ours["load_ms"]  # process start → first token includes the load
    assert (
        rows["llama.cpp"]["status"] == "skipped" and "llama-cpp-python is not installed" in rows["llama.cpp"]["message"]
    )
    assert "note: llama.cpp skipped" in result.stderr
    assert (tmp_path / "bench.png").stat().st_size > 1000


def test_table_has_ratios_and_target_checks():
    ours = EngineResult(
        "edgekit",
        "ok",
        weights="bundle",
        load_ms=100,
        cold_start_ms=400,
        prefill_ms=50,
        prefill_tok_s=2560,
        decode_tok_s=200,
        peak_rss_mib=150,
    )
    peer = EngineResult(
        "llama.cpp",
        "ok",
        weights="gguf",
        load_ms=50,
        cold_start_ms=300,
        prefill_ms=200,
        prefill_tok_s=640,
        decode_tok_s=100,
        peak_rss_mib=180,
    )
    table = format_table([ours, peer])
    assert "| llama.cpp | 2.00 | 0.25 | 0.83 |" in table
    assert "decode >= 1.5× ✓" in table and "prefill <= 0.5× ✓" in table and "peak <= 1.0× ✓" in table
    assert "cold start 400 ms (target ≤ 500 ms ✓)" in table


def test_bench_bad_bundle(tmp_path):
    result = CliRunner().invoke(main, ["bench", str(tmp_path)])
    assert result.exit_code == 1 and "has no edgekit.json" in result.output and "Traceback" not in result.output


def test_bench_unknown_peer(bench_bundle):
    result = CliRunner().invoke(main, ["bench", str(bench_bundle), "--vs", "vllm"])
    assert result.exit_code == 2 and "Invalid value for '--vs'" in result.output
