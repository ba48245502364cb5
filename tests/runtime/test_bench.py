"""edgekit bench: engines in subprocesses, labelled setting variants, one quality function for every engine, the
memory-bound limit and the generated markdown page. (A benchmark: nothing here asserts a speed.)"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from edgekit.runtime.errors import UnknownNameError
from edgekit.sdk.bench import PEERS, BenchReport, EngineResult, check_targets, format_report, resolve_peers
from edgekit.sdk.bench.engines import OMP_WAIT_POLICY, SPIN_AUTO_LABEL, worker_env
from edgekit.sdk.bench.machine import machine_facts
from edgekit.sdk.bench.report import write_markdown
from edgekit.sdk.bench.roofline import measure_bandwidth, weight_bytes_per_token
from edgekit.sdk.cli import main

from tests.fixtures.require import import_or_skip_or_fail

from .toy_bundle import build_toy_bundle, script_table

FAST = ["--decode-tokens", "8", "--repeats", "1"]


@pytest.fixture(scope="module")
def bench_bundle(tmp_path_factory):
    # the bench prompt is ~128 tokens of text: 300+ byte tokens with the toy tokenizer
    return build_toy_bundle(tmp_path_factory.mktemp("bench"), script_table(512), max_context=512)


@pytest.fixture(scope="module")
def toy_run(bench_bundle, tmp_path_factory):
    """One real run on the toy bundle, with OMP_WAIT_POLICY exported by the caller's shell and a missing llama.cpp."""
    tmp = tmp_path_factory.mktemp("run")
    import_or_skip_or_fail("matplotlib", "--plot needs the bench extra: pip install -e '.[bench]' (scripts/setup.sh)")
    args = [
        "bench",
        str(bench_bundle),
        "--vs",
        "llama.cpp",
        "--llamacpp-python",
        str(tmp / "no-python"),
        *FAST,
        "--markdown",
        str(tmp / "benchmarks.md"),
        "--plot",
        str(tmp / "bench.png"),
        "--cache-dir",
        str(tmp / "c"),
    ]
    runner = CliRunner()
    table = runner.invoke(main, args, env={OMP_WAIT_POLICY: "PASSIVE"})
    as_json = runner.invoke(main, [*args, "--json"], env={OMP_WAIT_POLICY: "PASSIVE"})
    return table, as_json, tmp


def test_edgekit_rows_run_in_their_default_env_and_with_spinning_toggled(toy_run):
    _, result, tmp = toy_run
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    ours = [r for r in rows if r["engine"] == "edgekit"]
    # the default row forces nothing and says what load() chose by itself; the next two force each side, and the
    # last decode under the bench's default grammars
    assert [r["default"] for r in ours] == [True, False, False, False, False]
    auto, forced_on, forced_off, text, calls = (r["variant"] for r in ours)
    assert text.startswith("constrained: JSON string value → ")  # spinning left to load(), as by default
    assert calls.startswith("constrained: tool-call objects → ")
    chose = r" → (True|False) \((\d+(\.\d+)? CPUs free|CPU counters unreadable)\)"
    assert re.fullmatch(re.escape(SPIN_AUTO_LABEL) + chose, auto), auto
    assert (forced_on, forced_off) == ("allow_spinning=True", "allow_spinning=False")
    for row in ours:
        assert row["status"] == "ok"
        assert row["decode_tok_s"] > 0 and row["prefill_ms"] > 0 and row["peak_rss_mib"] > 0
        assert row["cold_start_ms"] >= row["load_ms"]  # process start → first token includes the load
        # the caller exported OMP_WAIT_POLICY=PASSIVE; no worker inherits it
        assert row["env"] == {OMP_WAIT_POLICY: None}
        assert row["weight_bytes_per_token"] > 0 and row["limit_tok_s"] > 0 and row["limit_share"] > 0
    llama = next(r for r in rows if r["engine"] == "llama.cpp")
    assert llama["status"] == "skipped" and "llama-cpp-python is not installed" in llama["message"]
    assert "pip install 'edgekit[bench-llamacpp]'" in llama["message"]
    assert "note: llama.cpp skipped" in result.stderr
    assert (tmp / "bench.png").stat().st_size > 1000


