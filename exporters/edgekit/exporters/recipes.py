"""Quantization recipes, registered by name (``--quant NAME``).

A recipe is frozen data, never a string mode (the pattern of ExecuTorch's
``quant/recipe.py``): bit width, block size, symmetry, the rounding method,
and separate widths for the embedding and the LM head (measured: the head is
where 4-bit hurts most: on SmolLM2-135M top-1 agreement fell from 0.73–0.80 to
0.67–0.72 when the head and the embedding were 4-bit too). ``targets`` says which export targets can build a
recipe; a target refuses any other with a message naming both
(``edgekit.exporters.targets``).

Recipes registered here (ONNX): ``fp32`` (the reference), ``int8``,
``int4`` (the best measured 4-bit method, an alias-like copy of
``int4-kquant``), ``int4-rtn``, ``int4-kquant`` and ``gguf`` (exact repack of
an already-quantized GGUF source). ExecuTorch registers its own (8da8w, 8da4w)
with ``targets={"executorch"}``. ``AUTO_CANDIDATES`` is the smallest-first
order that ``--quant auto`` tries until validation meets the quality floor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from edgekit.runtime.errors import ConfigError
from edgekit.runtime.registry import Registry

__all__ = [
    "QuantMethod",
    "QuantRecipe",
    "RECIPES",
    "register_recipe",
    "get_recipe",
    "AUTO_CANDIDATES",
    "FLOAT_BITS",
]

FLOAT_BITS = 32  # "bits" of a tensor kept in float32


class QuantMethod:
    """Names of the rounding methods (``QuantRecipe.method``)."""

    NONE = "none"  # keep float32
    RTN = "rtn"  # round to nearest on the block's max (llama.cpp Q4_0/Q8_0 style, onnxruntime's default)
    KQUANT = "kquant"  # per-block scale search minimizing squared error (llama.cpp make_qx_quants)
    GGUF = "gguf"  # the source's own blocks, repacked one to one (no rounding at all)
    DYNAMIC = "dynamic"  # dynamic activation quantization (ExecuTorch 8da*w)

    ALL = frozenset({NONE, RTN, KQUANT, GGUF, DYNAMIC})


@dataclass(frozen=True)
class QuantRecipe:
    """How every weight of the model is stored.

    ``bits`` applies to the linear layers of the decoder blocks;
    ``embedding_bits`` / ``head_bits`` to the token embedding and the LM head
    (32 = float32). When the model ties embedding and head, one tensor serves
    both and it is stored at ``head_bits``. ``symmetric`` and ``method``
    apply to sub-8-bit tensors; 8-bit tensors are always symmetric
    round-to-nearest (see ``quant.quantize_weight``). ``group_size`` is the block length
    along the input dimension (MatMulNBits ``block_size``). For ``method="gguf"`` the widths
    come from the source file, and the fields here only describe what is expected.

    ``accuracy_level`` (MatMulNBits: 0 = float activations, 4 = int8
    activations) applies to 4-bit weights, ``int8_accuracy_level`` to 8-bit
    weights. Measured on onnxruntime 1.32 CPU (x86, one decode matmul
    1728×576): 4-bit 159 µs at level 0 vs 52 µs at 4; 8-bit 5 ms at level 0 (no
    fast float kernel) vs 48 µs at 4. Quality on SmolLM2 (500 tokens, top-1
    agreement with float): gguf repack 0.99 with 4-bit layers at 0 vs 0.96 at 4;
    int4 0.70–0.72 either way. Hence: int4 recipes 4 (what onnxruntime-genai's
    builder uses), gguf 0 for its 4-bit layers, 8-bit tensors always 4.
    """

    name: str
    bits: int
    group_size: int
    symmetric: bool
    method: str
    embedding_bits: int
    head_bits: int
    targets: frozenset[str]
    description: str
    accuracy_level: int = 4
    int8_accuracy_level: int = 4
    activation_bits: int | None = None  # None: weight-only; 8 for dynamic int8 activations (8da4w)
    extra: tuple[tuple[str, Any], ...] = field(default_factory=tuple)  # target-specific knobs, hashable

    def __post_init__(self) -> None:
        if self.method not in QuantMethod.ALL:
            raise ValueError(f"recipe {self.name!r}: unknown method {self.method!r}")
        for label, level in (
            ("accuracy_level", self.accuracy_level),
            ("int8_accuracy_level", self.int8_accuracy_level),
        ):
            if level not in (0, 1, 2, 3, 4):
                raise ValueError(f"recipe {self.name!r}: {label}={level} (MatMulNBits accepts 0-4)")
        for label, bits in (
            ("bits", self.bits),
            ("embedding_bits", self.embedding_bits),
            ("head_bits", self.head_bits),
        ):
            if bits not in (2, 4, 8, FLOAT_BITS):
                raise ValueError(f"recipe {self.name!r}: {label}={bits} (must be 2, 4, 8 or {FLOAT_BITS})")
        if self.group_size < 16 or self.group_size & (self.group_size - 1):
            raise ValueError(f"recipe {self.name!r}: group_size={self.group_size} must be a power of two ≥ 16")
        if not isinstance(self.targets, frozenset):
            object.__setattr__(self, "targets", frozenset(self.targets))

    @property
    def is_float(self) -> bool:
        return self.method == QuantMethod.NONE

    def supports_target(self, target: str) -> bool:
        return target in self.targets

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``recipe`` entry (JSON-safe)."""
        data = asdict(self)
        data["targets"] = sorted(self.targets)
        data["extra"] = dict(self.extra)
        return data


