"""Quantization recipes, registered by name (``--quant NAME``).

A recipe is frozen data, never a string mode (the pattern of ExecuTorch's
``quant/recipe.py``): bit width, block size, symmetry, the rounding method,
and separate widths for the embedding and the LM head (measured: the head is
where 4-bit hurts most: on SmolLM2-135M top-1 agreement fell from 0.73–0.80 to
0.67–0.72 when the head and the embedding were 4-bit too). ``targets`` says which export targets can build a
recipe; a target refuses any other with a message naming both
(``edgekit.exporters.target_registry``).

Recipes registered here (ONNX): ``fp32`` (the reference), ``int8``,
``int4`` (the best measured 4-bit method, an alias-like copy of
``int4-kquant``), ``int4-rtn``, ``int4-kquant`` and ``gguf`` (exact repack of
an already-quantized GGUF source). ExecuTorch registers its own (8da8w, 8da4w)
with ``targets={"executorch"}``. ``AUTO_CANDIDATES`` is the smallest-first
order that ``--quant auto`` tries until validation meets the quality floor.
"""

from __future__ import annotations

from dataclasses import replace

from edgekit.runtime.errors import ConfigError
from edgekit.runtime.registry import Registry

from .recipe_types import FLOAT_BITS, ActivationRule, OffsetForm, QuantMethod, QuantRecipe

__all__ = [
    "QuantMethod",
    "QuantRecipe",
    "RECIPES",
    "register_recipe",
    "get_recipe",
    "AUTO_CANDIDATES",
    "FLOAT_BITS",
    "OffsetForm",
]

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
# exporters/edgekit/exporters/quant/kquant_search.py for the numbers): the k-quant recipe under its short name.
register_recipe(
    replace(
        _INT4_KQUANT,
        name="int4",
        description="4-bit block-wise (32), best measured method (k-quant search); 8-bit embedding/head",
    )
)

_GGUF = register_recipe(
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
        # Float activations for the 4-bit layers; the Q8_0 head runs on int8 activations with its top-k refined
        # (onnx/builder.py). Measured on SmolLM2-135M Q4_1, onnxruntime 1.32, 2 threads: teacher-forced top-1
        # agreement / mean KL against the float model on the validation text's first 512 tokens and on the
        # calibration chats (1,289 tokens); decode tok/s interleaved in one process (median of 15 × 128 tokens):
        #   every layer at level 0 (this recipe)          1.000 / 1.000,  KL 0.0004 / 0.0002,  54.3 tok/s
        #   every layer at level 4 (int8 activations)     0.969 / 0.968,  KL 0.0030 / 0.0045,  62.4 tok/s
        #   level 4, q_k_v and down at 0                  0.975 / 0.977,  KL 0.0013 / 0.0017,  56.0 tok/s
        #   level 4, gate_up at 0 (gguf-fast's layers)    0.973 / 0.975,  KL 0.0019 / 0.0031,  60.7 tok/s
        # Every level-4 variant flips the golden prompt's first token, a near tie in float ("The" p=0.152 vs
        # "L" p=0.140): "What is the capital of France?" is answered "L'Étoile, la Marseillaise, ..." instead
        # of "The capital of France is Paris.". So the default stays exact; the faster one is a choice.
        accuracy_level=0,
    )
)

# The int8-activation recipes move Q4_1's block offsets into 8-bit zero points on the matmuls they run on int8
# activations (OffsetForm.ZERO_POINT, quant/offset_zero_points.py): codes exact, each block's offset within d/34,
# and none of the correction's four ops per matmul. Measured on SmolLM2-135M Q4_1, onnxruntime 1.32, 2 threads:
# agreement / mean KL over the whole validation text (3,017 positions) and over the bench's 512 tokens; decode
# tok/s and prefill ms from one `edgekit bench` run (103-token prompt, 64 tokens), gguf decoding 100.5 tok/s and
# prefilling in 170 ms in the same run:
#   every layer at level 4, offsets in zero points (gguf-fast)     0.967 / 0.971, KL 0.0024, 133.3 tok/s,  99 ms
#   level 4 with the exact correction (the former gguf-fast)       0.968 (whole text),                      101 tok/s*
#   down at level 0 exact, the rest as gguf-fast (gguf-balanced)   0.973 / 0.978, KL 0.0020, 111.7 tok/s, 106 ms
#   q_k_v at level 0 exact, the rest as gguf-fast                  0.972 / 0.961, KL 0.0017, 117.8 tok/s, 128 ms
#   layers 0, 1, 28, 29 at level 0 exact, the rest as gguf-fast   0.974 / 0.978, KL 0.0016, 120.3 tok/s, 106 ms
#   (* another run of the same bench, gguf at 86.7 there.) With the head's 4-bit search copy on top: 0.967 over
#   the whole text, KL 0.030 (gguf-fast builds the copy only where the head dominates, not on SmolLM2).
#   Only the down-at-level-0 variant keeps the golden prompt's answer
#   ("The capital of France is Paris."; the others flip its near tie to "L'Étoile, ...").
_INT8_OFFSETS = OffsetForm.ZERO_POINT.value