def test_constrained_rows_decode_under_the_grammar_beside_unconstrained_in_one_worker(toy_run):
    table, result, _ = toy_run
    rows = [r for r in json.loads(result.stdout) if r["variant"].startswith("constrained:")]
    assert [r["extra"]["constrained"]["name"] for r in rows] == ["json-text", "json-calls"]
    row = rows[0]
    measured = row["extra"]["constrained"]
    assert row["status"] == "ok" and measured["name"] == "json-text" and measured["repeats"] == 1
    # the grammar never completes, so both halves decode the same 8 tokens; the row's speed is the grammar's
    assert measured["generated_tokens"] == 8
    assert row["decode_tok_s"] == measured["tok_s"] > 0 and measured["unconstrained_tok_s"] > 0
    assert measured["overhead"] == pytest.approx(1 - measured["tok_s"] / measured["unconstrained_tok_s"])
    forced, text = '{"answer": "', measured["text"]  # the toy tokenizer spells the forced key one byte a token
    assert forced.startswith(text) if len(text) < len(forced) else text.startswith(forced)
    assert '"' not in text[len(forced) :]
    assert measured["vocabulary_ms"] > 0
    assert row["top1_agreement"] is None  # a grammar changes the distribution: agreement is not its measure
    # the target line is the same-process ratio, and the facts say how it was measured
    assert re.search(r"constrained-decoding overhead \(json-text\) ≤ 10% of decode: -?\d+\.\d%", table.output)
    assert "without and with the grammar, interleaved 1×" in table.output
    assert "constrained-decoding overhead (json-calls)" in table.output
    calls = rows[1]["extra"]["constrained"]
    assert (
        rows[1]["status"] == "ok"
        and calls["generated_tokens"] == 8
        and '[{"name":"'.startswith(re.sub(r"\s", "", calls["text"]))
    )


def test_bench_constraint_option(bench_bundle, tmp_path):
    args = ["bench", str(bench_bundle), *FAST, "--no-quality", "--no-roofline", "--cache-dir", str(tmp_path)]
    result = CliRunner().invoke(main, [*args, "--constraint", "none", "--json"])
    assert result.exit_code == 0, result.output
    assert not [r for r in json.loads(result.stdout) if r["variant"].startswith("constrained:")]
    one = CliRunner().invoke(main, [*args, "--constraint", "json-calls", "--json"])
    assert one.exit_code == 0, one.output
    named = [r["extra"]["constrained"]["name"] for r in json.loads(one.stdout) if "constrained" in r["extra"]]
    assert named == ["json-calls"]
    bad = CliRunner().invoke(main, [*args, "--constraint", "xml"])
    assert bad.exit_code == 2 and "unknown bench constraint 'xml'" in bad.output
    assert "json-calls" in bad.output and "json-text" in bad.output
    assert "Traceback" not in bad.output


def test_llamacpp_default_row_has_no_forced_wait_policy_and_the_passive_row_has_it():
    from edgekit.sdk.bench.engines import BenchContext
    from edgekit.sdk.bench.records import BenchConfig

    ctx = BenchContext(BenchConfig(bundle="x"), manifest=None, threads=2)
    default, passive = PEERS.get("llama.cpp").variants(ctx)
    shell = {OMP_WAIT_POLICY: "ACTIVE", "PATH": "/usr/bin"}
    assert default.default and OMP_WAIT_POLICY not in worker_env(default, shell)
    assert worker_env(default, shell)["PATH"] == "/usr/bin"
    assert not passive.default and worker_env(passive, shell)[OMP_WAIT_POLICY] == "PASSIVE"
    assert passive.label == "OMP_WAIT_POLICY=PASSIVE"
    no_variants = BenchContext(BenchConfig(bundle="x", variants=False), manifest=None, threads=2)
    assert PEERS.get("llama.cpp").variants(no_variants) == (default,)


