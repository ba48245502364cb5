"""Run each engine in its own process on the same token ids and report one comparable row per engine setting.

Workload (fixed so runs compare): the chat-templated PROMPT below (about 128
tokens with SmolLM2's tokenizer), greedy; prefill = the prompt to its first
token (median of ``repeats`` warm runs); decode = ``decode_tokens`` greedy
tokens with eos ignored; cold start = process start to the first token
(interpreter, imports, load, first prefill); peak RSS = the worker's
``ru_maxrss``. Engines run one after another, never at the same time, each in
its default configuration plus labelled variants (engines.py). Quality
(quality.py) and the memory-bound limit (roofline.py) are measured per engine.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from edgekit.runtime.errors import DependencyError, EdgekitError, SourceError, UnsupportedError
from edgekit.runtime.progress import OnProgress, Steps

from .engines import (
    CONTROLLED_ENV,
    EDGEKIT,
    PEERS,
    BenchContext,
    Engine,
    EngineUnavailable,
    Prepared,
    Variant,
    worker_env,
)
from .peers import model_field
from .records import QUALITY_SEGMENT_TOKENS, BenchConfig, BenchReport, EngineResult, Status, StreamsResult

__all__ = ["SYSTEM", "PROMPT", "resolve_peers", "run_bench", "WORKER"]

SYSTEM = "You are a concise assistant running on a small device. Answer in plain English, in at most three sentences."
PROMPT = (
    "I am planning a weekend trip to Lyon with two friends. We like food markets, old streets and short walks, "
    "and we will arrive by train on Friday evening. Suggest a simple plan for Saturday and Sunday, say which "
    "neighbourhood we should stay in, and name one dish we should not miss. Keep it short, practical and friendly."
)
ALL = "all"
WORKER = Path(__file__).with_name("worker.py")
WORKER_TIMEOUT_S = 900.0
# An engine that cannot run here is a skipped row (the message carries the fix), not a failed one.
_SKIP_ERRORS = (EngineUnavailable, SourceError, UnsupportedError, DependencyError)


def resolve_peers(names: tuple[str, ...] | list[str]) -> tuple[Engine, ...]:
    """Registered peers by name (``all`` = every peer, in registry order); an unknown name lists the known ones."""
    if ALL in names:
        return tuple(engine for _, engine in PEERS.items())
    return tuple(PEERS.get(name) for name in dict.fromkeys(names))


class WorkerError(EdgekitError):
    """An engine's worker process failed; the message is its last line of output."""


