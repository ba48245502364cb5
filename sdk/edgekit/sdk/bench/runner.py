"""Run each engine in its own process on the same prompt ids and report one comparable row each.

Workload (fixed so runs compare): the chat-templated PROMPT below (about 128
tokens with SmolLM2's tokenizer), greedy; prefill = the prompt to its first
token (median of ``repeats`` warm runs); decode = ``decode_tokens`` greedy
tokens with eos ignored; cold start = process start to the first token
(interpreter, imports, load, first prefill); peak RSS = the worker's
``ru_maxrss``. Engines run one after another, never at the same time.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import EdgekitError
from edgekit.runtime.progress import OnProgress, Steps

__all__ = ["BenchConfig", "EngineResult", "run_bench", "PEERS", "format_table", "TARGETS", "write_plot"]

SYSTEM = "You are a concise assistant running on a small device. Answer in plain English, in at most three sentences."
PROMPT = (
    "I am planning a weekend trip to Lyon with two friends. We like food markets, old streets and short walks, "
    "and we will arrive by train on Friday evening. Suggest a simple plan for Saturday and Sunday, say which "
    "neighbourhood we should stay in, and name one dish we should not miss. Keep it short, practical and friendly."
)
# executorch-runner, optimum-executorch: ExecuTorch bundles only (optimum-executorch in its own venv, optimum_et.py)
PEERS = ("onnxruntime-genai", "llama.cpp", "executorch-runner", "optimum-executorch")
WORKER = Path(__file__).with_name("worker.py")

# Targets: (metric, peer, comparison, factor) — edgekit vs peer in the same run.
TARGETS = [
    ("decode_tok_s", "llama.cpp", ">=", 1.5),
    ("decode_tok_s", "onnxruntime-genai", ">=", 1.05),
    ("prefill_ms", "llama.cpp", "<=", 0.5),
    ("peak_rss_mib", "llama.cpp", "<=", 1.0),
    # edgekit's Python-driven ExecuTorch decode vs ExecuTorch's own C++ runner on the same .pte.
    ("decode_tok_s", "executorch-runner", ">=", 0.9),
]
COLD_START_TARGET_MS = 500.0


@dataclass(frozen=True)
class BenchConfig:
    bundle: Path
    peers: tuple[str, ...] = ()
    threads: int | None = None
    decode_tokens: int = 64
    repeats: int = 3
    cache_dir: Path = Path(".cache/bench")
    genai_model: Path | None = None  # a ready onnxruntime-genai folder (else built from the GGUF)
    gguf: str | None = None  # the GGUF for llama.cpp (else the bundle's source)
    llamacpp_python: str | None = None  # interpreter that has llama_cpp (it compiles ~15 min: often its own venv)
    optimum_executorch_python: str | None = None  # interpreter that has optimum-executorch (its own venv)


@dataclass
class EngineResult:
    engine: str
    status: str  # "ok" | "skipped" | "failed"
    message: str = ""
    weights: str = ""
    load_ms: float | None = None
    cold_start_ms: float | None = None
    prefill_ms: float | None = None
    prefill_tok_s: float | None = None
    decode_tok_s: float | None = None
    peak_rss_mib: float | None = None
    first_tokens: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # engine-specific facts (optimum-executorch: recipe, export)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run_worker(python: str, job: dict, timeout: float = 900, env: dict | None = None) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        job_path = handle.name
    # spinning OpenMP threads collapse llama.cpp on a busy machine (130 -> 0.9 tok/s, 2 cores)
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **(env or {})}
    job = {**job, "t0": time.time()}  # cold start counts from here: process start to first token
    Path(job_path).write_text(json.dumps(job))
    proc = subprocess.run([python, str(WORKER), job_path], capture_output=True, text=True, timeout=timeout, env=env)
    Path(job_path).unlink(missing_ok=True)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"worker exited {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _find_module(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        return False


def _has_module(python: str, module: str) -> bool:
    """Whether ``python`` can find ``module`` (found, not imported: importing optimum.executorch takes seconds)."""
    if python == sys.executable:
        return _find_module(module)
    code = (
        "import importlib.util, sys\n"
        "try:\n    found = importlib.util.find_spec(sys.argv[1]) is not None\n"
        "except ModuleNotFoundError:\n    found = False\n"
        "sys.exit(0 if found else 1)"
    )
    try:
        proc = subprocess.run([python, "-c", code, module], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def run_bench(config: BenchConfig, on_progress: OnProgress | None = None) -> list[EngineResult]:
    from edgekit.runtime import load
    from edgekit.runtime.cpu import physical_cores

    unknown = [p for p in config.peers if p not in PEERS]
    if unknown:
        from edgekit.runtime.errors import UnknownNameError

        raise UnknownNameError("bench peer", unknown[0], PEERS)
    threads = config.threads or physical_cores()
    steps = Steps(total=1 + len(config.peers), on_progress=on_progress)
    model = load(config.bundle, threads=1)  # verifies the bundle and gives the shared prompt ids
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]
    prompt_ids = (
        model.tokenizer.encode(model.render_chat(messages)) if model.chat_template else model.tokenizer.encode(PROMPT)
    )
    manifest = model.manifest
    model.close()
    job = {
        "threads": threads,
        "prompt_ids": prompt_ids,
        "decode_tokens": config.decode_tokens,
        "repeats": config.repeats,
    }
    results = []
    recipe = manifest.recipe.get("name", "?")

    with steps.stage("edgekit", f"{manifest.model.get('name', '?')} {recipe}") as stage:
        results.append(
            _measure(
                "edgekit",
                sys.executable,
                {**job, "engine": "edgekit", "model": str(config.bundle)},
                f"bundle {recipe}",
                len(prompt_ids),
            )
        )
        stage.metrics.update(_metrics(results[-1]))

    for peer in config.peers:
        with steps.stage(peer) as stage:
            results.append(_run_peer(peer, config, manifest, job, threads, len(prompt_ids)))
            stage.metrics.update(_metrics(results[-1]) or {"status": results[-1].status})
    return results


def _metrics(result: EngineResult) -> dict[str, Any]:
    if result.status != "ok":
        return {}
    return {"decode_tok_s": result.decode_tok_s, "prefill_ms": result.prefill_ms, "rss_mib": result.peak_rss_mib}


def _measure(
    engine: str, python: str, job: dict, weights: str, prompt_len: int, env: dict | None = None
) -> EngineResult:
    try:
        out = _run_worker(python, job, env=env)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return EngineResult(engine, "failed", str(exc)[:300], weights)
    return EngineResult(
        engine,
        "ok",
        "",
        weights,
        load_ms=out["load_ms"],
        cold_start_ms=out["cold_start_ms"],
        prefill_ms=out["prefill_ms"],
        prefill_tok_s=prompt_len / (out["prefill_ms"] / 1e3),
        decode_tok_s=out["decode_tok_s"],
        peak_rss_mib=out["peak_rss_mib"],
        first_tokens=out.get("tokens", []),
    )


def _run_peer(peer: str, config: BenchConfig, manifest, job: dict, threads: int, prompt_len: int) -> EngineResult:
    from .peers import find_gguf, prepare_genai_model, set_genai_threads

    try:
        if peer == "optimum-executorch":
            return _run_optimum_executorch(config, manifest, job, prompt_len)
        if peer == "executorch-runner":  # engine in edgekit.exporters.executorch.cpp_runner
            if manifest.backend != "executorch":
                return EngineResult(peer, "skipped", "needs an ExecuTorch bundle (edgekit export --target executorch)")
            if not _has_module(sys.executable, "executorch"):
                return EngineResult(peer, "skipped", "executorch is not installed: pip install 'edgekit[executorch]'")
            return _measure(
                peer,
                sys.executable,
                {**job, "engine": peer, "model": str(config.bundle)},
                "same .pte, C++ TextLLMRunner",
                prompt_len,
            )
        if peer == "onnxruntime-genai":
            if not _has_module(sys.executable, "onnxruntime_genai"):
                return EngineResult(peer, "skipped", "onnxruntime-genai is not installed: pip install 'edgekit[bench]'")
            folder = (
                Path(config.genai_model)
                if config.genai_model
                else prepare_genai_model(find_gguf(manifest, config.gguf), Path(config.cache_dir))
            )
            set_genai_threads(folder, threads)
            return _measure(
                peer, sys.executable, {**job, "engine": peer, "model": str(folder)}, "genai builder int4", prompt_len
            )
        python = config.llamacpp_python or sys.executable
        if not _has_module(python, "llama_cpp"):
            return EngineResult(
                peer,
                "skipped",
                "llama-cpp-python is not installed for this interpreter: pip install "
                "'edgekit[bench-llamacpp]' (compiles ~15 min) or pass --llamacpp-python PATH",
            )
        gguf = find_gguf(manifest, config.gguf)
        return _measure(peer, python, {**job, "engine": peer, "model": str(gguf)}, f"GGUF {gguf.name}", prompt_len)
    except EdgekitError as exc:
        return EngineResult(peer, "skipped", str(exc))


def _run_optimum_executorch(config: BenchConfig, manifest, job: dict, prompt_len: int) -> EngineResult:
    """Their published recipe on the bundle's source model, exported and run in their own venv (optimum_et.py)."""
    from edgekit.runtime.errors import ExportError, SourceError, UnsupportedError

    from .optimum_et import OPTIMUM_PEER, SETUP_HINT, prepare_optimum_export

    if manifest.backend != "executorch":
        return EngineResult(
            OPTIMUM_PEER,
            "skipped",
            "needs an ExecuTorch bundle (edgekit export --target executorch) "
            "to compare with optimum-executorch's recipe",
        )
    python = config.optimum_executorch_python or sys.executable
    if shutil.which(python) is None:
        return EngineResult(
            OPTIMUM_PEER, "skipped", f"--optimum-executorch-python {python!r} is not an executable: {SETUP_HINT}"
        )
    if not _has_module(python, "optimum.executorch"):
        return EngineResult(OPTIMUM_PEER, "skipped", f"optimum-executorch is not installed for {python}: {SETUP_HINT}")
    try:
        prepared = prepare_optimum_export(manifest, python, Path(config.cache_dir), config.gguf)
    except (UnsupportedError, SourceError):
        raise  # fixable by the user: reported as skipped, with the fix
    except ExportError as exc:
        return EngineResult(OPTIMUM_PEER, "failed", str(exc)[:300])
    record = prepared.record
    flags = record["flags"]
    qlinear = flags[flags.index("--qlinear") + 1] if "--qlinear" in flags else "fp32"
    qembedding = flags[flags.index("--qembedding") + 1] if "--qembedding" in flags else "float"
    bundle_model = next((f for f in manifest.files if f.role == "model"), None)
    result = _measure(
        OPTIMUM_PEER,
        python,
        {**job, "engine": OPTIMUM_PEER, "model": str(prepared.folder)},
        f"their .pte: xnnpack {qlinear}, emb {qembedding}",
        prompt_len,
        env={"HF_HUB_OFFLINE": "1"},
    )
    result.extra = {
        "recipe": "optimum-cli export executorch --task text-generation " + " ".join(flags),
        "export": "exported in this run" if prepared.built_now else "cached, numbers from its first export",
        "export_s": record.get("export_s"),
        "export_peak_rss_mib": record.get("export_peak_rss_mib"),
        "pte_mib": record.get("pte_bytes", 0) / 2**20,
        "bundle_model_mib": bundle_model.size / 2**20 if bundle_model else None,
        **_bundle_export_facts(manifest),
        "versions": record.get("versions", {}),
        "folder": str(prepared.folder),
    }
    return result


