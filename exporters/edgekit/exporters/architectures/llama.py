"""Llama family (Llama 2/3, SmolLM2, TinyLlama): the defaults of ``ArchitectureSpec``.

RMSNorm, rotary on the full head, SiLU-gated MLP, no biases, optional tied
embedding. GGUF files permute q/k rows (llama.cpp's interleaved rope), which
``ArchitectureSpec.gguf_row_order`` undoes.
"""

from __future__ import annotations

from edgekit.runtime.errors import UnsupportedError

from .base import ArchitectureSpec
from .registry import register_architecture


@register_architecture("llama")
class LlamaSpec(ArchitectureSpec):
    def check_supported(self) -> None:
        super().check_supported()
        hf = self.config.hf_config or {}
        if hf.get("attention_bias") or hf.get("mlp_bias"):
            raise UnsupportedError(
                f"llama: attention_bias/mlp_bias checkpoints are not supported by the llama spec "
                f"(attention_bias={hf.get('attention_bias')}, mlp_bias={hf.get('mlp_bias')})"
            )
        act = hf.get("hidden_act", "silu")
        if act != "silu":
            raise UnsupportedError(f"llama: hidden_act {act!r} is not supported (expected 'silu')")
