"""``ArchitectureSpec``: what a graph builder needs to know about one model family.

One class per family, registered with ``@register_architecture("name")``
(optimum's one-decorated-config-class-per-architecture pattern, without its
2,900-line file). The graph builder only ever asks the spec; every way a
family departs from llama is an explicit hook below, with llama's answer as
the default:

==========================  ==============================================  ===================
hook                        what it answers                                 who overrides
==========================  ==============================================  ===================
``qkv_bias``                q/k/v projections have a bias                   Qwen2
``qk_norm``                 per-head RMSNorm on q and k before rotary       Qwen3, Gemma3
``norm_weight_offset``      stored norm weight is ``w - offset``            Gemma (+1)
``embedding_scale()``       multiply embeddings by a constant               Gemma (sqrt(hidden))
``layer_attention(i)``      sliding window and rope theta of layer i        Gemma3, Mistral
``mlp_activation``          ``silu`` or ``gelu_tanh``                       Gemma
``sandwich_norms``          extra post-attention / pre/post-FFN norms       Gemma3
``linear_weight(...)``      read q/k/v/gate/up from fused checkpoint         Phi-3 (qkv_proj,
                            tensors                                          gate_up_proj)
``gguf_row_order(...)``     llama.cpp's q/k row permutation, undone          llama family
``attention_scale()``       softmax scale                                   Gemma (query_pre_attn_scalar)
``rope_inv_freq(...)``      rope frequencies incl. scaling                  llama3 scaling, ...
``final_logit_softcap``     tanh soft cap on logits                         Gemma2
==========================  ==============================================  ===================

Weights are addressed by *role* (``q``, ``k``, ``v``, ``o``, ``gate``, ``up``,
``down``, norms), never by Hugging Face name outside the spec, so a family
with other tensor names overrides ``tensor_name`` only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
from edgekit.runtime.errors import SourceError, UnsupportedError

from ..loaded_model import GGUFTensor, ModelConfig

__all__ = ["ArchitectureSpec", "LayerAttention", "LINEAR_ROLES", "NORM_ROLES", "ModelWeights"]


class ModelWeights(Protocol):
    """What the tensor accessors read: a ``LoadedModel``, or the ExecuTorch module's bare tensor holder."""

    @property
    def name(self) -> str: ...

    @property
    def tensors(self) -> Mapping[str, Any]: ...

    @property
    def gguf_tensors(self) -> Mapping[str, GGUFTensor] | None: ...


# Linear layers of one decoder block, [out_features, in_features] like torch.
LINEAR_ROLES = ("q", "k", "v", "o", "gate", "up", "down")
# Norms of one decoder block. "pre_ffn"/"post_ffn" exist only with sandwich_norms.
NORM_ROLES = ("input", "post_attention", "pre_ffn", "post_ffn", "q_norm", "k_norm")


@dataclass(frozen=True)
class LayerAttention:
    """Per-layer attention settings (GroupQueryAttention attributes and rope cache)."""

    local_window_size: int = -1  # -1 = full attention (GroupQueryAttention's default)
    rope_theta: float = 10000.0
    rope_scaling: tuple[tuple[str, Any], ...] | None = None  # hashable rope_scaling dict, None = plain rope


