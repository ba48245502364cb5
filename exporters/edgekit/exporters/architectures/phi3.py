"""Phi-3 / Phi-3.5 / Phi-4-mini: the Mistral graph read from fused checkpoint tensors.

Phi-3 stores q|k|v as one ``qkv_proj`` ([q heads·hd + 2·kv heads·hd, hidden])
and gate|up as one ``gate_up_proj`` ([2·intermediate, hidden]; transformers'
``Phi3MLP`` takes ``chunk(2)``: gate first). The spec slices them back into
roles; rows are independent, so slicing a GGUF tensor's block rows is exact.
``partial_rotary_factor`` < 1 (Phi-4-mini: 0.75) rotates the first
``head_dim · factor`` dimensions only. Long-context rope (``longrope``/``su``)
is refused: its factors switch with the sequence length, which one rotary
cache cannot express.
"""

from __future__ import annotations

import numpy as np
from edgekit.runtime.errors import UnsupportedError

from ..loaded_model import GGUFTensor
from .base import ModelWeights
from .mistral import MistralSpec
from .registry import register_architecture

__all__ = ["Phi3Spec"]

_FUSED = {"q": "qkv", "k": "qkv", "v": "qkv", "gate": "gate_up", "up": "gate_up"}


@register_architecture("phi3")
class Phi3Spec(MistralSpec):
    gguf_permutes_qk = False  # llama.cpp keeps Phi-3's fused attn_qkv as is
    TENSOR_NAMES = {
        **MistralSpec.TENSOR_NAMES,
        "qkv": "model.layers.{i}.self_attn.qkv_proj.weight",
        "gate_up": "model.layers.{i}.mlp.gate_up_proj.weight",
    }

    def _rows(self, role: str) -> slice:
        c = self.config
        q, kv = c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim
        return {
            "q": slice(0, q),
            "k": slice(q, q + kv),
            "v": slice(q + kv, q + 2 * kv),
            "gate": slice(0, c.intermediate_size),
            "up": slice(c.intermediate_size, 2 * c.intermediate_size),
        }[role]

    def linear_weight(self, model: ModelWeights, role: str, layer: int) -> np.ndarray:
        fused = _FUSED.get(role)
        if fused is None:
            return super().linear_weight(model, role, layer)
        return self.tensor(model, fused, layer)[self._rows(role)]

    def gguf_linear(self, model: ModelWeights, role: str, layer: int | None) -> GGUFTensor | None:
        fused = _FUSED.get(role)
        if fused is None:
            return super().gguf_linear(model, role, layer)
        whole = super().gguf_linear(model, fused, layer)
        if whole is None:
            return None
        rows = self._rows(role)
        raw = np.asarray(whole.raw).reshape(whole.shape[0], -1)[rows]
        return GGUFTensor(
            name=self.tensor_name(role, layer),
            gguf_name=f"{whole.gguf_name}[{rows.start}:{rows.stop}]",
            ggml_type=whole.ggml_type,
            shape=(rows.stop - rows.start, whole.shape[1]),
            raw=np.ascontiguousarray(raw),
        )

    def rotary_dim(self) -> int:
        hf = self.config.hf_config or {}
        factor = (
            hf.get("partial_rotary_factor") or (hf.get("rope_parameters") or {}).get("partial_rotary_factor") or 1.0
        )
        return int(self.config.head_dim * float(factor))

    def check_supported(self) -> None:
        scaling = dict(self.config.rope_scaling or {})
        kind = scaling.get("rope_type", scaling.get("type", "default"))
        if kind in ("longrope", "su"):
            raise UnsupportedError(
                f"phi3: rope_scaling {kind!r} (128k-context Phi-3 variants) is not supported; "
                "export a 4k-context variant (e.g. Phi-3-mini-4k-instruct)"
            )
        half = self.rotary_dim() // 2
        if half % 8 or self.rotary_dim() > self.config.head_dim:
            raise UnsupportedError(
                f"phi3: partial rotary over {self.rotary_dim()} of {self.config.head_dim} head dims is not supported "
                "(onnxruntime's GroupQueryAttention needs rotary_dim / 2 to be a multiple of 8)"
            )
        super().check_supported()
