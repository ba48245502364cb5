"""The engines ``edgekit bench`` measures, as data: a registry of peers by name, each with its setting variants.

Every engine runs as its users run it: its worker process inherits the
caller's environment minus the knobs a variant controls (``CONTROLLED_ENV``),
so a default row runs the library's own defaults. Where a setting changes the
result a second, labelled row runs with it toggled: llama.cpp with
``OMP_WAIT_POLICY=PASSIVE`` (its OpenMP build decodes SmolLM2-135M Q4_1 at
125-130 tok/s by default and 33-35 tok/s passive on a quiet 2-core machine,
2 threads, measured 2026-12), edgekit with onnxruntime thread spinning
toggled (``load(..., allow_spinning=...)``; rows are labelled by the value
actually used, read from ``load``'s signature).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import EdgekitError
from edgekit.runtime.manifest import Manifest
from edgekit.runtime.registry import Registry

from .records import BenchConfig

__all__ = [
    "CONTROLLED_ENV",
    "Variant",
    "Prepared",
    "BenchContext",
    "Engine",
    "EngineUnavailable",
    "EDGEKIT",
    "PEERS",
    "worker_env",
    "SPIN_AUTO_LABEL",
]

# Environment variables a variant may set; removed from the inherited environment of every worker so that a
# default row never runs with a policy the caller's shell happened to export.
OMP_WAIT_POLICY = "OMP_WAIT_POLICY"
CONTROLLED_ENV = (OMP_WAIT_POLICY,)
ALLOW_SPINNING = "allow_spinning"


@dataclass(frozen=True)
class Variant:
    """One setting of an engine: environment for its process and options for its worker."""

    label: str  # printed in the table: the actual setting
    env: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    default: bool = True  # the engine's out-of-the-box configuration
    constraint: str | None = None  # a BENCH_CONSTRAINTS name: decode under that grammar too (constrained.py)
    hidden_cost: bool = False  # also decode without reading the hidden states, interleaved (hidden_cost.py)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "env": dict(self.env),
            "options": dict(self.options),
            "default": self.default,
            "constraint": self.constraint,
            "hidden_cost": self.hidden_cost,
        }


DEFAULT_VARIANT = Variant("default")


def worker_env(variant: Variant, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of ``variant``'s worker: ``base`` (os.environ) without the controlled knobs, plus its own."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in CONTROLLED_ENV}
    env.update(variant.env)
    return env


class EngineUnavailable(EdgekitError):
    """An engine cannot run here; the message says why and how to make it available (its row is skipped)."""


@dataclass(frozen=True)
class BenchContext:
    config: BenchConfig
    manifest: Manifest
    threads: int


@dataclass(frozen=True)
class Prepared:
    """What an engine's worker runs, and what the bench needs to read its numbers."""

    model: str  # the path the worker loads
    weights: str  # table label of the weights
    weights_path: Path  # the file or folder whose weight bytes per decoded token are estimated (roofline.py)
    python: str = sys.executable
    env: Mapping[str, str] = field(default_factory=dict)  # needed to run at all (not a tuning knob)
    logits: bool = True  # its worker returns teacher-forced logits (quality columns)
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Engine:
    name: str
    summary: str
    prepare: Callable[[BenchContext], Prepared]
    variants: Callable[[BenchContext], tuple[Variant, ...]] = lambda ctx: (DEFAULT_VARIANT,)


PEERS: Registry[Engine] = Registry("bench peer")


SPIN_AUTO_LABEL = f"{ALLOW_SPINNING}=auto (default)"


def _edgekit_variants(ctx: BenchContext) -> tuple[Variant, ...]:
    # The default row forces nothing: load() decides spinning from the CPUs' idleness (runtime/spinning.py) and
    # the worker reports what it chose; the labelled rows force each side so the table shows what it costs.
    rows = [Variant(SPIN_AUTO_LABEL)]
    if ctx.config.variants and ctx.manifest.backend == "onnx":  # an onnxruntime session option
        rows += [Variant(f"{ALLOW_SPINNING}={v}", options={ALLOW_SPINNING: v}, default=False) for v in (True, False)]
    if ctx.config.variants:  # a grammar lives above the backend: every bundle decodes under it alike
        from .constrained import BENCH_CONSTRAINTS

        for name in ctx.config.constraints:
            rows.append(Variant(BENCH_CONSTRAINTS.get(name).label, default=False, constraint=name))
        from .hidden_cost import HIDDEN_COST_LABEL

        config = ctx.manifest.backend_config
        if config.get("last_hidden") or config.get("hidden_method"):  # a bundle whose model gives the states
            rows.append(Variant(HIDDEN_COST_LABEL, default=False, hidden_cost=True))
    return tuple(rows)


def _prepare_edgekit(ctx: BenchContext) -> Prepared:
    recipe = ctx.manifest.recipe.get("name", "?")
    return Prepared(model=str(ctx.config.bundle), weights=f"bundle {recipe}", weights_path=Path(ctx.config.bundle))


EDGEKIT = Engine("edgekit", "this runtime on the bundle", _prepare_edgekit, _edgekit_variants)


def _has_module(python: str, module: str) -> bool:
    from .probe import has_module

    return has_module(python, module)


