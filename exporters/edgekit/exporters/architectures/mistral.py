"""Mistral: the llama graph plus sliding-window attention on every layer.

Also home of the one place where a transformers ``sliding_window`` becomes a
GroupQueryAttention ``local_window_size`` (Qwen2/3, Phi-3 and Gemma 3 use it).
transformers' sliding mask (``masking_utils.sliding_window_overlay``) lets query
``q`` see keys ``k`` with ``q - sliding_window < k <= q``: ``sliding_window``
tokens including itself. onnxruntime's GroupQueryAttention CPU kernel keeps
the same ``local_window_size`` keys (measured: with ``sliding_window - 1`` the
logits diverge exactly at position ``sliding_window - 1``), so the two numbers
are equal; tests/architectures/test_tiny_parity.py checks the boundary with
windows shorter than the prompt, in prefill, decode and chunked prefill.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import LayerAttention
from .llama import LlamaSpec
from .registry import register_architecture

__all__ = ["MistralSpec", "gqa_local_window", "layer_sliding_window"]


def gqa_local_window(sliding_window: int | None) -> int:
    """GroupQueryAttention ``local_window_size`` for a transformers ``sliding_window`` (-1: full attention)."""
    if not sliding_window or sliding_window <= 0:
        return -1
    return int(sliding_window)


def layer_sliding_window(hf: Mapping[str, Any], layer: int) -> int | None:
    """The sliding window of ``layer`` as transformers applies it (None: full attention).

    ``layer_types`` (transformers 5: Qwen2/3, Gemma 3) names each layer
    ``sliding_attention`` or ``full_attention``; configs without it (Mistral,
    Phi-3) slide on every layer when ``sliding_window`` is set.
    """
    window = hf.get("sliding_window")
    if not window:
        return None
    types = hf.get("layer_types")
    if types:
        return int(window) if types[layer] == "sliding_attention" else None
    if hf.get("use_sliding_window") is False:
        return None
    return int(window)


@register_architecture("mistral")
class MistralSpec(LlamaSpec):
    def layer_attention(self, layer: int) -> LayerAttention:
        base = super().layer_attention(layer)
        window = layer_sliding_window(self.config.hf_config or {}, layer)
        return LayerAttention(
            local_window_size=gqa_local_window(window), rope_theta=base.rope_theta, rope_scaling=base.rope_scaling
        )
