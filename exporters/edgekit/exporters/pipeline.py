"""``export(spec)``: model source -> target files -> manifest -> validation -> bundle folder.

One typed ``ExportSpec`` goes in (not a function with thirty keywords),
an ``ExportReport`` comes out. Stages report through
``on_progress``; nothing is printed. The bundle is written into a staging
folder next to ``out`` and renamed into place at the end (bundle_writer), so a
failure, including a missed quality gate under ``strict``, leaves nothing
behind.
"""

from __future__ import annotations

import importlib
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import ConfigError, DependencyError, QualityGateError, UnsupportedError
from edgekit.runtime.manifest import Manifest, MemoryInfo, sha256_file
from edgekit.runtime.progress import OnProgress, ProgressEvent, Steps

from .bundle_writer import BundleContents, check_destination, staging_folder, write_bundle_manifest
from .loaded_model import LoadedModel
from .target_options import TargetOptions
from .task_check import TASK_KEY, TaskCheck, TaskScore
from .validation.quality import (
    DEFAULT_MIN_AGREEMENT,
    ValidationResult,
    ValidationSettings,
    check_quality,
    validate_bundle,
)

__all__ = [
    "ExportSpec",
    "ExportReport",
    "CandidateResult",
    "export",
    "AUTO",
    "DEFAULT_MAX_CONTEXT",
    "TARGET_MODULES",
    "load_target",
    "default_recipe_name",
]

AUTO = "auto"
# Context the bundle preallocates KV for when --max-context is not given (capped at the model's own).
# 2048 keeps the default model's KV cache at 90 MiB (30 layers x 2 x 3 heads x 64 x 4 bytes per position).
DEFAULT_MAX_CONTEXT = 2048

# target name -> module that registers it on import (lazy, like the runtime's BACKEND_MODULES).
TARGET_MODULES: dict[str, str] = {
    "onnx": "edgekit.exporters.onnx",
    "executorch": "edgekit.exporters.executorch",
}
# extra that provides each target's dependencies (DependencyError names it)
_TARGET_EXTRAS = {"onnx": "export", "executorch": "executorch"}


@dataclass(frozen=True)
class ExportSpec:
    """What to export and how.

    ``quant``: a recipe name, ``"auto"`` (the smallest of ``AUTO_CANDIDATES``
    whose validation meets ``min_agreement``, default 0.95) or None (``gguf``
    for a GGUF source the target can repack exactly, else ``int8``).
    Validation always checks top-1 agreement against ``min_agreement`` (0.95
    when not given) and reports a miss; ``strict``, or giving
    ``min_agreement``, makes a miss fail the export. ``max_context`` defaults to
    min(model's, 2048).
    """

    model: str = "default"
    out: Path = Path("bundle")
    target: str = "onnx"
    quant: str | None = None
    max_context: int | None = None
    strict: bool = False
    min_agreement: float | None = None
    force: bool = False
    validate: bool = True
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    # The target's options: its TargetOptions dataclass (e.g. OnnxOptions(profile="web")), or a mapping
    # the target parses into one ({"profile": "web"}; text values are parsed by the field's type).
    options: TargetOptions | Mapping[str, Any] = field(default_factory=dict)
    # a task metric the bundle must keep (task_check.py): recorded in validation.task; under auto, a candidate
    # below its floor is passed over like one below the agreement floor
    task_check: TaskCheck | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out).expanduser())
        if self.max_context is not None and (not isinstance(self.max_context, int) or self.max_context < 1):
            raise ConfigError(f"--max-context must be a positive integer, got {self.max_context!r}")
        if self.min_agreement is not None and not 0.0 <= float(self.min_agreement) <= 1.0:
            raise ConfigError(f"--min-agreement must be between 0 and 1, got {self.min_agreement!r}")
        if not self.validate and (self.strict or self.min_agreement is not None or self.quant == AUTO):
            raise ConfigError("validation is off, but --strict, --min-agreement and --quant auto need it")
        if not self.validate and self.task_check is not None:
            raise ConfigError("validation is off, but a task check runs with it; drop --no-validate")
        if not isinstance(self.options, (TargetOptions, Mapping)):
            raise ConfigError(
                f"target options must be the target's options dataclass or a mapping, got {type(self.options).__name__}"
            )

    @property
    def quality_floor(self) -> float:
        """The agreement every export is checked against (reported always; fatal only when ``gated``)."""
        return float(self.min_agreement) if self.min_agreement is not None else DEFAULT_MIN_AGREEMENT

    @property
    def gated(self) -> bool:
        return self.strict or self.min_agreement is not None