def _bundle_export_facts(manifest) -> dict[str, Any]:
    """The edgekit bundle's own export time and peak RSS, as its exporter recorded them (validation.weights)."""
    weights = (manifest.validation or {}).get("weights") or {}
    stages = weights.get("stage_seconds") or {}
    return {
        "bundle_export_s": sum(stages.values()) if stages else None,
        "bundle_export_peak_rss_mib": weights.get("export_peak_rss_mib"),
    }


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    if ours is None or theirs is None or theirs == 0:
        return None
    return ours / theirs


def format_table(results: list[EngineResult]) -> str:
    """Markdown tables: absolute numbers, then edgekit ÷ peer ratios with their targets."""
    rows = [
        "| engine | weights | load ms | cold start ms | prefill ms | prefill tok/s | decode tok/s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def f(v, fmt="{:.0f}"):
        return "—" if v is None else fmt.format(v)

    for r in results:
        if r.status != "ok":
            rows.append(f"| {r.engine} | {r.status}: {r.message} | | | | | | |")
            continue
        rows.append(
            f"| {r.engine} | {r.weights} | {f(r.load_ms)} | {f(r.cold_start_ms)} | {f(r.prefill_ms)} | "
            f"{f(r.prefill_tok_s)} | {f(r.decode_tok_s, '{:.1f}')} | {f(r.peak_rss_mib)} |"
        )
    ours = next((r for r in results if r.engine == "edgekit" and r.status == "ok"), None)
    peers = {r.engine: r for r in results if r.engine != "edgekit" and r.status == "ok"}
    lines = ["\n".join(rows)]
    if ours and peers:
        ratio_rows = [
            "| edgekit vs | decode speed × | prefill time × | peak RSS × | targets |",
            "|---|---|---|---|---|",
        ]
        for name, peer in peers.items():
            checks = []
            for metric, target_peer, op, factor in TARGETS:
                if target_peer != name:
                    continue
                ratio = _ratio(getattr(ours, metric), getattr(peer, metric))
                ok = ratio is not None and (ratio >= factor if op == ">=" else ratio <= factor)
                checks.append(f"{metric.split('_')[0]} {op} {factor}× {'✓' if ok else '✗'}")
            ratio_rows.append(
                f"| {name} | {f(_ratio(ours.decode_tok_s, peer.decode_tok_s), '{:.2f}')} | "
                f"{f(_ratio(ours.prefill_ms, peer.prefill_ms), '{:.2f}')} | "
                f"{f(_ratio(ours.peak_rss_mib, peer.peak_rss_mib), '{:.2f}')} | {', '.join(checks)} |"
            )
        lines.append("\n".join(ratio_rows))
    for r in results:
        if r.engine == "optimum-executorch" and r.status == "ok" and r.extra:
            e = r.extra
            lines.append(
                f"optimum-executorch: `{e['recipe']}`; export {f(e.get('export_s'))} s, export peak RSS "
                f"{f(e.get('export_peak_rss_mib'))} MiB ({e['export']}); their .pte {f(e.get('pte_mib'), '{:.1f}')} "
                "MiB. "
                f"edgekit's bundle: .pte {f(e.get('bundle_model_mib'), '{:.1f}')} MiB, export stages "
                f"{f(e.get('bundle_export_s'))} s, export peak RSS {f(e.get('bundle_export_peak_rss_mib'))} MiB (its "
                "manifest)"
            )
    if ours:
        ok = ours.cold_start_ms is not None and ours.cold_start_ms <= COLD_START_TARGET_MS
        lines.append(
            f"cold start {f(ours.cold_start_ms)} ms (target ≤ {COLD_START_TARGET_MS:.0f} ms {'✓' if ok else '✗'})"
        )
    return "\n\n".join(lines)


def write_plot(results: list[EngineResult], path: str | Path) -> Path:
    """Bar charts of decode tok/s, prefill ms and peak RSS per engine (matplotlib, from the bench extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from edgekit.runtime.errors import DependencyError

        raise DependencyError("--plot", "bench", "matplotlib") from None
    ok = [r for r in results if r.status == "ok"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, (metric, title) in zip(
        axes,
        [
            ("decode_tok_s", "decode tok/s (higher is better)"),
            ("prefill_ms", "prefill ms (lower is better)"),
            ("peak_rss_mib", "peak RSS MiB (lower is better)"),
        ],
    ):
        names = [r.engine for r in ok]
        values = [getattr(r, metric) for r in ok]
        bars = ax.bar(names, values, color=["#2a7" if n == "edgekit" else "#888" for n in names])
        ax.bar_label(bars, fmt="%.0f")
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
