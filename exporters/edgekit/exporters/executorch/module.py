"""A llama-family decoder written for ExecuTorch: fused KV-cache update and attention.

Built from a ``LoadedModel`` (``ModelConfig`` + float32 weights under Hugging
Face names), so it computes exactly the float reference's function. What makes
it fast on ExecuTorch is the attention: the KV cache is a mutable buffer
``[1, max_context, kv_heads, head_dim]`` updated in place by
``torch.ops.llama.update_cache`` and read by ``torch.ops.llama.custom_sdpa``
(causal from ``start_pos``, grouped-query heads handled inside the kernel),
with a dynamic sequence length so a whole prompt is one call. This is the
layout of ExecuTorch's own llama export
(``examples/models/llama/source_transformation/custom_kv_cache.py``
``CustomKVCache``, ``sdpa.py`` ``SDPACustom``, ``rope.py`` ``get_freqs``).

Signature (the one ExecuTorch's C++ LLM runner expects, so its text runner
can drive the same file): ``forward(tokens int64 [1, S], input_pos int64 [1])
-> logits float32 [1, vocab]`` for the last position.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from edgekit.runtime.errors import UnsupportedError

from ..model import ModelConfig

__all__ = ["EtDecoder", "rope_tables", "load_custom_ops", "SUPPORTED_FAMILIES"]

# Architecture families whose block is plain llama: pre-norm RMSNorm, rotary
# (half-split) attention with grouped KV heads, SwiGLU MLP. Qwen2 only adds
# q/k/v biases, which the linears below take when the weights carry them;
# Qwen3 adds an RMSNorm over each head's q and k before the rotation
# (transformers ``Qwen3Attention``: ``q_norm``/``k_norm`` on ``head_dim``).
SUPPORTED_FAMILIES = frozenset({"llama", "mistral", "qwen2", "qwen3"})


def load_custom_ops() -> None:
    """Register torch.ops.llama.{update_cache, custom_sdpa} (ExecuTorch's AOT library)."""
    from executorch.extension.llm.custom_ops import custom_ops  # noqa: F401  (registers on import)


def _inv_freq(config: ModelConfig) -> tuple[torch.Tensor, float]:
    """Rotary inverse frequencies and attention scaling, as transformers computes them."""
    scaling = dict(config.rope_scaling or {})
    rope_type = scaling.get("rope_type", scaling.get("type", "default"))
    if rope_type == "default":
        dim = config.head_dim
        inv = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
        return inv.to(torch.float32), 1.0
    # Scaled variants (llama3, yarn, ...): use transformers' own init so the numbers match the reference.
    from transformers import AutoConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    if rope_type not in ROPE_INIT_FUNCTIONS:
        raise UnsupportedError(f"rope scaling {rope_type!r} is not supported by the executorch target")
    hf = dict(config.hf_config)
    hf_config = AutoConfig.for_model(hf.pop("model_type", "llama"), **hf)
    inv, attention_scaling = ROPE_INIT_FUNCTIONS[rope_type](hf_config, "cpu")
    return inv.to(torch.float32), float(attention_scaling)


def rope_tables(config: ModelConfig, max_context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin of shape [max_context, head_dim] in transformers' half-split layout."""
    inv, attention_scaling = _inv_freq(config)
    positions = torch.arange(max_context, dtype=torch.float32)
    freqs = positions[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos() * attention_scaling, emb.sin() * attention_scaling


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class RMSNorm(nn.Module):
    """RMSNorm whose mean is a matmul with a constant 1/dim column.

    XNNPACK delegates ``mean.dim`` only over the two innermost dims of a 4-D
    tensor (``backends/xnnpack/partition/config/generic_node_configs.py``
    ``MeanDimConfig``), so a plain ``mean(-1)`` stays in the portable kernels
    and splits every decoder layer into several delegate calls. As a linear it
    is delegated with the rest of the block.
    """

    def __init__(self, weight: torch.Tensor, eps: float):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.eps = eps
        dim = weight.shape[0]
        self.register_buffer("mean_column", torch.full((1, dim), 1.0 / dim), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean_square = nn.functional.linear(x * x, self.mean_column)
        return x * torch.rsqrt(mean_square + self.eps) * self.weight


def _linear(weight: torch.Tensor, bias: torch.Tensor | None = None) -> nn.Linear:
    out_features, in_features = weight.shape
    layer = nn.Linear(in_features, out_features, bias=bias is not None)
    layer.weight = nn.Parameter(weight, requires_grad=False)
    if bias is not None:
        layer.bias = nn.Parameter(bias, requires_grad=False)
    return layer


class Attention(nn.Module):
    def __init__(self, config: ModelConfig, w: Mapping[str, torch.Tensor], prefix: str, max_context: int):
        super().__init__()
        self.n_heads = config.num_heads
        self.n_kv_heads = config.num_kv_heads
        self.head_dim = config.head_dim
        self.q_proj = _linear(w[prefix + "q_proj.weight"], w.get(prefix + "q_proj.bias"))
        self.k_proj = _linear(w[prefix + "k_proj.weight"], w.get(prefix + "k_proj.bias"))
        self.v_proj = _linear(w[prefix + "v_proj.weight"], w.get(prefix + "v_proj.bias"))
        self.o_proj = _linear(w[prefix + "o_proj.weight"], w.get(prefix + "o_proj.bias"))
        has_qk_norm = prefix + "q_norm.weight" in w
        self.q_norm = RMSNorm(w[prefix + "q_norm.weight"], config.rms_norm_eps) if has_qk_norm else None
        self.k_norm = RMSNorm(w[prefix + "k_norm.weight"], config.rms_norm_eps) if has_qk_norm else None
        shape = (1, max_context, self.n_kv_heads, self.head_dim)
        # The only mutable state of the program: ExecuTorch plans these as
        # mutable buffers that live inside the loaded method.
        self.register_buffer("k_cache", torch.zeros(shape), persistent=False)
        self.register_buffer("v_cache", torch.zeros(shape), persistent=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, start_pos: int) -> torch.Tensor:
        bsz, seqlen, _ = x.shape
        q = self.q_proj(x).view(bsz, seqlen, self.n_heads, self.head_dim)
        k = self.k_proj(x).view(bsz, seqlen, self.n_kv_heads, self.head_dim)
        v = self.v_proj(x).view(bsz, seqlen, self.n_kv_heads, self.head_dim)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)  # over head_dim, per head (Qwen3)
        # [S, 1, D] broadcasts over heads in the [B, S, H, D] layout the custom ops use.
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        torch.ops.llama.update_cache(k, self.k_cache, start_pos)
        torch.ops.llama.update_cache(v, self.v_cache, start_pos)
        out = torch.ops.llama.custom_sdpa(q, self.k_cache, self.v_cache, start_pos, None, 0, True)
        return self.o_proj(out.view(bsz, seqlen, self.n_heads * self.head_dim))


class MLP(nn.Module):
    def __init__(self, w: Mapping[str, torch.Tensor], prefix: str):
        super().__init__()
        self.gate_proj = _linear(w[prefix + "gate_proj.weight"])
        self.up_proj = _linear(w[prefix + "up_proj.weight"])
        self.down_proj = _linear(w[prefix + "down_proj.weight"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, config: ModelConfig, w: Mapping[str, torch.Tensor], layer: int, max_context: int):
        super().__init__()
        prefix = f"model.layers.{layer}."
        self.input_layernorm = RMSNorm(w[prefix + "input_layernorm.weight"], config.rms_norm_eps)
        self.self_attn = Attention(config, w, prefix + "self_attn.", max_context)
        self.post_attention_layernorm = RMSNorm(w[prefix + "post_attention_layernorm.weight"], config.rms_norm_eps)
        self.mlp = MLP(w, prefix + "mlp.")

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, start_pos: int) -> torch.Tensor:
        h = x + self.self_attn(self.input_layernorm(x), cos, sin, start_pos)
        return h + self.mlp(self.post_attention_layernorm(h))


class EtDecoder(nn.Module):
    """The decoder with its KV cache; ``forward(tokens [1,S], input_pos [1]) -> logits [1, vocab]``.

    ``all_logits=True`` builds the validation variant that returns
    ``[1, S, vocab]`` (every position, for teacher forcing).
    """

    def __init__(
        self,
        config: ModelConfig,
        tensors: Mapping[str, Any],
        max_context: int,
        all_logits: bool = False,
    ):
        super().__init__()
        if config.architecture not in SUPPORTED_FAMILIES:
            raise UnsupportedError(
                f"the executorch target builds {', '.join(sorted(SUPPORTED_FAMILIES))} decoders, "
                f"not {config.architecture!r}; export this model with --target onnx"
            )
        w = {name: _as_tensor(value) for name, value in tensors.items()}
        self.max_context = max_context
        self.all_logits = all_logits
        embed = w["model.embed_tokens.weight"]
        # padding_idx stays None: torchao's embedding quantizer refuses it (issue 4).
        self.embed_tokens = nn.Embedding(embed.shape[0], embed.shape[1])
        self.embed_tokens.weight = nn.Parameter(embed, requires_grad=False)
        self.layers = nn.ModuleList(Block(config, w, i, max_context) for i in range(config.num_layers))
        self.norm = RMSNorm(w["model.norm.weight"], config.rms_norm_eps)
        head = embed if config.tie_word_embeddings or "lm_head.weight" not in w else w["lm_head.weight"]
        # A separate Parameter even when tied: the head is a linear (quantized as one),
        # the embedding a gather (quantized, or not, on its own).
        self.lm_head = _linear(head)
        cos, sin = rope_tables(config, max_context)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, tokens: torch.Tensor, input_pos: torch.Tensor) -> torch.Tensor:
        seqlen = tokens.shape[1]
        start_pos = input_pos[0].item()
        # Bounds for torch.export's symbolic start position (ExecuTorch rope.py get_freqs does the same).
        torch._check(start_pos >= 0)  # torch 2.13 deprecates _check_is_size for this
        torch._check(start_pos + seqlen <= self.max_context)
        cos = self.rope_cos.narrow(0, start_pos, seqlen).unsqueeze(1)
        sin = self.rope_sin.narrow(0, start_pos, seqlen).unsqueeze(1)
        x = self.embed_tokens(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin, start_pos)
        if not self.all_logits:
            x = x[:, -1, :]
        return self.lm_head(self.norm(x))

    def reset_cache(self) -> None:
        """Zero the KV buffers (only those: the rotary tables are constants)."""
        for layer in self.layers:
            layer.self_attn.k_cache.zero_()
            layer.self_attn.v_cache.zero_()


def _as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().to(torch.float32)
    return torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
