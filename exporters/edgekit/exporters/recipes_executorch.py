"""ExecuTorch quantization recipes: int8 dynamic activations with 8- or 4-bit weights.

``8daNw`` is ExecuTorch's name (``examples/models/llama/source_transformation/
quantize.py``): activations are quantized to int8 per token at run time,
weights are stored as intN, and XNNPACK runs the linears as int8 GEMMs.
Weights of 8da8w are per output channel (XNNPACK's qc8w kernels; a
group-wise 8-bit weight has no XNNPACK kernel), 8da4w weights per group of
``group_size`` along the input (qb4w). The head is quantized like the other
linears; the token embedding stays float32 unless the recipe (or the
``embedding_bits`` option) asks for 8-bit per-row weights.

Measured on SmolLM2-135M: 8da4w degrades this already-4-bit model
(greedy text degenerates), 8da8w keeps it sensible. fp32 is the ONNX
target's float recipe, which allows this target too.

These are definitions only: ``edgekit.exporters.recipes`` registers them. They live outside the
``executorch`` package because importing anything inside it runs ``executorch/__init__`` (the target, which
imports the registry): the registry importing them from there would be an import cycle.
"""

from __future__ import annotations

from .recipe_types import FLOAT_BITS, QuantMethod, QuantRecipe

__all__ = ["EXECUTORCH_RECIPES", "DEFAULT_GROUP_SIZE", "PER_CHANNEL"]

DEFAULT_GROUP_SIZE = 32  # divides the hidden sizes of every supported family (576 = 18 x 32 for SmolLM2)
PER_CHANNEL = "per_channel"  # ``extra`` value: weight scales per output row (8da8w)

_ET = frozenset({"executorch"})


def _recipe(name: str, bits: int, embedding_bits: int, description: str) -> QuantRecipe:
    granularity = PER_CHANNEL if bits == 8 else "per_group"
    return QuantRecipe(
        name=name,
        bits=bits,
        group_size=DEFAULT_GROUP_SIZE,
        symmetric=True,
        method=QuantMethod.DYNAMIC,
        embedding_bits=embedding_bits,
        head_bits=bits,
        targets=_ET,
        description=description,
        activation_bits=8,
        extra=(("weight_granularity", granularity),),
    )


EXECUTORCH_RECIPES: tuple[QuantRecipe, ...] = (
    _recipe(
        "8da8w",
        8,
        FLOAT_BITS,
        "ExecuTorch/XNNPACK: int8 dynamic activations, int8 per-channel weights; float32 embedding",
    ),
    _recipe(
        "8da8w-emb8",
        8,
        8,
        "ExecuTorch/XNNPACK: 8da8w plus an 8-bit per-row token embedding",
    ),
    _recipe(
        "8da4w",
        4,
        FLOAT_BITS,
        f"ExecuTorch/XNNPACK: int8 dynamic activations, int4 weights in groups of {DEFAULT_GROUP_SIZE}; "
        "float32 embedding",
    ),
    _recipe(
        "8da4w-emb8",
        4,
        8,
        "ExecuTorch/XNNPACK: 8da4w plus an 8-bit per-row token embedding (smallest)",
    ),
)
