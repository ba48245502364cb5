"""The ``executorch`` export target: LoadedModel + recipe → ``model.pte`` for the XNNPACK CPU backend.

Stages (each reported with its time through ``on_progress``; lowering the
default model takes minutes): build the decoder module, quantize,
torch.export, lower to XNNPACK, serialize. ``TargetResult.metrics`` carries
the stage times and the process's peak RSS after each stage.

The program has two methods with the same inputs: ``forward`` (logits only,
what ExecuTorch's C++ LLM runner runs) and ``forward_hidden`` (logits and the
final normed hidden state, what the edgekit runtime runs for
``Cache.last_hidden``; ``ExecuTorchSpec.hidden_method``). Both come from the
one quantized decoder; the weights are stored once.

Options: ``ExecuTorchOptions`` (``-o KEY=VALUE``, ``ExportSpec.options``), each
field with its type, default and allowed values.
"""

from __future__ import annotations

import importlib.util
import resource
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from edgekit.runtime.backends.executorch import LOGITS_ALL, LOGITS_LAST, ExecuTorchKV, ExecuTorchSpec
from edgekit.runtime.errors import ConfigError, DependencyError, UnknownNameError, UnsupportedError
from edgekit.runtime.progress import OnProgress, Steps

from ..loaded_model import LoadedModel
from ..recipes import RECIPES
from ..target_options import TargetOptions, option
from ..target_registry import ExportTarget, TargetResult, register_target

__all__ = [
    "ExecuTorchTarget",
    "ExecuTorchOptions",
    "PROGRAM_FILE",
    "HIDDEN_METHOD",
    "OPTIONS",
    "DEFAULT_MAX_SEQ_LEN",
    "require_executorch",
]

PROGRAM_FILE = "model.pte"
HIDDEN_METHOD = "forward_hidden"  # (logits, final normed hidden state); `forward` stays single-output
DEFAULT_MAX_SEQ_LEN = 512  # prompt tokens per call; bounds the planned activation arena
_REQUIRED_MODULES = ("torch", "executorch", "torchao")


def _power_of_two_from_16(value: int) -> str | None:
    # XNNPACK's group-wise int4 GEMM takes power-of-two groups (checked again against the model in quantize.py).
    if value < 16 or value & (value - 1):
        return "must be a power of two ≥ 16 (e.g. 32, 64, 128)"
    return None


@dataclass(frozen=True)
class ExecuTorchOptions(TargetOptions):
    """Options of the ``executorch`` target (``-o KEY=VALUE``). None: the recipe's or the model's default."""

    target_name = "executorch"

    group_size: int | None = option(
        help="weight group size of the 4-bit recipes (8da4w): a power of two ≥ 16",
        check=_power_of_two_from_16,
        default_text="the recipe's (32)",
    )
    embedding_bits: int | None = option(
        help="width of the token embedding (the -emb8 recipes set 8)",
        choices=(8, 32),
        default_text="the recipe's",
    )
    max_seq_len: int | None = option(
        help="longest forward call (prompt tokens per call; bounds the planned activation arena)",
        minimum=1,
        default_text=f"min({DEFAULT_MAX_SEQ_LEN}, max context)",
    )
    logits: str = option(
        LOGITS_LAST,
        choices=(LOGITS_LAST, LOGITS_ALL),
        help=f"{LOGITS_LAST!r}: the last position's logits, what ExecuTorch's C++ runner expects; {LOGITS_ALL!r}: "
        "every position's, for full teacher-forcing output in one call (a larger head matmul in every prefill)",
    )
    smooth_alpha: float | None = option(
        help="SmoothQuant strength before the int8-activation recipes (smooth.py); 0 turns it off",
        minimum=0.0,
        maximum=1.0,
        hint="use 0 (off) to 1, e.g. 0.5",
        default_text="0.5 for the 8daNw recipes",
    )


OPTIONS = ExecuTorchOptions.names()


def require_executorch(what: str = "the executorch export target") -> None:
    """Raise DependencyError naming the extra when torch / executorch / torchao are absent."""
    for name in _REQUIRED_MODULES:
        if importlib.util.find_spec(name) is None:
            raise DependencyError(what, "executorch", name)


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def _executorch_recipe_names() -> list[str]:
    return sorted(name for name, recipe in RECIPES.items() if recipe.supports_target("executorch"))