def test_quality_is_one_function_for_every_engine(bench_bundle, tmp_path):
    """Real logits from the toy bundle's worker: scored against themselves they agree fully; perturbed, less."""
    from edgekit.exporters.validation.metrics import log_softmax
    from edgekit.sdk.bench.engines import DEFAULT_VARIANT
    from edgekit.sdk.bench.quality import score, targets
    from edgekit.sdk.bench.runner import _run_worker

    segments = [list(range(40, 80)), list(range(100, 130))]
    out = tmp_path / "logits.npy"
    job = {
        "engine": "edgekit",
        "mode": "logits",
        "model": str(bench_bundle),
        "threads": 1,
        "segments": segments,
        "out": str(out),
    }
    info = _run_worker(sys.executable, job, env=worker_env(DEFAULT_VARIANT))
    logits = np.load(out)
    assert logits.shape == (len(targets(segments)), info["vocab"]) == (39 + 29, info["vocab"])
    itself = score(log_softmax(logits), logits, segments)
    assert itself.positions == 68 and itself.top1_agreement == 1.0 and itself.mean_kl == pytest.approx(0, abs=1e-5)
    rng = np.random.default_rng(0)
    noisy = logits + rng.normal(0, 3 * float(logits.std()) + 1.0, logits.shape).astype(np.float32)
    worse = score(log_softmax(logits), noisy, segments)
    assert worse.top1_agreement < 1.0 and worse.mean_kl > 0.01
    with pytest.raises(Exception, match="do not match the reference"):
        score(log_softmax(logits), logits[:-1], segments)


def test_unknown_peer_lists_the_known_ones(bench_bundle):
    result = CliRunner().invoke(main, ["bench", str(bench_bundle), "--vs", "vllm"])
    assert result.exit_code == 2 and "unknown bench peer 'vllm'" in result.output
    for name in PEERS.names():
        assert name in result.output
    with pytest.raises(UnknownNameError, match="known bench peers: .*llama.cpp.*onnxruntime-genai"):
        resolve_peers(("llama.cpp", "vllm"))
    assert [e.name for e in resolve_peers(("all",))] == list(PEERS)


def test_markdown_page_has_the_machine_header_and_a_row_per_engine(toy_run):
    table, _, tmp = toy_run
    assert table.exit_code == 0, table.output
    page = (tmp / "benchmarks.md").read_text()
    assert page.startswith("<!-- Generated by `edgekit bench --markdown`")
    assert "Generated by `edgekit bench " in page and "--vs llama.cpp" in page and "--markdown " in page
    facts = machine_facts(threads=1)
    assert facts["cpu"] in page and "threads per engine:" in page and "onnxruntime " in page
    assert "llama-cpp-python" in page and "date: " in page and "quiet" in page
    body = [line for line in page.splitlines() if line.startswith("| edgekit |")]
    assert len(body) == 5  # spinning decided by load(), forced on, forced off, under each of two grammars
    assert any(line.startswith("| llama.cpp | skipped |") for line in page.splitlines())
    assert "memory bandwidth" in page and "GiB/s" in page
    assert "decode ≥ 1.5× llama.cpp: not measured (llama.cpp skipped)" in page
    assert "cold start ≤ 400 ms" in page
    assert "bytecode" in page  # the run says whether edgekit's modules were compiled before it was timed


def test_write_markdown_with_several_bundles(tmp_path):
    rows = [
        EngineResult(
            "edgekit",
            "ok",
            weights="bundle",
            variant="allow_spinning=auto (default) → True (2.0 CPUs free)",
            decode_tok_s=150,
            prefill_ms=90,
            cold_start_ms=350,
            load_ms=200,
            peak_rss_mib=200,
        )
    ]
    reports = [BenchReport(f"b{i}", f"model{i}", "gguf", 2, 128, 64, rows) for i in range(2)]
    path = write_markdown(reports, tmp_path / "docs" / "benchmarks.md", machine_facts(threads=2), "edgekit bench b0 b1")
    page = path.read_text()
    assert "## model0 — gguf (`b0`)" in page and "## model1 — gguf (`b1`)" in page
    assert page.count("| edgekit | allow_spinning=auto (default) → True (2.0 CPUs free) |") == 2


def _row(engine, variant="default", default=True, **numbers):
    return EngineResult(engine, "ok", weights="w", variant=variant, default=default, **numbers)