@dataclass
class CandidateResult:
    """One recipe tried by ``--quant auto``."""

    recipe: str
    status: str  # "chosen" | "below floor" | "below task floor" | "refused"
    top1_agreement: float | None = None
    size_bytes: int | None = None
    reason: str = ""
    task_score: float | None = None


@dataclass
class ExportReport:
    bundle: Path
    manifest: Manifest
    target: str
    recipe: str
    size_bytes: int
    seconds: float
    validation: ValidationResult | None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    candidates: list[CandidateResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": str(self.bundle),
            "target": self.target,
            "recipe": self.recipe,
            "size_bytes": self.size_bytes,
            "seconds": round(self.seconds, 2),
            "stage_seconds": {k: round(v, 2) for k, v in self.stage_seconds.items()},
            "validation": self.validation.to_dict() if self.validation else None,
            "memory": asdict(self.manifest.memory),
            "candidates": [asdict(c) for c in self.candidates],
            "warnings": self.warnings,
        }


def load_target(name: str) -> Any:
    """Import the module that registers target ``name`` and return the target instance."""
    from edgekit.runtime.errors import UnknownNameError

    from .target_registry import TARGETS

    if name not in TARGETS:
        module = TARGET_MODULES.get(name)
        if module is None:
            raise UnknownNameError("export target", name, TARGET_MODULES)
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise DependencyError(f"export target {name!r}", _TARGET_EXTRAS.get(name, "export"), exc.name) from None
    return TARGETS.get(name)


def default_recipe_name(target: Any, model: LoadedModel) -> str:
    from .recipes import get_recipe

    if model.gguf_tensors is not None and "gguf" in _recipe_names():
        if target.supports(get_recipe("gguf"), model) is None:
            return "gguf"
    return "int8"


def _recipe_names() -> list[str]:
    from .recipes import RECIPES

    return RECIPES.names()


def _bundle_size(folder: Path, manifest: Manifest) -> int:
    return sum(entry.size for entry in manifest.files)


def _resolve_max_context(spec: ExportSpec, model: LoadedModel) -> int:
    model_max = model.config.max_position_embeddings
    if spec.max_context is None:
        return min(model_max, DEFAULT_MAX_CONTEXT)
    if spec.max_context > model_max:
        raise ConfigError(
            f"--max-context {spec.max_context} is above the model's maximum context of {model_max} tokens; "
            f"pass --max-context {model_max} or less"
        )
    return spec.max_context


def _forward_target_progress(steps: Steps) -> OnProgress:
    """Target-internal stages become notes of the pipeline's build stage."""

    def forward(event: ProgressEvent) -> None:
        if event.done:
            label = f"{event.name} {event.message}".strip()
            steps.note("build", label, **dict(event.metrics))

    return forward


class _BelowFloor(Exception):
    """Internal: an auto candidate missed the floor (aborts its staging folder)."""

    def __init__(self, result: ValidationResult, size: int, task: TaskScore | None = None):
        self.result = result
        self.size = size
        self.task = task  # set when it was the task metric that missed


def _source_digest(model: LoadedModel) -> str | None:
    path = Path(model.source)
    return sha256_file(path) if path.is_file() else None


@dataclass(frozen=True)
class ExportContext:
    """What every build of one export shares: the spec, the loaded source, the target and the run's bookkeeping.

    Frozen so no stage can swap a member for the next one; ``steps`` and ``timings`` are the run's mutable
    progress counter and per-stage seconds, shared on purpose by every recipe ``--quant auto`` tries.
    """

    spec: ExportSpec  # options already parsed into the target's TargetOptions
    model: LoadedModel
    target: Any  # ExportTarget
    max_context: int
    steps: Steps
    timings: dict[str, float]
    source_kind: str  # SOURCE_KINDS name the source resolved to (builtin, gguf, hf-folder, hub)
    source_sha256: str | None  # of the source file, None for a folder or hub id
    floor: float  # top-1 agreement every bundle is checked against (ExportSpec.quality_floor)
    warnings: list[str]


