"""Gemma 3 (text): sandwich norms, scaled embeddings, q/k norms, GELU-tanh, local/global layers.

Every departure from llama, with its transformers source (``models/gemma3/modeling_gemma3.py``):

- RMSNorm multiplies by ``1 + weight`` (``Gemma3RMSNorm``): ``norm_weight_offset = 1``
  (the GGUF stores ``w + 1``; transformers' GGUF loader subtracts 1 again, ``Gemma2TensorProcessor``);
- embeddings are multiplied by ``sqrt(hidden_size)`` in the weight dtype
  (``Gemma3TextScaledWordEmbedding``);
- four norms per block: input, post-attention (on the attention output, before the
  residual add), pre-feedforward, post-feedforward (``sandwich_norms``);
- ``q_norm``/``k_norm`` per head before rotary (``qk_norm``);
- MLP activation ``gelu_pytorch_tanh`` = onnxruntime's FastGelu (tanh approximation);
- softmax scale ``query_pre_attn_scalar ** -0.5``, not ``head_dim ** -0.5``;
- ``layer_types``: ``sliding_attention`` layers see the last ``sliding_window`` tokens and
  use ``rope_parameters["sliding_attention"]`` (theta 10k); ``full_attention`` layers
  (every 6th) see everything with ``rope_parameters["full_attention"]`` (theta 1M,
  linear scaling on 4B+).
llama.cpp does not permute Gemma's q/k rows (NEOX rope), so GGUF rows are in HF order.
"""

from __future__ import annotations

import math

from edgekit.runtime.errors import UnsupportedError

from .base import ArchitectureSpec, LayerAttention
from .mistral import gqa_local_window, layer_sliding_window
from .registry import register_architecture

__all__ = ["Gemma3Spec"]

_ACTIVATIONS = ("gelu_pytorch_tanh", "gelu_tanh")


@register_architecture("gemma3_text")
class Gemma3Spec(ArchitectureSpec):
    qk_norm = True
    norm_weight_offset = 1.0
    mlp_activation = "gelu_tanh"
    sandwich_norms = True
    gguf_permutes_qk = False

    @property
    def _hf(self) -> dict:
        return dict(self.config.hf_config or {})

    @property
    def final_logit_softcap(self) -> float | None:  # type: ignore[override]
        cap = self._hf.get("final_logit_softcapping")
        return float(cap) if cap else None

    def embedding_scale(self) -> float:
        return math.sqrt(self.config.hidden_size)

    def attention_scale(self) -> float:
        scalar = self._hf.get("query_pre_attn_scalar") or self.config.head_dim
        return float(scalar) ** -0.5

    def _rope_parameters(self, layer_type: str) -> dict:
        params = self._hf.get("rope_parameters") or {}
        nested = params.get(layer_type)
        if isinstance(nested, dict):
            return nested
        # transformers 4.x spelling: rope_theta / rope_local_base_freq / rope_scaling at the top level.
        if layer_type == "sliding_attention":
            return {"rope_type": "default", "rope_theta": self._hf.get("rope_local_base_freq", 10000.0)}
        scaling = dict(self._hf.get("rope_scaling") or {})
        return {**scaling, "rope_theta": self._hf.get("rope_theta", self.config.rope_theta)}

    def _layer_type(self, layer: int) -> str:
        types = self._hf.get("layer_types")
        if types:
            return types[layer]
        pattern = int(self._hf.get("sliding_window_pattern", 6))  # transformers' default layer pattern
        return "full_attention" if (layer + 1) % pattern == 0 else "sliding_attention"

    def layer_attention(self, layer: int) -> LayerAttention:
        layer_type = self._layer_type(layer)
        rope = self._rope_parameters(layer_type)
        kind = rope.get("rope_type", rope.get("type", "default"))
        scaling = tuple(sorted((k, v) for k, v in rope.items() if k != "rope_theta")) if kind != "default" else None
        hf = self._hf
        window = layer_sliding_window(
            {**hf, "layer_types": [self._layer_type(i) for i in range(self.config.num_layers)]}, layer
        )
        return LayerAttention(
            local_window_size=gqa_local_window(window), rope_theta=float(rope["rope_theta"]), rope_scaling=scaling
        )

    def check_supported(self) -> None:
        super().check_supported()
        hf = self._hf
        act = hf.get("hidden_activation") or hf.get("hidden_act") or "gelu_pytorch_tanh"
        if act not in _ACTIVATIONS:
            raise UnsupportedError(
                f"gemma3_text: hidden_activation {act!r} is not supported (expected 'gelu_pytorch_tanh')"
            )
        if hf.get("attn_logit_softcapping"):
            raise UnsupportedError(
                f"gemma3_text: attn_logit_softcapping={hf['attn_logit_softcapping']} is not supported by the graph "
                "builder "
                "(Gemma 3 checkpoints ship without it)"
            )
        if hf.get("attention_bias"):
            raise UnsupportedError("gemma3_text: attention_bias=True checkpoints are not supported")
