"""Qwen3 (dense): the Qwen2 graph without q/k/v biases and with per-head RMSNorm on q and k.

``q_norm``/``k_norm`` are plain RMSNorms over ``head_dim`` applied before
rotary (transformers ``Qwen3Attention``); GroupQueryAttention applies them
itself from its q/k norm weight inputs. ``head_dim`` is explicit (128 for
Qwen3-0.6B with hidden 1024 and 16 heads), not hidden / heads.
"""

from __future__ import annotations

from edgekit.runtime.errors import UnsupportedError

from .qwen2 import Qwen2Spec
from .registry import register_architecture

__all__ = ["Qwen3Spec"]


@register_architecture("qwen3")
class Qwen3Spec(Qwen2Spec):
    qkv_bias = False
    qk_norm = True

    def check_supported(self) -> None:
        if (self.config.hf_config or {}).get("attention_bias"):
            raise UnsupportedError(
                "qwen3: attention_bias=True checkpoints are not supported (Qwen3 ships without q/k/v biases)"
            )
        super().check_supported()