def test_targets_compare_default_rows_of_the_same_run():
    ours = _row("edgekit", decode_tok_s=240, prefill_ms=80, cold_start_ms=450, peak_rss_mib=200, top1_agreement=0.985)
    spin = _row("edgekit", "allow_spinning=True", False, decode_tok_s=10, prefill_ms=900, peak_rss_mib=900)
    genai = _row("onnxruntime-genai", decode_tok_s=200, prefill_ms=100, peak_rss_mib=250)
    llama = _row("llama.cpp", "default environment", decode_tok_s=130, prefill_ms=360, peak_rss_mib=190)
    passive = _row("llama.cpp", "OMP_WAIT_POLICY=PASSIVE", False, decode_tok_s=34)
    report = BenchReport("b", "m", "gguf", 2, 128, 64, [ours, spin, genai, passive, llama])
    lines = [c.line() for c in check_targets(report)]
    assert "✓ decode ≥ 1× onnxruntime-genai (default) (aim 1.2×): 1.20× (240.0 vs 200.0)" in lines
    assert "✗ decode ≥ 1.5× llama.cpp (default environment): 1.85× (240.0 vs 130.0)" not in lines
    assert "✓ decode ≥ 1.5× llama.cpp (default environment): 1.85× (240.0 vs 130.0)" in lines
    assert "✓ prefill time ≤ 1× onnxruntime-genai (default): 0.80× (80.0 vs 100.0)" in lines
    assert "✓ peak RSS ≤ 1× onnxruntime-genai (default): 0.80× (200.0 vs 250.0)" in lines
    assert "✗ cold start ≤ 400 ms: 450 ms" in lines
    assert "✓ top-1 agreement with float ≥ 0.97 (aim 0.98): 0.985" in lines
    assert not any("executorch-runner" in line for line in lines)  # not asked for in this run
    text = format_report(report)
    assert "| llama.cpp | OMP_WAIT_POLICY=PASSIVE | w | 34.0 |" in text


