"""The recipe data types: ``QuantRecipe``, ``QuantMethod``, ``FLOAT_BITS``.

Apart from ``recipes.py`` (the registry and the ONNX recipes) so that the ExecuTorch recipe definitions
(``recipes_executorch.py``) can build ``QuantRecipe`` values without importing the registry module that
imports them: no import cycle. Import these names from ``edgekit.exporters.recipes``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from fnmatch import fnmatchcase
from typing import Any

__all__ = ["FLOAT_BITS", "QuantMethod", "QuantRecipe", "ActivationRule", "MATMUL_KINDS", "OffsetForm"]

FLOAT_BITS = 32  # "bits" of a tensor kept in float32


class QuantMethod:
    """Names of the rounding methods (``QuantRecipe.method``)."""

    NONE = "none"  # keep float32
    RTN = "rtn"  # round to nearest on the block's max (llama.cpp Q4_0/Q8_0 style, onnxruntime's default)
    KQUANT = "kquant"  # per-block scale search minimizing squared error (llama.cpp make_qx_quants)
    GGUF = "gguf"  # the source's own blocks, repacked one to one (no rounding at all)
    DYNAMIC = "dynamic"  # dynamic activation quantization (ExecuTorch 8da*w)

    ALL = frozenset({NONE, RTN, KQUANT, GGUF, DYNAMIC})


class OffsetForm(str, Enum):
    """How a GGUF block offset (Q4_1, Q4_K: ``w = d*q + m``) reaches a matmul on int8 activations
    (``QuantRecipe.int8_offsets``); matmuls on float activations always take the exact correction."""

    CORRECTION = "correction"  # exact weights, plus blocksum(x) @ correction.T: four small ops per matmul
    # 8-bit codes with the offset in the zero point, within d/34 of it (quant/offset_zero_points.py)
    ZERO_POINT = "zero-point"


# What an ``ActivationRule`` selects: every MatMulNBits of the ONNX graph is named ``layers.{i}.{kind}`` or
# ``lm_head``, kind being the projections that share one kernel (``q_k_v``, ``o``, ``gate_up``, ``down``; ``q``,
# ``k``, ``v``, ``gate``, ``up`` when a mixed-type GGUF keeps them apart).
MATMUL_KINDS = ("q_k_v", "o", "gate_up", "down")
_LEVELS = (0, 1, 2, 3, 4)  # MatMulNBits accuracy_level: 0 = float activations, 4 = int8 activations


@dataclass(frozen=True)
class ActivationRule:
    """MatMulNBits whose name matches ``pattern`` (fnmatch, e.g. ``layers.*.q_k_v``) run at ``accuracy_level``.

    ``bits``: only matmuls holding weights of that width (None: any). A level-0 rule wants it: 8-bit weights on
    float activations fall onto a slow kernel (5 ms vs 48 µs for a 1728×576 decode matmul), and a GGUF's 5- and
    6-bit blocks repack as 8-bit (Gemma 3's Q4_K_M file decoded 4× slower with an unrestricted level-0 rule).
    """

    pattern: str
    accuracy_level: int
    bits: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.pattern, str) or not self.pattern:
            raise ValueError(f"activation rule pattern must be a non-empty string, got {self.pattern!r}")
        if self.bits not in (None, 2, 4, 8):
            raise ValueError(f"activation rule {self.pattern!r}: bits={self.bits} (None, 2, 4 or 8)")
        if self.accuracy_level not in _LEVELS:
            raise ValueError(
                f"activation rule {self.pattern!r}: accuracy_level={self.accuracy_level} (MatMulNBits accepts 0-4)"
            )


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
    builder uses), 8-bit tensors always 4.

    ``activation_rules`` refine the two levels per matmul, by measured sensitivity (recipes.py): the first
    rule whose pattern matches a matmul's name (``layers.{i}.{kind}`` or ``lm_head``, see ``MATMUL_KINDS``)
    sets its level whatever its width; unmatched matmuls keep the level of their width. The rules are
    data: the manifest records them with the recipe.
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
    activation_rules: tuple[ActivationRule, ...] = ()
    # The candidate search of a quantized head on a narrower copy: the logits come from a ``head_search_bits``-bit
    # copy of the head, and the exact head recomputes the top-k of them (onnx/builder.py refine_top_k), so greedy
    # choices stay the exact head's whenever its best token is in the copy's top k. None: the head computes every
    # logit. Costs the copy's bytes on disk and in RAM; pays where the head dominates decode (a large vocabulary).
    head_search_bits: int | None = None
    # ... only where the head holds at least this share of the weights a decoded token reads (head + decoder
    # matmuls, from the model's config): the copy pays where the head dominates decode, and elsewhere only costs KL
    head_search_min_share: float = 0.0
    # GGUF sources: the form of a block offset on the matmuls this recipe runs on int8 activations (OffsetForm)
    int8_offsets: str = OffsetForm.CORRECTION.value
    extra: tuple[tuple[str, Any], ...] = field(default_factory=tuple)  # target-specific knobs, hashable

    def __post_init__(self) -> None:
        if self.method not in QuantMethod.ALL:
            raise ValueError(f"recipe {self.name!r}: unknown method {self.method!r}")
        for label, level in (
            ("accuracy_level", self.accuracy_level),
            ("int8_accuracy_level", self.int8_accuracy_level),
        ):
            if level not in _LEVELS:
                raise ValueError(f"recipe {self.name!r}: {label}={level} (MatMulNBits accepts 0-4)")
        for label, bits in (
            ("bits", self.bits),
            ("embedding_bits", self.embedding_bits),
            ("head_bits", self.head_bits),
        ):
            if bits not in (2, 4, 8, FLOAT_BITS):
                raise ValueError(f"recipe {self.name!r}: {label}={bits} (must be 2, 4, 8 or {FLOAT_BITS})")
        try:
            object.__setattr__(self, "int8_offsets", OffsetForm(self.int8_offsets).value)
        except ValueError:
            known = ", ".join(f.value for f in OffsetForm)
            raise ValueError(f"recipe {self.name!r}: int8_offsets={self.int8_offsets!r} (one of {known})") from None
        if not 0.0 <= self.head_search_min_share <= 1.0:
            raise ValueError(f"recipe {self.name!r}: head_search_min_share={self.head_search_min_share} (0 to 1)")
        if self.head_search_bits not in (None, 4):
            raise ValueError(f"recipe {self.name!r}: head_search_bits={self.head_search_bits} (must be None or 4)")
        if self.group_size < 16 or self.group_size & (self.group_size - 1):
            raise ValueError(f"recipe {self.name!r}: group_size={self.group_size} must be a power of two ≥ 16")
        if not isinstance(self.targets, frozenset):
            object.__setattr__(self, "targets", frozenset(self.targets))
        # (pattern, level) pairs are accepted too, so a manifest's recipe entry rebuilds the same rules
        rules = tuple(
            r if isinstance(r, ActivationRule) else ActivationRule(**r) if isinstance(r, dict) else ActivationRule(*r)
            for r in self.activation_rules
        )
        object.__setattr__(self, "activation_rules", rules)

    def accuracy_level_for(self, matmul: str, bits: int) -> int:
        """MatMulNBits ``accuracy_level`` of the matmul named ``matmul`` holding ``bits``-bit weights."""
        for rule in self.activation_rules:
            if fnmatchcase(matmul, rule.pattern) and rule.bits in (None, bits):
                return rule.accuracy_level
        return self.int8_accuracy_level if bits == 8 else self.accuracy_level

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