class ArchitectureSpec:
    """Llama-compatible defaults; subclasses override hooks (see module docstring)."""

    family: ClassVar[str] = ""  # set by @register_architecture

    # -- static hooks ---------------------------------------------------------
    qkv_bias: ClassVar[bool] = False
    qk_norm: ClassVar[bool] = False
    norm_weight_offset: ClassVar[float] = 0.0
    mlp_activation: ClassVar[str] = "silu"  # "silu" | "gelu_tanh"
    sandwich_norms: ClassVar[bool] = False
    final_logit_softcap: ClassVar[float | None] = None
    # llama.cpp's convert script permutes q/k rows for its interleaved rope;
    # gguf-py / transformers' GGUF loader undo it (``reverse_permute``).
    gguf_permutes_qk: ClassVar[bool] = True

    # Hugging Face tensor names by role; "{i}" is the layer index.
    TENSOR_NAMES: ClassVar[Mapping[str, str]] = {
        "embed": "model.embed_tokens.weight",
        "head": "lm_head.weight",
        "final_norm": "model.norm.weight",
        "q": "model.layers.{i}.self_attn.q_proj.weight",
        "k": "model.layers.{i}.self_attn.k_proj.weight",
        "v": "model.layers.{i}.self_attn.v_proj.weight",
        "o": "model.layers.{i}.self_attn.o_proj.weight",
        "q_bias": "model.layers.{i}.self_attn.q_proj.bias",
        "k_bias": "model.layers.{i}.self_attn.k_proj.bias",
        "v_bias": "model.layers.{i}.self_attn.v_proj.bias",
        "gate": "model.layers.{i}.mlp.gate_proj.weight",
        "up": "model.layers.{i}.mlp.up_proj.weight",
        "down": "model.layers.{i}.mlp.down_proj.weight",
        "input": "model.layers.{i}.input_layernorm.weight",
        "post_attention": "model.layers.{i}.post_attention_layernorm.weight",
        "pre_ffn": "model.layers.{i}.pre_feedforward_layernorm.weight",
        "post_ffn": "model.layers.{i}.post_feedforward_layernorm.weight",
        "q_norm": "model.layers.{i}.self_attn.q_norm.weight",
        "k_norm": "model.layers.{i}.self_attn.k_norm.weight",
    }

    def __init__(self, config: ModelConfig):
        self.config = config

    # -- names and tensors ----------------------------------------------------
    def tensor_name(self, role: str, layer: int | None = None) -> str:
        return self.TENSOR_NAMES[role].format(i=layer)

    def tensor(self, model: ModelWeights, role: str, layer: int | None = None) -> np.ndarray:
        name = self.tensor_name(role, layer)
        try:
            return np.asarray(model.tensors[name], dtype=np.float32)
        except KeyError:
            raise SourceError(
                f"{self.family} model {model.name!r} has no tensor {name!r}; the checkpoint is incomplete "
                "or belongs to another architecture"
            ) from None

    def linear_weight(self, model: ModelWeights, role: str, layer: int) -> np.ndarray:
        """Float weight [out, in] of a linear role. Phi-3 overrides to slice fused tensors."""
        return self.tensor(model, role, layer)

    def linear_bias(self, model: ModelWeights, role: str, layer: int) -> np.ndarray | None:
        if role in ("q", "k", "v") and self.qkv_bias:
            return self.tensor(model, f"{role}_bias", layer)
        return None

    def norm_weight(self, model: ModelWeights, role: str, layer: int | None = None) -> np.ndarray:
        """The RMSNorm gamma as the graph multiplies it (offset applied: Gemma stores w - 1)."""
        w = self.tensor(model, role, layer)
        return w + np.float32(self.norm_weight_offset) if self.norm_weight_offset else w

    def embedding(self, model: ModelWeights) -> np.ndarray:
        return self.tensor(model, "embed")

    def head(self, model: ModelWeights) -> np.ndarray:
        """LM head [vocab, hidden]; the embedding itself when the model ties them."""
        if self.config.tie_word_embeddings:
            return self.embedding(model)
        return self.tensor(model, "head")

    def gguf_linear(self, model: ModelWeights, role: str, layer: int | None) -> GGUFTensor | None:
        """The GGUF blocks of a role, rows in Hugging Face order (None if the source has none).

        Rows are whole runs of blocks, so a row permutation is exact.
        """
        if model.gguf_tensors is None:
            return None
        name = self.tensor_name(role, layer)
        tensor = model.gguf_tensors.get(name)
        if tensor is None:
            return None
        order = self.gguf_row_order(role, tensor.shape[0])
        if order is None:
            return tensor
        return GGUFTensor(
            name=tensor.name,
            gguf_name=tensor.gguf_name,
            ggml_type=tensor.ggml_type,
            shape=tensor.shape,
            raw=np.ascontiguousarray(np.asarray(tensor.raw).reshape(tensor.shape[0], -1)[order]),
        )

    def gguf_row_order(self, role: str, rows: int) -> np.ndarray | None:
        """Index array ``order`` with ``hf_rows = gguf_rows[order]``, or None when the rows match.

        llama.cpp's ``convert_hf_to_gguf.py`` permutes q and k as
        ``w.reshape(n_head, 2, rows // n_head // 2, ...).swapaxes(1, 2)``; this is
        its inverse (transformers' ``reverse_permute`` in ``integrations/ggml.py``).
        """
        if not self.gguf_permutes_qk or role not in ("q", "k"):
            return None
        heads = self.config.num_heads if role == "q" else self.config.num_kv_heads
        half = rows // heads // 2
        return np.arange(rows).reshape(heads, half, 2).swapaxes(1, 2).reshape(-1)

    # -- numeric hooks --------------------------------------------------------
    def embedding_scale(self) -> float | None:
        """Constant the embedding output is multiplied by (None: no multiply)."""
        return None

    def attention_scale(self) -> float:
        return 1.0 / math.sqrt(self.config.head_dim)

    def layer_attention(self, layer: int) -> LayerAttention:
        scaling = self.config.rope_scaling
        return LayerAttention(
            local_window_size=-1,
            rope_theta=float(self.config.rope_theta),
            rope_scaling=tuple(sorted(scaling.items())) if scaling else None,
        )

    def rotary_dim(self) -> int:
        return self.config.head_dim

    def rope_inv_freq(self, attention: LayerAttention) -> np.ndarray:
        """Rotary inverse frequencies [rotary_dim/2] in float64 (transformers' ROPE_INIT_FUNCTIONS)."""
        dim = self.rotary_dim()
        inv_freq = 1.0 / (attention.rope_theta ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
        scaling = dict(attention.rope_scaling or ())
        kind = scaling.get("rope_type", scaling.get("type", "default"))
        if kind == "default":
            return inv_freq
        if kind == "linear":
            return inv_freq / float(scaling["factor"])
        if kind == "llama3":
            # transformers' _compute_llama3_parameters
            factor = float(scaling["factor"])
            low = float(scaling["low_freq_factor"])
            high = float(scaling["high_freq_factor"])
            old_len = float(scaling["original_max_position_embeddings"])
            low_wavelen, high_wavelen = old_len / low, old_len / high
            wavelen = 2 * math.pi / inv_freq
            scaled = np.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
            smooth = (old_len / wavelen - low) / (high - low)
            smoothed = (1 - smooth) * scaled / factor + smooth * scaled
            medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
            return np.where(medium, smoothed, scaled)
        raise UnsupportedError(
            f"{self.family}: rope_scaling type {kind!r} is not supported by edgekit's exporters "
            "(supported: default, linear, llama3)"
        )

    def rope_cache(self, attention: LayerAttention, max_context: int) -> tuple[np.ndarray, np.ndarray]:
        """cos/sin caches [max_context, rotary_dim/2] for GroupQueryAttention (do_rotary=1)."""
        inv_freq = self.rope_inv_freq(attention)
        angles = np.outer(np.arange(max_context, dtype=np.float64), inv_freq)
        return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)

    def check_supported(self) -> None:
        """Raise UnsupportedError for a config this spec cannot build (overridden by families)."""
        if self.mlp_activation not in ("silu", "gelu_tanh"):
            raise UnsupportedError(f"{self.family}: MLP activation {self.mlp_activation!r} is not supported")
        # onnxruntime 1.32's CPU GroupQueryAttention kernels need these (found by testing head sizes).
        head_dim, rotary = self.config.head_dim, self.rotary_dim()
        if head_dim % 16 or (rotary // 2) % 8:
            raise UnsupportedError(
                f"{self.family}: head_dim {head_dim} / rotary dim {rotary} cannot run in onnxruntime's "
                "GroupQueryAttention (needs head_dim % 16 == 0 and rotary_dim/2 % 8 == 0)"
            )