def _run_worker(python: str, job: dict, env: dict[str, str], timeout: float = WORKER_TIMEOUT_S) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        job_path = handle.name
    job = {**job, "report_env": list(CONTROLLED_ENV), "t0": time.time()}  # cold start counts from here
    Path(job_path).write_text(json.dumps(job))
    try:
        proc = subprocess.run([python, str(WORKER), job_path], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise WorkerError(f"{job['engine']} worker did not finish within {timeout:.0f} s") from None
    finally:
        Path(job_path).unlink(missing_ok=True)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise WorkerError(lines[-1][:300] if lines else f"worker exited {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _speed_row(engine: Engine, variant: Variant, prepared: Prepared, job: dict, prompt_len: int) -> EngineResult:
    row = EngineResult(
        engine.name,
        Status.OK.value,
        weights=prepared.weights,
        variant=variant.label,
        default=variant.default,
        extra=dict(prepared.extra),
    )
    try:
        out = _run_worker(
            prepared.python,
            {
                **job,
                "engine": engine.name,
                "model": prepared.model,
                "options": dict(variant.options),
                "constraint": variant.constraint,
                "hidden_cost": variant.hidden_cost,
            },
            env={**worker_env(variant), **prepared.env},
        )
    except WorkerError as exc:
        row.status, row.message = Status.FAILED.value, str(exc)
        return row
    row.load_ms, row.cold_start_ms, row.prefill_ms = out["load_ms"], out["cold_start_ms"], out["prefill_ms"]
    row.prefill_tok_s = prompt_len / (out["prefill_ms"] / 1e3)
    row.decode_tok_s, row.peak_rss_mib = out["decode_tok_s"], out["peak_rss_mib"]
    row.first_tokens, row.env = out.get("tokens", []), out.get("env", {})
    if out.get("chose"):  # a setting the engine picked itself: say what it picked
        row.variant = f"{row.variant} → {out['chose']}"
    if "versions" in out:
        row.extra.setdefault("versions", out["versions"])
    if "build" in out:
        row.extra.setdefault("build", out["build"])
    if "constrained" in out:
        row.extra["constrained"] = out["constrained"]
    if "hidden_cost" in out:
        row.extra["hidden_cost"] = out["hidden_cost"]
    return row


class _Quality:
    """The float reference over the validation text, loaded once per bundle; scores each engine's logits."""

    def __init__(self, config: BenchConfig, manifest, steps: Steps):
        from .quality import quality_text, reference_logprobs, reference_source

        self.text = quality_text(config.bundle, manifest, config.quality_tokens, QUALITY_SEGMENT_TOKENS)
        self.source = reference_source(manifest, config.gguf)
        with steps.stage("reference", f"float reference on {self.text.tokens} tokens") as stage:
            started = time.perf_counter()
            self.path = reference_logprobs(self.source, self.text, Path(config.cache_dir))
            stage.metrics.update(seconds=round(time.perf_counter() - started, 1))
        self.reference = np.load(self.path, mmap_mode="r")

    def describe(self) -> dict[str, Any]:
        return {**self.text.to_dict(), "reference": f"float32 transformers model of {Path(self.source).name}"}

    def score(self, engine: str, variant: Variant, prepared: Prepared, threads: int) -> dict[str, Any]:
        """Run ``engine``'s worker in logits mode (``variant``'s settings) and score its rows."""
        from .quality import score

        with tempfile.TemporaryDirectory(prefix="edgekit-bench-logits-") as tmp:
            out = Path(tmp) / "logits.npy"
            _run_worker(
                prepared.python,
                {
                    "engine": engine,
                    "mode": "logits",
                    "model": prepared.model,
                    "threads": threads,
                    "options": dict(variant.options),
                    "segments": self.text.segments,
                    "out": str(out),
                },
                env={**worker_env(variant), **prepared.env},
                timeout=WORKER_TIMEOUT_S * 2,
            )
            quality = score(self.reference, np.load(out, mmap_mode="r"), self.text.segments)
        return quality.to_dict()


def run_bench(config: BenchConfig, on_progress: OnProgress | None = None) -> BenchReport:
    from edgekit.runtime import load
    from edgekit.runtime.cpu import physical_cores

    from .bytecode import compile_edgekit
    from .roofline import measure_bandwidth

    peers = resolve_peers(config.peers)  # UnknownNameError before any work
    bytecode = compile_edgekit()  # before any worker runs: cold start as a pip install has it (bytecode.py)
    threads = config.threads or physical_cores()
    engines = (EDGEKIT, *peers)
    steps = Steps(total=len(engines) + 2 + bool(config.streams), on_progress=on_progress)
    model = load(config.bundle, threads=1)  # verifies the bundle and gives the shared prompt ids
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]
    text = model.render_chat(messages) if model.chat_template else PROMPT
    prompt_ids = model.tokenizer.encode(text)
    manifest = model.manifest
    model.close()
    ctx = BenchContext(config, manifest, threads)
    job = {
        "threads": threads,
        "prompt_ids": prompt_ids,
        "decode_tokens": config.decode_tokens,
        "repeats": config.repeats,
        "mode": "speed",
    }
    report = BenchReport(
        bundle=str(config.bundle),
        model=model_field(manifest, "name") or "?",
        recipe=str(manifest.recipe.get("name", "?")),
        threads=threads,
        prompt_tokens=len(prompt_ids),
        decode_tokens=config.decode_tokens,
        results=[],
    )
    report.notes.append(bytecode.note())

    with steps.stage("bandwidth", "memory bandwidth") as stage:
        if config.roofline:
            bandwidth = measure_bandwidth(threads)
            report.bandwidth = bandwidth.to_dict()
            stage.metrics.update(gib_s=round(bandwidth.gib_per_s, 1))
    quality = None
    if config.quality:
        try:
            quality = _Quality(config, manifest, steps)
            report.quality = quality.describe()
        except EdgekitError as exc:
            report.notes.append(f"quality columns not measured: {exc}")

    for engine in engines:
        with steps.stage(engine.name, engine.summary) as stage:
            rows = _run_engine(engine, ctx, job, len(prompt_ids), quality, report)
            report.results.extend(rows)
            first = rows[0]
            stage.metrics.update(
                {"decode_tok_s": first.decode_tok_s, "prefill_ms": first.prefill_ms, "rss_mib": first.peak_rss_mib}
                if first.ok
                else {"status": first.status}
            )
    if config.streams:
        with steps.stage("streams", f"edgekit at {', '.join(map(str, config.streams))} concurrent streams") as stage:
            report.streams = _run_streams(ctx, job, config.streams)
            stage.metrics.update({f"x{r.streams}": r.aggregate_tok_s for r in report.streams if r.aggregate_tok_s})
    if report.bandwidth:
        for row in report.results:
            if row.ok and row.weight_bytes_per_token:
                limit_tok_s = report.bandwidth["bytes_per_s"] / row.weight_bytes_per_token
                row.limit_tok_s = limit_tok_s
                assert row.decode_tok_s is not None  # an ok row has its decode speed
                row.limit_share = row.decode_tok_s / limit_tok_s
    return report


def _run_streams(ctx: BenchContext, job: dict, counts: tuple[int, ...]) -> list[StreamsResult]:
    """edgekit's default configuration with N generations at once, each N in its own worker process."""
    prepared = EDGEKIT.prepare(ctx)
    variant = next(v for v in EDGEKIT.variants(ctx) if v.default)
    rows = []
    for n in counts:
        try:
            out = _run_worker(
                prepared.python,
                {**job, "mode": "streams", "streams": n, "engine": EDGEKIT.name, "model": prepared.model},
                env={**worker_env(variant), **prepared.env},
            )
        except WorkerError as exc:
            rows.append(StreamsResult(n, Status.FAILED.value, str(exc)))
            continue
        rows.append(
            StreamsResult(
                n,
                Status.OK.value,
                aggregate_tok_s=out["aggregate_tok_s"],
                wall_ms=out["wall_ms"],
                batched=out["batched"],
                batched_share=out["batched_share"],
                peak_rss_mib=out["peak_rss_mib"],
            )
        )
    return rows


def _run_engine(
    engine: Engine, ctx: BenchContext, job: dict, prompt_len: int, quality: _Quality | None, report: BenchReport
) -> list[EngineResult]:
    from .roofline import weight_bytes_per_token

    try:
        prepared = engine.prepare(ctx)
    except _SKIP_ERRORS as exc:
        return [EngineResult(engine.name, Status.SKIPPED.value, str(exc))]
    except EdgekitError as exc:
        return [EngineResult(engine.name, Status.FAILED.value, str(exc)[:300])]
    variants = engine.variants(ctx)
    rows = [_speed_row(engine, variant, prepared, job, prompt_len) for variant in variants]
    try:
        weights = weight_bytes_per_token(prepared.weights_path)
        for row in rows:
            row.weight_bytes_per_token = weights.bytes
        report.notes.append(f"{engine.name} weight bytes per token: {weights.method}")
    except (OSError, ValueError) as exc:
        report.notes.append(f"{engine.name}: weight bytes per token not estimated ({exc})")
    if quality is not None and prepared.logits and rows[0].ok:
        try:
            default = next((v for v in variants if v.default), variants[0])
            measured = quality.score(engine.name, default, prepared, ctx.threads)
        except EdgekitError as exc:
            report.notes.append(f"{engine.name}: quality not measured: {exc}")
        else:
            for variant, row in zip(variants, rows):  # settings change speed, not numerics: one run per engine
                if variant.constraint:  # a grammar does change the distribution: agreement is not its measure
                    continue
                row.top1_agreement, row.mean_kl = measured["top1_agreement"], measured["mean_kl"]
                row.quality_positions = measured["positions"]
    return rows
