"""Export target ``onnx``: the fused decoder graph run by onnxruntime (``edgekit.runtime`` backend ``onnx``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.runtime.progress import OnProgress

from ..architectures import ARCHITECTURES
from ..loaded_model import LoadedModel
from ..quant import REPACKABLE_TYPES
from ..recipes import QuantMethod, QuantRecipe
from ..target_options import TargetOptions, option
from ..target_registry import ExportTarget, TargetResult, register_target
from .builder import FLOAT_GGUF_TYPES, PROFILES, build_onnx

__all__ = ["OnnxTarget", "OnnxOptions"]


@dataclass(frozen=True)
class OnnxOptions(TargetOptions):
    """Options of the ``onnx`` target (``-o KEY=VALUE``)."""

    target_name = "onnx"

    profile: str = option(
        "cpu",
        choices=PROFILES,
        help="graph profile: 'web' runs every MatMulNBits with float activations, as onnxruntime-web's WASM build "
        "computes anyway (also --profile)",
    )


@register_target("onnx")
class OnnxTarget(ExportTarget):
    description = "fused ONNX decoder (GroupQueryAttention, MatMulNBits) for onnxruntime on CPU, phones and the web"
    options_type = OnnxOptions

    def supports(self, recipe: QuantRecipe, model: LoadedModel) -> str | None:
        if "onnx" not in recipe.targets:
            return f"recipe {recipe.name!r} is built by {', '.join(sorted(recipe.targets))}, not by target 'onnx'"
        if model.config.architecture not in ARCHITECTURES:
            return (
                f"architecture {model.config.architecture!r} has no ONNX graph spec "
                f"(known: {', '.join(ARCHITECTURES.names())})"
            )
        if recipe.method == QuantMethod.GGUF:
            return _gguf_refusal(recipe, model)
        return None

    def build(
        self,
        model: LoadedModel,
        recipe: QuantRecipe,
        out_dir: Path,
        max_context: int,
        options: TargetOptions | Mapping[str, Any],
        on_progress: OnProgress,
    ) -> TargetResult:
        opts = self.parse_options(options)
        assert isinstance(opts, OnnxOptions)  # parse_options returns an options_type instance
        return build_onnx(model, recipe, out_dir, max_context, profile=opts.profile, on_progress=on_progress)


def _gguf_refusal(recipe: QuantRecipe, model: LoadedModel) -> str | None:
    """Why the exact-repack recipe cannot run on this source, or None."""
    if model.gguf_tensors is None:
        return (
            f"recipe {recipe.name!r} repacks a GGUF file's quantized blocks, but source {model.source!r} is not a "
            "GGUF; "
            "pass a .gguf file or choose int4/int8/fp32"
        )
    ok = REPACKABLE_TYPES | FLOAT_GGUF_TYPES
    bad = sorted({f"{t.gguf_name} ({t.ggml_type})" for t in model.gguf_tensors.values() if t.ggml_type not in ok})
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        return (
            f"recipe {recipe.name!r} repacks only {', '.join(sorted(REPACKABLE_TYPES))} blocks exactly, "
            f"but source {model.source!r} has {shown}; choose int4 or int8 (re-quantized from the dequantized weights)"
        )
    return None
