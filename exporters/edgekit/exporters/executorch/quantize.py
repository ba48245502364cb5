"""Apply an ExecuTorch recipe to an ``EtDecoder`` with torchao, in place.

Linears: ``Int8DynamicActivationIntxWeightConfig`` (int8 per-token dynamic
activations; int8 per-channel or int4 group-wise weights), the config
ExecuTorch's own llama export uses for 8da4w/8da8w
(``examples/models/llama/source_transformation/quantize.py``). XNNPACK's
partitioner recognizes the resulting quantize/dequantize pattern and runs the
linears as int8 GEMMs.

Embedding: ``IntxWeightOnlyConfig`` int8 per row; ``to_executorch``'s quant
fusion turns its dequantize + gather into ``quantized_decomposed::embedding_byte``
(which is why the runtime must load ``executorch.kernels.quantized``). The
embedding must have no ``padding_idx`` (``EtDecoder`` never sets one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from edgekit.runtime.errors import ConfigError
from torch import nn

from ..recipes import FLOAT_BITS, QuantRecipe

__all__ = ["EffectiveQuant", "effective_quant", "quantize_decoder"]


@dataclass(frozen=True)
class EffectiveQuant:
    """What is actually applied: the recipe plus the target options that refine it."""

    recipe: str
    weight_bits: int  # 32 = float
    group_size: int | None  # None: per output channel
    embedding_bits: int  # 32 = float, 8 = int8 per row
    smooth_alpha: float = 0.0  # SmoothQuant migration strength applied before quantizing (0 = off; smooth.py)

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "weight_bits": self.weight_bits,
            "weight_granularity": (
                "float" if self.weight_bits == FLOAT_BITS else "per_channel" if self.group_size is None else "per_group"
            ),
            "group_size": self.group_size,
            "activation": "float32" if self.weight_bits == FLOAT_BITS else "int8 dynamic per token",
            "embedding_bits": self.embedding_bits,
            "smooth_alpha": self.smooth_alpha,
        }


def effective_quant(recipe: QuantRecipe, options: dict[str, Any], in_features: tuple[int, ...]) -> EffectiveQuant:
    """Resolve recipe + options (``group_size``, ``embedding_bits``) and check them against the model."""
    embedding_bits = int(options.get("embedding_bits", recipe.embedding_bits))
    if embedding_bits not in (8, FLOAT_BITS):
        raise ConfigError(f"executorch option embedding_bits={embedding_bits} is not supported; use 8 or {FLOAT_BITS}")
    from .smooth import DEFAULT_ALPHA, check_alpha

    smooth_alpha = check_alpha(options.get("smooth_alpha", 0.0 if recipe.is_float else DEFAULT_ALPHA))
    if recipe.is_float:
        if smooth_alpha:
            raise ConfigError(
                f"executorch option smooth_alpha only applies to the int8-activation recipes, not {recipe.name!r}; "
                "drop it"
            )
        return EffectiveQuant(recipe.name, FLOAT_BITS, None, embedding_bits)
    granularity = dict(recipe.extra).get("weight_granularity")
    group_size: int | None = None
    if granularity != "per_channel" or "group_size" in options:
        group_size = int(options.get("group_size", recipe.group_size))
        if group_size < 16 or group_size & (group_size - 1):
            raise ConfigError(
                f"executorch option group_size={group_size} must be a power of two ≥ 16 (e.g. 32, 64, 128)"
            )
        if recipe.bits == 8:
            raise ConfigError(
                f"recipe {recipe.name!r} uses per-channel 8-bit weights (XNNPACK has no group-wise 8-bit kernel); "
                "drop the group_size option or use 8da4w"
            )
        bad = sorted({n for n in in_features if n % group_size})
        if bad:
            raise ConfigError(
                f"group_size={group_size} does not divide the linear input width(s) {bad} of this model; "
                f"choose a group size that divides {min(in_features)} (e.g. 32)"
            )
    return EffectiveQuant(recipe.name, recipe.bits, group_size, embedding_bits, smooth_alpha)


def quantize_decoder(module: nn.Module, quant: EffectiveQuant) -> dict[str, Any]:
    """Quantize ``module`` in place; returns metrics for the progress line and the manifest."""
    from torchao.quantization import Int8DynamicActivationIntxWeightConfig, IntxWeightOnlyConfig, quantize_
    from torchao.quantization.granularity import PerAxis, PerGroup

    metrics: dict[str, Any] = {"linears": 0, "embedding_bits": quant.embedding_bits}
    if quant.weight_bits != FLOAT_BITS:
        granularity = PerAxis(0) if quant.group_size is None else PerGroup(quant.group_size)
        # torch.int4 exists at runtime (torch 2.13) but torch's __init__.pyi does not declare it.
        dtype = {8: torch.int8, 4: torch.int4}[quant.weight_bits]  # type: ignore[attr-defined]
        # The RMSNorm mean column is an F.linear on a buffer, not an nn.Linear: it stays float.
        linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
        quantize_(
            module,
            Int8DynamicActivationIntxWeightConfig(weight_dtype=dtype, weight_granularity=granularity),
            filter_fn=lambda m, fqn: isinstance(m, nn.Linear),
        )
        metrics["linears"] = len(linears)
    if quant.embedding_bits == 8:
        for m in module.modules():
            if isinstance(m, nn.Embedding):
                m.padding_idx = None  # torchao refuses padding_idx
        quantize_(
            module,
            IntxWeightOnlyConfig(weight_dtype=torch.int8, granularity=PerAxis(0)),
            filter_fn=lambda m, fqn: isinstance(m, nn.Embedding),
        )
    return metrics
