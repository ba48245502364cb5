"""The "web" ONNX graph profile: the graph onnxruntime-web (WASM) computes the way onnxruntime CPU does.

Measured with onnxruntime-web 1.30.0 (npm, WASM backend) in headless Chromium and Node against onnxruntime 1.32
(Python, x86) on one-op graphs (tests/android, android_demo/README.md "What was checked"):

- every fused contrib op of the default bundle runs in WASM: GroupQueryAttention (rotary inside, past/present of
  max_context length, or growing buffers), MatMulNBits (4 and 8 bits), GatherBlockQuantized (uint8-packed 4 bits),
  SkipSimplifiedLayerNormalization and SimplifiedLayerNormalization; outputs within 1e-5 of the CPU build;
- but the WASM build has no int8-activation kernels: MatMulNBits ``accuracy_level=4`` silently computes with float
  activations there (its output equals the CPU's ``accuracy_level=0`` output exactly), while x86 and Arm CPUs
  quantize the activations to int8. The 8-bit LM head of the gguf recipe runs at level 4 (recipes.py: no fast float
  kernel for 8-bit weights on CPU), and on SmolLM2's first answer token that is a near tie ("The" 25.33 vs "L" 25.24
  in float): the CPU answers "L'Étoile, la Marseillaise," and the browser "The capital of France is Paris.".

So the web profile keeps the graph (no second model pipeline) and only pins every MatMulNBits to float activations,
which is what the browser computes anyway: a bundle exported with ``--profile web`` gives the same greedy tokens in
the Python runtime and in the browser. (WASM has no fast kernel for block-quantized weights at any level, so the
browser's speed is bound by onnxruntime-web, not by this choice: docs/android.md has the measurements.)
"""

from __future__ import annotations

import dataclasses

from ..recipes import QuantRecipe

__all__ = ["WEB_PROFILE", "web_recipe"]

WEB_PROFILE = "web"


def web_recipe(recipe: QuantRecipe) -> QuantRecipe:
    """The recipe as the web profile builds it: every MatMulNBits at accuracy_level 0 (float activations)."""
    if recipe.accuracy_level == 0 and recipe.int8_accuracy_level == 0 and not recipe.activation_rules:
        return recipe
    return dataclasses.replace(recipe, accuracy_level=0, int8_accuracy_level=0, activation_rules=())