def test_weight_bytes_per_token_skips_a_gather_only_embedding(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def graph(tied: bool):
        emb = numpy_helper.from_array(np.zeros((10, 4), np.float32), "embed")
        head = numpy_helper.from_array(np.zeros((4, 4), np.float32), "w")
        nodes = [helper.make_node("Gather", ["embed", "ids"], ["x"]), helper.make_node("MatMul", ["x", "w"], ["y"])]
        if tied:
            nodes.append(helper.make_node("MatMul", ["y", "embed_t"], ["logits"]))
            nodes.insert(0, helper.make_node("Transpose", ["embed"], ["embed_t"]))
        g = helper.make_graph(
            nodes,
            "g",
            [helper.make_tensor_value_info("ids", TensorProto.INT64, [1])],
            [helper.make_tensor_value_info("logits" if tied else "y", TensorProto.FLOAT, None)],
            initializer=[emb, head],
        )
        path = tmp_path / f"{'tied' if tied else 'untied'}.onnx"
        onnx.save(helper.make_model(g), path)
        return path

    untied = weight_bytes_per_token(graph(False))
    assert untied.bytes == 4 * 4 * 4 and "1 Gather-only" in untied.method
    assert weight_bytes_per_token(graph(True)).bytes == (10 * 4 + 4 * 4) * 4


def test_bandwidth_is_measured_and_described():
    bw = measure_bandwidth(threads=2, mib=8, repeats=2)
    assert bw.bytes_per_s > 0 and bw.threads == 2 and "copyto" in bw.method


def test_bench_bad_bundle(tmp_path):
    result = CliRunner().invoke(main, ["bench", str(tmp_path)])
    assert result.exit_code == 1 and "has no edgekit.json" in result.output and "Traceback" not in result.output


def test_quality_columns_against_the_float_reference_of_a_real_bundle(tiny_bundle, tmp_path):
    """The whole path on a tiny real export: float reference (torch subprocess, cached .npy) vs the runtime."""
    bundle = tiny_bundle("fp32")
    args = [
        "bench",
        str(bundle),
        *FAST,
        "--no-variants",
        "--quality-tokens",
        "96",
        "--cache-dir",
        str(tmp_path),
        "--json",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    # an fp32 export of the same weights: the runtime matches the float model almost exactly
    assert row["quality_positions"] > 80 and row["top1_agreement"] >= 0.98 and 0 <= row["mean_kl"] < 1e-3
    cached = list(tmp_path.glob("reference-logprobs-*.npy"))
    assert len(cached) == 1
    reference = np.load(cached[0], mmap_mode="r")
    assert reference.shape[0] == row["quality_positions"]
    np.testing.assert_allclose(np.exp(reference).sum(axis=1), 1.0, rtol=1e-4)  # log-probs, not logits
    again = CliRunner().invoke(main, args)  # the reference is reused, not recomputed
    assert again.exit_code == 0 and json.loads(again.stdout)[0]["top1_agreement"] == row["top1_agreement"]
    assert list(tmp_path.glob("reference-logprobs-*.npy")) == cached


def test_streams_rows_measure_concurrent_generations(tiny_bundle, tmp_path):
    """``--streams 1,2``: each count in its own worker; 2 streams on a batch-capable graph share a batcher."""
    from edgekit.sdk.bench import BenchConfig, run_bench
    from edgekit.sdk.bench.report import format_streams

    config = BenchConfig(
        bundle=tiny_bundle("int4"),
        decode_tokens=16,
        repeats=2,
        quality=False,
        roofline=False,
        variants=False,
        streams=(1, 2),
        cache_dir=tmp_path,
    )
    report = run_bench(config)
    one, two = report.streams
    assert (one.streams, two.streams) == (1, 2) and one.status == two.status == "ok", report.streams
    assert not one.batched and two.batched and 0.0 <= two.batched_share <= 1.0
    assert one.aggregate_tok_s > 0 and two.aggregate_tok_s > 0 and two.wall_ms > 0
    table = format_streams(report)
    assert "| 1 | " in table and "| 2 | " in table and "no batching" in table


@pytest.mark.parametrize("value", ["0", "1,x", "40"])
def test_bad_streams_value_is_one_line(bench_bundle, value):
    result = CliRunner().invoke(main, ["bench", str(bench_bundle), "--streams", value])
    assert result.exit_code == 2 and "--streams" in result.output and "1,2,4" in result.output
    assert "Traceback" not in result.output


def test_constrained_half_never_ends_on_eos_while_the_grammar_can_go_on(bench_bundle):
    """Where a grammar may end, llguidance offers eos; the bench's wrapper takes it away so both halves run alike."""
    from edgekit.runtime import load
    from edgekit.runtime.constraints import Constraint
    from edgekit.sdk.bench.worker import _WithoutEos

    model = load(bench_bundle, threads=1)
    eos = sorted(model.tokenizer.eos_ids)
    raw = model.grammar_vocabulary.matcher(Constraint.regex("a|ab"))
    wrapped = _WithoutEos(model.grammar_vocabulary.matcher(Constraint.regex("a|ab")), model.tokenizer.eos_ids)
    (a,) = model.tokenizer.encode("a")
    for matcher in (raw, wrapped):
        matcher.consume(a)
    assert raw.allowed()[eos].all()  # "a" is complete: the grammar itself would let it stop here
    mask = wrapped.allowed()
    assert not mask[eos].any() and mask.sum() >= 1  # "b" still fits: the wrapper offers only that
    (b,) = model.tokenizer.encode("b")
    wrapped.consume(b)
    assert wrapped.finished and wrapped.allowed()[eos].any()  # nothing else fits: eos stays, the match can end


def test_bytecode_caches_are_written_before_timed_runs_even_when_the_environment_forbids_them(tmp_path, monkeypatch):
    """An editable checkout under PYTHONDONTWRITEBYTECODE compiles its sources in every process; the bench writes
    the caches a pip install has, then finds them current."""
    import importlib.util

    from edgekit.sdk.bench.bytecode import compile_edgekit

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    modules = [root / "a.py", root / "sub" / "b.py"]
    for path in modules:
        path.write_text("VALUE = 1\n")
    first = compile_edgekit([root])
    assert (first.modules, first.missing, first.failed) == (2, 2, False)
    assert all(Path(importlib.util.cache_from_source(str(path))).is_file() for path in modules)
    assert "2 of 2 had no cache" in first.note()
    again = compile_edgekit([root])
    assert (again.modules, again.missing) == (2, 0) and "had bytecode caches" in again.note()
    modules[1].write_text("VALUE = 2  # edited after its cache was written\n")
    os.utime(modules[1], (modules[1].stat().st_atime, modules[1].stat().st_mtime + 5))
    assert compile_edgekit([root]).missing == 1  # a stale cache counts as missing