register_recipe(
    replace(
        _GGUF,
        name="gguf-fast",
        description="GGUF weights on int8 activations, Q4_1/Q4_K offsets in 8-bit zero points (codes exact, offsets "
        "within scale/34); where the head holds most of the weights (Gemma 3), its search on a 4-bit copy with "
        "the top 8 recomputed exactly: fastest decode "
        "(+33% on SmolLM2), agreement ~0.97 (KL ~0.025 where the copy is used); greedy answers can change at near "
        "ties; needs a GGUF source",
        # The head search pays where the head dominates decode, measured on Gemma 3 270M Q4_K_M (262k vocabulary;
        # its 6-bit head and layers repack as 8-bit) with the exact correction on the 4-bit layers, agreement / KL /
        # perplexity ratio over the whole validation text:
        #   gguf                               36.2 tok/s  0.967 / 0.0045 / 1.002   299 MB
        #   int8 activations, no search copy   38.2 tok/s  0.963 / 0.0059 / 0.997   299 MB
        #   int8 activations and search copy   46.3 tok/s  0.963 / 0.0238 / 1.033   406 MB
        # With the offsets in zero points (this recipe) Gemma 3 scores 0.959 / 0.025 / 1.049 and decodes at 91.0
        # tok/s against gguf's 72.6 in one bench run; on SmolLM2 (49k vocabulary) the search copy changes nothing
        # measurable (133.3 vs 131.4 tok/s) for KL 0.003 -> 0.03, so the copy is built only where the head holds
        # at least half the weights a token reads: Gemma 3's 0.63, not SmolLM2's 0.21 (onnx/builder.py head_share).
        accuracy_level=4,
        head_search_bits=4,
        head_search_min_share=0.5,
        int8_offsets=_INT8_OFFSETS,
    )
)

register_recipe(
    replace(
        _GGUF,
        name="gguf-balanced",
        description="GGUF weights on int8 activations with Q4_1/Q4_K offsets in 8-bit zero points, except the "
        "down projections, exact on float activations: +11% decode and -38% prefill on SmolLM2 against gguf at "
        "agreement ~0.975; needs a GGUF source",
        accuracy_level=4,
        int8_offsets=_INT8_OFFSETS,
        activation_rules=(
            # the down projection reads the widest activations (SiLU(gate)·up, K = intermediate size): on float
            # activations it keeps the golden answer and the most agreement per tok/s of the variants above
            ActivationRule("layers.*.down", 0, bits=4),
        ),
    )
)

# Smallest first; ``--quant auto`` takes the first one the target and source
# accept whose validation meets the quality floor. gguf sits after int4
# because Q4_1's correction term makes it ~6 bits/weight, but it loses nothing
# more than the source already did, so it usually passes where int4 does not.
# gguf-fast is never chosen by auto: it trades exactness for speed, which only the user can decide.
AUTO_CANDIDATES: tuple[str, ...] = ("int4", "gguf", "int8", "fp32")

# ExecuTorch's recipes (exporters/edgekit/exporters/recipes_executorch.py) register here too, so
# `--quant` choices and `auto` see them without importing torch. auto tries the 8-bit-embedding variants (the
# smallest of each width) among the recipes of their width, fp32 last; the onnx target refuses them as the
# executorch target refuses the ONNX ones. A literal tuple: either module may be imported first.
# (recipes_executorch.py holds only their definitions; registering them here keeps the import one-way.)
from .recipes_executorch import EXECUTORCH_RECIPES  # noqa: E402

for _recipe in EXECUTORCH_RECIPES:
    if _recipe.name not in RECIPES:  # importable twice (e.g. reloaded in a test) without a duplicate error
        register_recipe(_recipe)

AUTO_CANDIDATES = ("int4", "gguf", "8da4w-emb8", "int8", "8da8w-emb8", "fp32")