def _build_one(ctx: ExportContext, recipe: Any, gate: bool) -> tuple[Manifest, ValidationResult | None, int]:
    """Build, describe and validate one recipe inside a staging folder; commit when accepted."""
    spec, model, target, steps, timings = ctx.spec, ctx.model, ctx.target, ctx.steps, ctx.timings
    max_context = ctx.max_context
    with staging_folder(spec.out, spec.force) as folder:
        with steps.stage("build", f"{spec.target} {recipe.name}") as stage:
            start = time.perf_counter()
            result = target.build(
                model, recipe, folder, max_context, target.parse_options(spec.options), _forward_target_progress(steps)
            )
            timings["build"] = timings.get("build", 0.0) + time.perf_counter() - start
            for key in ("onnx_bytes", "gguf_repack_max_error"):
                if key in result.metrics:
                    stage.metrics[key] = result.metrics[key]
        with steps.stage("bundle", "tokenizer.json + edgekit.json") as stage:
            contents = BundleContents(
                model=model,
                target=spec.target,
                result=result,
                recipe=recipe.to_dict(),
                max_context=max_context,
                validation={"weights": result.metrics},
                memory={},
                source_kind=ctx.source_kind,
                source_sha256=ctx.source_sha256,
            )
            manifest = write_bundle_manifest(folder, contents)
            size = _bundle_size(folder, manifest)
            stage.metrics["size_mib"] = round(size / 2**20, 1)
            stage.metrics["files"] = len(manifest.files)
        validation = None
        if spec.validate:
            with steps.stage("validate", "teacher-forced vs float reference") as stage:
                start = time.perf_counter()
                validation = validate_bundle(folder, model, spec.validation, steps, min_agreement=ctx.floor)
                timings["validate"] = timings.get("validate", 0.0) + time.perf_counter() - start
                stage.metrics.update(
                    agreement=round(validation.top1_agreement, 4),
                    kl=validation.mean_kl,
                    ppl=round(validation.perplexity_exported, 3),
                    ppl_float=round(validation.perplexity_reference, 3),
                    rss_mib=validation.peak_rss_mib,
                )
            manifest.validation = {"weights": result.metrics, **validation.to_dict()}
            manifest.memory = MemoryInfo(
                peak_rss_mib=validation.peak_rss_mib,
                generation_peak_rss_mib=validation.generation_peak_rss_mib,
                measured_by="edgekit validation run in a child process (runtime backend, one sequence, "
                f"max_context {max_context}): peak_rss_mib over the whole run incl. {spec.validation.window}-token "
                "scoring windows; generation_peak_rss_mib after load + chat prompt + greedy decode",
            )
            manifest.write(folder)
            if validation.passed is False:
                if gate:
                    check_quality(validation, recipe.name)
                if spec.quant == AUTO:
                    raise _BelowFloor(validation, size)
        if spec.task_check is not None and validation is not None:
            with steps.stage("task", spec.task_check.name) as stage:
                task = spec.task_check.run(folder)
                stage.metrics.update(score=round(task.score, 4), floor=round(task.floor, 4), passed=task.passed)
            manifest.validation = {**manifest.validation, TASK_KEY: task.to_dict()}
            manifest.write(folder)
            if not task.passed:  # a floor the caller stated: a miss is never written as a bundle
                if spec.quant == AUTO:
                    raise _BelowFloor(validation, size, task)
                raise QualityGateError(
                    f"{recipe.name}: {task.name} {task.score:.4f} is below its floor {task.floor:.4f}; try a "
                    "larger recipe or --quant auto"
                )
    return manifest, validation, size


