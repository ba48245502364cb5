"""Qwen2 / Qwen2.5: the llama graph with a bias on the q, k and v projections.

Sliding-window layers (``use_sliding_window``, layers from ``max_window_layers``
on) come from the config's ``layer_types`` as transformers computes them
(``MistralSpec.layer_attention``). llama.cpp's converter does not permute
Qwen2's q/k rows (its rope is NEOX-style), so GGUF rows are already in Hugging
Face order. Qwen2 configs carry no ``attention_bias`` key (the biases are
always there), so the llama checks apply unchanged.
"""

from __future__ import annotations

from .mistral import MistralSpec
from .registry import register_architecture

__all__ = ["Qwen2Spec"]


@register_architecture("qwen2")
class Qwen2Spec(MistralSpec):
    qkv_bias = True
    gguf_permutes_qk = False