def _prepare_genai(ctx: BenchContext) -> Prepared:
    from .peers import find_gguf, prepare_genai_model, set_genai_threads

    if not _has_module(sys.executable, "onnxruntime_genai"):
        raise EngineUnavailable("onnxruntime-genai is not installed: pip install 'edgekit[bench]'")
    config = ctx.config
    if config.genai_model:
        folder = Path(config.genai_model)
    else:
        folder = prepare_genai_model(find_gguf(ctx.manifest, config.gguf), Path(config.cache_dir))
    set_genai_threads(folder, ctx.threads)
    return Prepared(model=str(folder), weights="genai builder int4", weights_path=folder)


PEERS.add(
    "onnxruntime-genai",
    Engine(
        "onnxruntime-genai",
        "onnxruntime-genai's own generator on its model builder's int4 graph of the same GGUF",
        _prepare_genai,
    ),
)


def _llamacpp_variants(ctx: BenchContext) -> tuple[Variant, ...]:
    rows = [Variant("default environment")]
    if ctx.config.variants:
        rows.append(Variant(f"{OMP_WAIT_POLICY}=PASSIVE", env={OMP_WAIT_POLICY: "PASSIVE"}, default=False))
    return tuple(rows)


def _prepare_llamacpp(ctx: BenchContext) -> Prepared:
    from .peers import find_gguf

    python = ctx.config.llamacpp_python or sys.executable
    if not _has_module(python, "llama_cpp"):
        raise EngineUnavailable(
            f"llama-cpp-python is not installed for {python}: pip install 'edgekit[bench-llamacpp]' "
            "(compiles ~15 min) or pass --llamacpp-python PATH"
        )
    gguf = find_gguf(ctx.manifest, ctx.config.gguf)
    return Prepared(model=str(gguf), weights=f"GGUF {gguf.name}", weights_path=gguf, python=python)


PEERS.add(
    "llama.cpp",
    Engine(
        "llama.cpp",
        "llama.cpp through llama-cpp-python on the bundle's source GGUF",
        _prepare_llamacpp,
        _llamacpp_variants,
    ),
)


def _prepare_executorch_runner(ctx: BenchContext) -> Prepared:
    if ctx.manifest.backend != "executorch":
        raise EngineUnavailable("needs an ExecuTorch bundle (edgekit export --target executorch)")
    if not _has_module(sys.executable, "executorch"):
        raise EngineUnavailable("executorch is not installed: pip install 'edgekit[executorch]'")
    return Prepared(
        model=str(ctx.config.bundle),
        weights="same .pte, C++ TextLLMRunner",
        weights_path=Path(ctx.config.bundle),
        logits=False,
    )


PEERS.add(
    "executorch-runner",
    Engine("executorch-runner", "ExecuTorch's C++ TextLLMRunner on the bundle's own .pte", _prepare_executorch_runner),
)


def _prepare_optimum_executorch(ctx: BenchContext) -> Prepared:
    """Their published recipe on the bundle's source model, exported and run in their own venv (optimum_et.py)."""
    from .optimum_et import SETUP_HINT, prepare_optimum_export

    manifest, config = ctx.manifest, ctx.config
    if manifest.backend != "executorch":
        raise EngineUnavailable(
            "needs an ExecuTorch bundle (edgekit export --target executorch) "
            "to compare with optimum-executorch's recipe"
        )
    python = config.optimum_executorch_python or sys.executable
    if shutil.which(python) is None:
        raise EngineUnavailable(f"--optimum-executorch-python {python!r} is not an executable: {SETUP_HINT}")
    if not _has_module(python, "optimum.executorch"):
        raise EngineUnavailable(f"optimum-executorch is not installed for {python}: {SETUP_HINT}")
    prepared = prepare_optimum_export(manifest, python, Path(config.cache_dir), config.gguf)  # ExportError: failed row
    record = prepared.record
    flags = record["flags"]
    qlinear = flags[flags.index("--qlinear") + 1] if "--qlinear" in flags else "fp32"
    qembedding = flags[flags.index("--qembedding") + 1] if "--qembedding" in flags else "float"
    bundle_model = next((f for f in manifest.files if f.role == "model"), None)
    extra = {
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
    return Prepared(
        model=str(prepared.folder),
        weights=f"their .pte: xnnpack {qlinear}, emb {qembedding}",
        weights_path=prepared.folder / "model.pte",
        python=python,
        env={"HF_HUB_OFFLINE": "1"},
        logits=False,
        extra=extra,
    )


def _bundle_export_facts(manifest: Manifest) -> dict[str, Any]:
    """The edgekit bundle's own export time and peak RSS, as its exporter recorded them (validation.weights)."""
    weights = (manifest.validation or {}).get("weights") or {}
    stages = weights.get("stage_seconds") or {}
    return {
        "bundle_export_s": sum(stages.values()) if stages else None,
        "bundle_export_peak_rss_mib": weights.get("export_peak_rss_mib"),
    }


PEERS.add(
    "optimum-executorch",
    Engine(
        "optimum-executorch",
        "Hugging Face optimum-executorch's recipe for the same source model, in its own venv",
        _prepare_optimum_executorch,
    ),
)