def export(spec: ExportSpec, on_progress: OnProgress | None = None) -> ExportReport:
    """Export ``spec.model`` into the bundle folder ``spec.out`` (see ExportSpec)."""
    from .recipes import AUTO_CANDIDATES, get_recipe
    from .sources import preflight, resolve_source

    started = time.perf_counter()
    check_destination(spec.out, spec.force)
    target = load_target(spec.target)
    spec = replace(spec, options=target.parse_options(spec.options))  # a bad option fails before any loading
    if spec.quant not in (None, AUTO):
        get_recipe(spec.quant)  # unknown names fail before any loading
    kind = preflight(spec.model).name
    auto = spec.quant == AUTO
    candidates = list(AUTO_CANDIDATES) if auto else []
    per_recipe = _stages_per_recipe(spec)
    steps = Steps(total=1 + per_recipe * (len(candidates) if auto else 1), on_progress=on_progress)
    timings: dict[str, float] = {}
    floor = spec.quality_floor
    gate = spec.gated
    warnings: list[str] = []

    with tempfile.TemporaryDirectory(prefix="edgekit-source-") as work:
        with steps.stage("load", spec.model) as stage:
            start = time.perf_counter()
            model = resolve_source(spec.model, Path(work))
            max_context = _resolve_max_context(spec, model)
            digest = _source_digest(model)
            timings["load"] = time.perf_counter() - start
            stage.metrics.update(
                model=model.name,
                arch=model.config.architecture,
                params_m=round(sum(t.size for t in model.tensors.values()) / 1e6, 1),
                layers=model.config.num_layers,
                max_context=max_context,
            )
            if model.gguf_tensors is not None:
                types = sorted({t.ggml_type for t in model.gguf_tensors.values()})
                stage.metrics["gguf_types"] = "/".join(types)

        ctx = ExportContext(
            spec=spec,
            model=model,
            target=target,
            max_context=max_context,
            steps=steps,
            timings=timings,
            source_kind=kind,
            source_sha256=digest,
            floor=floor,
            warnings=warnings,
        )
        if auto:
            report = _export_auto(ctx, candidates)
        else:
            name = spec.quant or default_recipe_name(target, model)
            recipe = get_recipe(name)
            reason = target.supports(recipe, model)
            if reason is not None:
                raise UnsupportedError(f"target {spec.target!r} cannot build recipe {name!r}: {reason}")
            manifest, validation, size = _build_one(ctx, recipe, gate)
            report = ExportReport(spec.out, manifest, spec.target, name, size, 0.0, validation)
    if report.validation is not None and report.validation.passed is False:
        warnings.append(
            f"quality below the floor: top-1 agreement {report.validation.top1_agreement:.4f} < "
            f"{report.validation.min_agreement:.4f}; the bundle was written (pass --strict to fail the export instead)"
        )
    report.warnings = warnings
    report.stage_seconds = timings
    report.seconds = time.perf_counter() - started
    return report


def _stages_per_recipe(spec: ExportSpec) -> int:
    """build + bundle, then validate, then the task check, each when asked for."""
    return 2 + spec.validate + (spec.task_check is not None)


def _export_auto(ctx: ExportContext, candidates: list[str]) -> ExportReport:
    from .recipes import get_recipe

    spec, model, target, steps, floor = ctx.spec, ctx.model, ctx.target, ctx.steps, ctx.floor

    tried: list[CandidateResult] = []
    for name in candidates:
        recipe = get_recipe(name)
        reason = target.supports(recipe, model)
        if reason is not None:
            tried.append(CandidateResult(name, "refused", reason=reason))
            steps.current += _stages_per_recipe(spec)  # keep step numbers meaningful for the skipped stages
            steps.note("auto", f"skip {name}: {reason}")
            continue
        try:
            manifest, validation, size = _build_one(ctx, recipe, gate=False)
        except _BelowFloor as miss:
            status = "below floor" if miss.task is None else "below task floor"
            score = miss.task.score if miss.task is not None else None
            tried.append(CandidateResult(name, status, miss.result.top1_agreement, miss.size, task_score=score))
            continue
        task = manifest.validation.get(TASK_KEY) or {}
        tried.append(
            CandidateResult(
                name,
                "chosen",
                validation.top1_agreement if validation else None,
                size,
                task_score=task.get(TaskScore.Key.SCORE),
            )
        )
        steps.total = steps.current  # the remaining candidates are not needed
        return ExportReport(spec.out, manifest, spec.target, name, size, 0.0, validation, candidates=tried)
    summary = ", ".join(_candidate_summary(c) for c in tried)
    task_floor = f" and {spec.task_check.name} {spec.task_check.floor:.4f}" if spec.task_check is not None else ""
    raise QualityGateError(
        f"--quant auto: no recipe reached top-1 agreement {floor:.4f}{task_floor} ({summary}); lower the floor"
    )


def _candidate_summary(c: CandidateResult) -> str:
    if c.top1_agreement is None:
        return f"{c.recipe}: refused"
    task = f", task {c.task_score:.4f}" if c.task_score is not None else ""
    return f"{c.recipe}: {c.top1_agreement:.4f}{task}"