RECIPES: Registry[QuantRecipe] = Registry("quant recipe")


def register_recipe(recipe: QuantRecipe) -> QuantRecipe:
    """Add a recipe under its own name (raises ValueError if the name is taken)."""
    return RECIPES.add(recipe.name, recipe)


def get_recipe(name: str) -> QuantRecipe:
    """Look up a recipe; an unknown name raises UnknownNameError listing the known ones."""
    if not isinstance(name, str) or not name:
        raise ConfigError(
            f"quant recipe name must be a non-empty string, got {name!r}; choose one of {', '.join(RECIPES.names())}"
        )
    return RECIPES.get(name)


_ONNX = frozenset({"onnx"})

register_recipe(
    QuantRecipe(
        name="fp32",
        bits=FLOAT_BITS,
        group_size=32,
        symmetric=True,
        method=QuantMethod.NONE,
        embedding_bits=FLOAT_BITS,
        head_bits=FLOAT_BITS,
        targets=frozenset({"onnx", "executorch"}),
        description="float32 weights: the reference, largest and exact",
    )
)

register_recipe(
    QuantRecipe(
        name="int8",
        bits=8,
        group_size=32,
        symmetric=True,
        method=QuantMethod.RTN,
        embedding_bits=8,
        head_bits=8,
        targets=_ONNX,
        description="8-bit block-wise (32) weight-only, float activations (MatMulNBits / GatherBlockQuantized)",
    )
)

register_recipe(
    QuantRecipe(
        name="int4-rtn",
        bits=4,
        group_size=32,
        symmetric=True,
        method=QuantMethod.RTN,
        embedding_bits=8,
        head_bits=8,
        targets=_ONNX,
        description="4-bit block-wise (32) round-to-nearest (onnxruntime quantizer's default); 8-bit embedding/head",
    )
)

_INT4_KQUANT = register_recipe(
    QuantRecipe(
        name="int4-kquant",
        bits=4,
        group_size=32,
        symmetric=False,
        method=QuantMethod.KQUANT,
        embedding_bits=8,
        head_bits=8,
        targets=_ONNX,
        description="4-bit block-wise (32) with a per-block scale/zero-point search minimizing squared error "
        "(llama.cpp k-quant style); 8-bit embedding/head",
    )
)

# ``int4`` is the best 4-bit method by measurement on the default model (see
# exporters/edgekit/exporters/quant/kquant.py for the numbers): the k-quant recipe under its short name.
register_recipe(
    replace(
        _INT4_KQUANT,
        name="int4",
        description="4-bit block-wise (32), best measured method (k-quant search); 8-bit embedding/head",
    )
)

register_recipe(
    QuantRecipe(
        name="gguf",
        bits=4,
        group_size=32,
        symmetric=True,
        method=QuantMethod.GGUF,
        embedding_bits=8,
        head_bits=8,
        targets=_ONNX,
        description="exact repack of a GGUF source's Q4_0/Q4_1/Q8_0 blocks (max weight error 0); needs a GGUF source",
        accuracy_level=0,  # float activations for the 4-bit layers: agreement 0.99 vs 0.96 at level 4
    )
)

# Smallest first; ``--quant auto`` takes the first one the target and source
# accept whose validation meets the quality floor. gguf sits after int4
# because Q4_1's correction term makes it ~6 bits/weight, but it loses nothing
# more than the source already did, so it usually passes where int4 does not.
AUTO_CANDIDATES: tuple[str, ...] = ("int4", "gguf", "int8", "fp32")

# ExecuTorch's recipes (exporters/edgekit/exporters/executorch/recipes.py) register here too, so
# `--quant` choices and `auto` see them without importing torch. auto tries the 8-bit-embedding variants (the
# smallest of each width) among the recipes of their width, fp32 last; the onnx target refuses them as the
# executorch target refuses the ONNX ones. A literal tuple: either module may be imported first.
from .executorch import recipes as _executorch_recipes  # noqa: E402,F401

AUTO_CANDIDATES = ("int4", "gguf", "8da4w-emb8", "int8", "8da8w-emb8", "fp32")
