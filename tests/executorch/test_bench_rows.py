"""`edgekit bench` on an ExecuTorch bundle: edgekit's Python-driven loop and ExecuTorch's C++ runner, same .pte.

A benchmark, so nothing here asserts a speed: only that both rows are measured on the same file and the
ratio line with its target is printed.
"""

from __future__ import annotations

import json

from click.testing import CliRunner
from edgekit.sdk.cli import main


def test_bench_measures_edgekit_and_the_cpp_runner_on_the_same_pte(et_bundle):
    bundle = et_bundle("8da8w")
    args = ["bench", str(bundle), "--vs", "executorch-runner", "--decode-tokens", "8", "--repeats", "1", "--no-quality"]
    result = CliRunner().invoke(main, args + ["--json"])
    assert result.exit_code == 0, result.output
    results = json.loads(result.stdout)
    rows = {r["engine"]: r for r in results if r["default"]}
    assert rows["edgekit"]["status"] == "ok" and rows["executorch-runner"]["status"] == "ok", rows
    # the grammar lives above the backend: the .pte decodes under it as an ONNX bundle does
    constrained = [r for r in results if r["engine"] == "edgekit" and "constrained" in r["extra"]]
    assert [r["extra"]["constrained"]["name"] for r in constrained] == ["json-text", "json-calls"]
    assert all(r["status"] == "ok" and r["extra"]["constrained"]["generated_tokens"] == 8 for r in constrained)
    # the program's hidden method against its plain forward, in one worker: the same tokens either way
    (hidden,) = [r for r in results if r["engine"] == "edgekit" and "hidden_cost" in r["extra"]]
    assert hidden["status"] == "ok" and not hidden["default"], hidden
    assert hidden["extra"]["hidden_cost"]["same_tokens"] is True and hidden["extra"]["hidden_cost"]["tok_s"] > 0
    runner = rows["executorch-runner"]
    assert runner["weights"] == "same .pte, C++ TextLLMRunner"
    assert runner["decode_tok_s"] > 0 and runner["prefill_ms"] > 0 and runner["peak_rss_mib"] > 0

    from edgekit.sdk.bench import BenchReport, EngineResult, format_report

    report = BenchReport(
        str(bundle), "m", "8da8w", 2, 128, 8, [EngineResult(**rows["edgekit"]), EngineResult(**runner)]
    )
    table = format_report(report)
    assert "| executorch-runner |" in table and "decode ≥ 0.9× executorch-runner" in table


def test_cpp_runner_peer_is_skipped_for_onnx_bundles(tiny_bundle):
    result = CliRunner().invoke(
        main,
        [
            "bench",
            str(tiny_bundle("fp32")),
            "--vs",
            "executorch-runner",
            "--decode-tokens",
            "4",
            "--repeats",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = {r["engine"]: r for r in json.loads(result.stdout)}
    assert rows["executorch-runner"]["status"] == "skipped"
    assert "needs an ExecuTorch bundle" in rows["executorch-runner"]["message"]