@register_target("executorch")
class ExecuTorchTarget(ExportTarget):
    description = "ExecuTorch .pte (XNNPACK): Android/iOS apps and C++ apps on boards; runtime needs torch's libraries"
    options_type = ExecuTorchOptions

    def supports(self, recipe: Any, model: LoadedModel) -> str | None:
        require_executorch()
        if not recipe.supports_target("executorch"):
            return (
                f"recipe {recipe.name!r} is for {', '.join(sorted(recipe.targets))}; the executorch target builds "
                f"{', '.join(_executorch_recipe_names())}"
            )
        return _architecture_refusal(model)

    def build(
        self,
        model: LoadedModel,
        recipe: Any,
        out_dir: Path,
        max_context: int,
        options: TargetOptions | Mapping[str, Any],
        on_progress: OnProgress,
    ) -> TargetResult:
        require_executorch()
        opts = self.parse_options(options)
        assert isinstance(opts, ExecuTorchOptions)  # parse_options returns an options_type instance
        logits_mode = opts.logits
        max_seq_len = opts.max_seq_len if opts.max_seq_len is not None else min(DEFAULT_MAX_SEQ_LEN, max_context)
        if not 1 <= max_seq_len <= max_context:
            raise ConfigError(
                f"executorch option max_seq_len={max_seq_len} must be between 1 and max_context ({max_context})"
            )

        import executorch

        from .lower import export_decoder, lower_decoder, serialize_program
        from .module import EtDecoder, HiddenStateMethod, load_custom_ops
        from .quantize import effective_quant, quantize_decoder
        from .smooth import calibration_sequences, smooth_decoder

        cfg = model.config
        steps = Steps(total=5, on_progress=on_progress)
        seconds: dict[str, float] = {}
        rss: dict[str, float] = {}
        metrics: dict[str, Any] = {}

        clock = [time.perf_counter()]

        def timed(stage_name: str, stage) -> None:
            now = time.perf_counter()
            seconds[stage_name] = stage.metrics["time_s"] = round(now - clock[0], 2)  # notes carry no seconds
            clock[0] = now
            rss[stage_name] = stage.metrics["peak_rss_mib"] = _peak_rss_mib()

        in_features = (cfg.hidden_size, cfg.num_heads * cfg.head_dim, cfg.intermediate_size)
        quant = effective_quant(recipe, opts.given(), in_features)
        load_custom_ops()

        clock[0] = time.perf_counter()
        with steps.stage("module", f"{cfg.architecture} {cfg.num_layers} layers") as stage:
            decoder = EtDecoder(cfg, model.tensors, max_context, all_logits=logits_mode == LOGITS_ALL).eval()
            stage.metrics["params_m"] = round(sum(p.numel() for p in decoder.parameters()) / 1e6, 1)
            timed("module", stage)
        smoothing: dict[str, Any] | None = None
        with steps.stage("quantize", recipe.name) as stage:
            if quant.smooth_alpha:
                # Scales come from the float decoder, so smoothing runs before any weight is quantized.
                smoothing = smooth_decoder(decoder, calibration_sequences(model, max_seq_len), quant.smooth_alpha)
                stage.metrics["smooth_alpha"] = quant.smooth_alpha
            stage.metrics.update(quantize_decoder(decoder, quant))
            timed("quantize", stage)
        quantization = {**quant.to_dict(), "smoothing": smoothing}
        with steps.stage("export", f"torch.export of 2 methods, dynamic seq len 1..{max_seq_len}") as stage:
            exported = {
                "forward": export_decoder(decoder, max_seq_len),
                HIDDEN_METHOD: export_decoder(HiddenStateMethod(decoder), max_seq_len),
            }
            del decoder
            timed("export", stage)
        constants = _constant_methods(model, max_context, max_seq_len, logits_mode)
        with steps.stage("lower", "XNNPACK partition + preprocess") as stage:
            edge = lower_decoder(exported, constants)
            del exported
            timed("lower", stage)
        with steps.stage("serialize", PROGRAM_FILE) as stage:
            data, facts = serialize_program(edge)
            del edge
            (Path(out_dir) / PROGRAM_FILE).write_bytes(data)
            stage.metrics.update(pte_mib=round(len(data) / 2**20, 1), delegate_calls=facts["delegate_calls"])
            timed("serialize", stage)

        spec = ExecuTorchSpec(
            program_file=PROGRAM_FILE,
            kv_cache=ExecuTorchKV(cfg.num_layers, cfg.num_kv_heads, cfg.head_dim, max_context),
            max_seq_len=max_seq_len,
            logits=cast(Literal["last", "all"], logits_mode),  # the option's choices are exactly these two
            quantization=quantization,
            constant_methods=constants,
            executorch_version=getattr(executorch, "__version__", "") or _dist_version("executorch"),
            hidden_method=HIDDEN_METHOD,
        )
        metrics.update(
            pte_bytes=len(data),
            stage_seconds=seconds,
            peak_rss_mib_after_stage=rss,
            export_peak_rss_mib=max(rss.values()),
            planned_activation_bytes=facts["planned_activation_bytes"],
            delegate_calls=facts["delegate_calls"],
            quantization=quantization,
        )
        return TargetResult(
            files=[(PROGRAM_FILE, "model")],
            backend="executorch",
            backend_config=spec.to_dict(),
            metrics=metrics,
        )


def _constant_methods(model: LoadedModel, max_context: int, max_seq_len: int, logits_mode: str) -> dict[str, Any]:
    """Metadata methods of the .pte; the names are the ones ExecuTorch's LLM runner reads
    (``examples/models/llama/export_llama_lib.py`` ``_load_llama_model_metadata``)."""
    cfg = model.config
    constants: dict[str, Any] = {
        "get_max_seq_len": max_seq_len,
        "get_max_context_len": max_context,
        "get_vocab_size": cfg.vocab_size,
        "get_n_layers": cfg.num_layers,
        "use_kv_cache": True,
        "use_sdpa_with_kv_cache": True,
        "enable_dynamic_shape": True,
        "get_eos_ids": list(model.tokenizer.eos_ids),
        "get_n_kv_heads": cfg.num_kv_heads,
        "get_head_dim": cfg.head_dim,
        "edgekit_full_logits": logits_mode == LOGITS_ALL,
    }
    if model.tokenizer.bos_id is not None:
        constants["get_bos_id"] = int(model.tokenizer.bos_id)
    return constants


def _architecture_refusal(model: LoadedModel) -> str | None:
    """Why the decoder cannot be built for this model (the architecture spec's own checks, shared with ONNX,
    and rope settings ``ArchitectureSpec.rope_inv_freq`` cannot express), or None."""
    from ..architectures import spec_for

    try:
        spec = spec_for(model.config)
        for layer in range(model.config.num_layers):
            spec.rope_inv_freq(spec.layer_attention(layer))
    except (UnknownNameError, UnsupportedError) as exc:
        return f"{exc}; the executorch target cannot build this model"
    return None


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return ""
