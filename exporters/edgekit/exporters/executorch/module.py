"""A decoder written for ExecuTorch: fused KV-cache update and attention, driven by the architecture spec.

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

Every way a family departs from llama comes from the same ``ArchitectureSpec``
the ONNX graph builder asks (``architectures/base.py``): q/k/v biases (Qwen2),
per-head q/k norms (Qwen3, Gemma 3), norm weight offset, embedding scale,
sandwich norms, GELU-tanh MLP and the softmax scale (Gemma 3), per-layer rope
theta and scaling (Gemma 3, llama3), fused checkpoint tensors and partial
rotary (Phi-3), and sliding-window layers (Mistral, Phi-3, Qwen2, Gemma 3's local
layers), which get an additive window mask instead of plain causal attention.

Signature (the one ExecuTorch's C++ LLM runner expects, so its text runner
can drive the same file): ``forward(tokens int64 [1, S], input_pos int64 [1])
-> logits float32 [1, vocab]`` for the last position. ``forward_with_hidden``
(exported as a second method through ``HiddenStateMethod``) also returns the
final normed hidden state, the LM head's input, for the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from ..architectures import ArchitectureSpec, LayerAttention, spec_for
from ..loaded_model import ModelConfig

__all__ = ["EtDecoder", "HiddenStateMethod", "load_custom_ops"]


def load_custom_ops() -> None:
    """Register torch.ops.llama.{update_cache, custom_sdpa} (ExecuTorch's AOT library)."""
    from executorch.extension.llm.custom_ops import custom_ops  # noqa: F401  (registers on import)


@dataclass
class _Weights:
    """What the spec's tensor accessors read (the LoadedModel fields they use)."""

    tensors: Mapping[str, Any]
    name: str = "model"
    gguf_tensors: Any = None


def _t(array: Any) -> torch.Tensor:
    if isinstance(array, torch.Tensor):
        return array.detach().to(torch.float32)
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _rope_table(
    spec: ArchitectureSpec, attention: LayerAttention, max_context: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [max_context, rotary_dim]: the ONNX graph's rope cache ([max_context, rotary_dim/2], float64
    angles) repeated for transformers' half-split layout."""
    cos, sin = spec.rope_cache(attention, max_context)
    return _t(np.concatenate([cos, cos], axis=-1)), _t(np.concatenate([sin, sin], axis=-1))


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class RMSNorm(nn.Module):
    """RMSNorm whose mean is a matmul with a constant 1/dim column.

    XNNPACK delegates ``mean.dim`` only over the two innermost dims of a 4-D
    tensor (``backends/xnnpack/partition/config/generic_node_configs.py``
    ``MeanDimConfig``), so a plain ``mean(-1)`` stays in the portable kernels
    and splits every decoder layer into several delegate calls. As a linear it
    is delegated with the rest of the block. ``weight`` is the gamma as
    multiplied (the spec applies Gemma's ``1 + w`` offset).
    """

    mean_column: torch.Tensor  # a buffer (register_buffer), declared for the type checker

    def __init__(self, weight: Any, eps: float):
        super().__init__()
        self.weight = nn.Parameter(_t(weight), requires_grad=False)
        self.eps = eps
        dim = self.weight.shape[0]
        self.register_buffer("mean_column", torch.full((1, dim), 1.0 / dim), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean_square = nn.functional.linear(x * x, self.mean_column)
        return x * torch.rsqrt(mean_square + self.eps) * self.weight


def _linear(weight: Any, bias: Any | None = None) -> nn.Linear:
    weight = _t(weight)
    out_features, in_features = weight.shape
    layer = nn.Linear(in_features, out_features, bias=bias is not None)
    layer.weight = nn.Parameter(weight, requires_grad=False)
    if bias is not None:
        layer.bias = nn.Parameter(_t(bias), requires_grad=False)
    return layer


class Attention(nn.Module):
    # Set by setattr / register_buffer below; declared for the type checker.
    q_proj: nn.Linear
    k_proj: nn.Linear
    v_proj: nn.Linear
    o_proj: nn.Linear
    k_cache: torch.Tensor
    v_cache: torch.Tensor

    def __init__(self, spec: ArchitectureSpec, w: _Weights, layer: int, max_context: int, rope: int):
        super().__init__()
        config = spec.config
        self.n_heads = config.num_heads
        self.n_kv_heads = config.num_kv_heads
        self.head_dim = config.head_dim
        self.rotary_dim = spec.rotary_dim()
        self.rope = rope  # index of this layer's rope table in the decoder
        self.scale = spec.attention_scale()
        window = spec.layer_attention(layer).local_window_size
        # A window at least as long as the cache never excludes a key: plain causal attention is the same function.
        self.window = window if 0 < window < max_context else None
        for role in ("q", "k", "v", "o"):
            setattr(self, f"{role}_proj", _linear(spec.linear_weight(w, role, layer), spec.linear_bias(w, role, layer)))
        eps = config.rms_norm_eps
        self.q_norm: RMSNorm | None = RMSNorm(spec.norm_weight(w, "q_norm", layer), eps) if spec.qk_norm else None
        self.k_norm: RMSNorm | None = RMSNorm(spec.norm_weight(w, "k_norm", layer), eps) if spec.qk_norm else None
        shape = (1, max_context, self.n_kv_heads, self.head_dim)
        # The only mutable state of the program: ExecuTorch plans these as
        # mutable buffers that live inside the loaded method.
        self.register_buffer("k_cache", torch.zeros(shape), persistent=False)
        self.register_buffer("v_cache", torch.zeros(shape), persistent=False)

    def _rotate(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        if self.rotary_dim == self.head_dim:
            return x * cos + _rotate_half(x) * sin
        # Partial rotary (Phi-4-mini): only the first rotary_dim dims turn (transformers' q_rot / q_pass).
        rot, keep = x[..., : self.rotary_dim], x[..., self.rotary_dim :]
        return torch.cat((rot * cos + _rotate_half(rot) * sin, keep), dim=-1)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, start_pos: int, mask: torch.Tensor | None
    ) -> torch.Tensor:
        bsz, seqlen, _ = x.shape
        q = self.q_proj(x).view(bsz, seqlen, self.n_heads, self.head_dim)
        k = self.k_proj(x).view(bsz, seqlen, self.n_kv_heads, self.head_dim)
        v = self.v_proj(x).view(bsz, seqlen, self.n_kv_heads, self.head_dim)
        if self.q_norm is not None and self.k_norm is not None:  # both or neither (spec.qk_norm)
            q, k = self.q_norm(q), self.k_norm(k)  # over head_dim, per head, before the rotation
        # [S, 1, D] broadcasts over heads in the [B, S, H, D] layout the custom ops use.
        q, k = self._rotate(q, cos, sin), self._rotate(k, cos, sin)
        torch.ops.llama.update_cache(k, self.k_cache, start_pos)
        torch.ops.llama.update_cache(v, self.v_cache, start_pos)
        if mask is None:
            out = torch.ops.llama.custom_sdpa(q, self.k_cache, self.v_cache, start_pos, None, 0, True, self.scale)
        else:
            out = torch.ops.llama.custom_sdpa(q, self.k_cache, self.v_cache, start_pos, mask, 0, False, self.scale)
        return self.o_proj(out.view(bsz, seqlen, self.n_heads * self.head_dim))


def _window_mask(start_pos: int, seqlen: int, max_context: int, window: int) -> torch.Tensor:
    """Additive mask [S, max_context]: the query at position p sees keys p - window < k <= p (transformers'
    sliding-window causal mask); custom_sdpa takes it instead of its causal flag, as in ExecuTorch's own export
    (``examples/models/llama/attention.py``, ring-buffer KV cache)."""
    positions = torch.arange(seqlen).unsqueeze(1) + start_pos
    keys = torch.arange(max_context).unsqueeze(0)
    allowed = (keys <= positions) & (keys > positions - window)
    return torch.where(allowed, 0.0, float("-inf")).to(torch.float32)


class MLP(nn.Module):
    def __init__(self, spec: ArchitectureSpec, w: _Weights, layer: int):
        super().__init__()
        self.gate_proj = _linear(spec.linear_weight(w, "gate", layer))
        self.up_proj = _linear(spec.linear_weight(w, "up", layer))
        self.down_proj = _linear(spec.linear_weight(w, "down", layer))
        self.gelu = spec.mlp_activation == "gelu_tanh"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.gate_proj(x)
        gate = nn.functional.gelu(gate, approximate="tanh") if self.gelu else nn.functional.silu(gate)
        return self.down_proj(gate * self.up_proj(x))


class Block(nn.Module):
    """Pre-norm block; with sandwich norms (Gemma 3) also norms on the attention and MLP outputs.

    ``ffn_layernorm`` is the norm whose output feeds gate/up (llama's ``post_attention_layernorm``, Gemma's
    ``pre_feedforward_layernorm``): the names SmoothQuant folds into (``smooth.py``).
    """

    def __init__(self, spec: ArchitectureSpec, w: _Weights, layer: int, max_context: int, rope: int):
        super().__init__()
        eps = spec.config.rms_norm_eps
        self.input_layernorm = RMSNorm(spec.norm_weight(w, "input", layer), eps)
        self.self_attn = Attention(spec, w, layer, max_context, rope)
        self.mlp = MLP(spec, w, layer)
        self.attn_out_norm: RMSNorm | None
        self.ffn_out_norm: RMSNorm | None
        if spec.sandwich_norms:
            self.attn_out_norm = RMSNorm(spec.norm_weight(w, "post_attention", layer), eps)
            self.ffn_layernorm = RMSNorm(spec.norm_weight(w, "pre_ffn", layer), eps)
            self.ffn_out_norm = RMSNorm(spec.norm_weight(w, "post_ffn", layer), eps)
        else:
            self.attn_out_norm = self.ffn_out_norm = None
            self.ffn_layernorm = RMSNorm(spec.norm_weight(w, "post_attention", layer), eps)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, start_pos: int, mask: torch.Tensor | None
    ) -> torch.Tensor:
        attn = self.self_attn(self.input_layernorm(x), cos, sin, start_pos, mask)
        h = x + (self.attn_out_norm(attn) if self.attn_out_norm is not None else attn)
        mlp = self.mlp(self.ffn_layernorm(h))
        return h + (self.ffn_out_norm(mlp) if self.ffn_out_norm is not None else mlp)


class EtDecoder(nn.Module):
    """The decoder with its KV cache; ``forward(tokens [1,S], input_pos [1]) -> logits [1, vocab]``.

    ``all_logits=True`` builds the validation variant that returns
    ``[1, S, vocab]`` (every position, for teacher forcing).
    ``forward_with_hidden`` returns ``(logits, hidden)``: the final normed hidden state of the same rows,
    ``[1, hidden]`` (``[1, S, hidden]`` with ``all_logits``).
    """

    def __init__(
        self,
        config: ModelConfig,
        tensors: Mapping[str, Any],
        max_context: int,
        all_logits: bool = False,
    ):
        super().__init__()
        spec = spec_for(config)  # UnknownNameError / UnsupportedError name the family and the fix
        w = _Weights(tensors)
        self.max_context = max_context
        self.all_logits = all_logits
        embed = _t(spec.embedding(w))
        # padding_idx stays None: torchao's embedding quantizer refuses it.
        self.embed_tokens = nn.Embedding(embed.shape[0], embed.shape[1])
        self.embed_tokens.weight = nn.Parameter(embed, requires_grad=False)
        scale = spec.embedding_scale()
        self.embedding_scale = None if scale is None else float(torch.tensor(scale, dtype=torch.float32))
        # One rope table per distinct layer setting (Gemma 3: local theta 10k, global 1M).
        attentions = [spec.layer_attention(i) for i in range(config.num_layers)]
        distinct = list(dict.fromkeys(attentions))
        for index, attention in enumerate(distinct):
            cos, sin = _rope_table(spec, attention, max_context)
            self.register_buffer(f"rope_cos_{index}", cos, persistent=False)
            self.register_buffer(f"rope_sin_{index}", sin, persistent=False)
        self.layers = nn.ModuleList(
            Block(spec, w, i, max_context, distinct.index(attentions[i])) for i in range(config.num_layers)
        )
        self.norm = RMSNorm(spec.norm_weight(w, "final_norm"), config.rms_norm_eps)
        # Per-channel factors the hidden output is multiplied by, set by SmoothQuant (smooth.py): it divides the
        # final norm's weight by scales it folds into the head, so the norm's output is no longer the model's own
        # state. None: the norm is the model's (one multiply of [rows, hidden] when set, in forward_hidden only).
        self.hidden_scale: torch.Tensor | None
        self.register_buffer("hidden_scale", None, persistent=False)
        # A separate Parameter even when tied: the head is a linear (quantized as one),
        # the embedding a gather (quantized, or not, on its own).
        self.lm_head = _linear(spec.head(w))
        self.softcap = spec.final_logit_softcap

    def forward(self, tokens: torch.Tensor, input_pos: torch.Tensor) -> torch.Tensor:
        return self.forward_with_hidden(tokens, input_pos)[0]

    def forward_with_hidden(self, tokens: torch.Tensor, input_pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seqlen = tokens.shape[1]
        start_pos = cast(int, input_pos[0].item())  # an int64 tensor: an int (a SymInt under torch.export)
        # Bounds for torch.export's symbolic start position (ExecuTorch rope.py get_freqs does the same).
        torch._check(start_pos >= 0)  # torch 2.13 deprecates _check_is_size for this
        torch._check(start_pos + seqlen <= self.max_context)
        tables: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        masks: dict[int | None, torch.Tensor] = {}  # one per distinct window, shared by its layers
        x = self.embed_tokens(tokens)
        if self.embedding_scale is not None:
            x = x * self.embedding_scale
        for layer in cast("Iterable[Block]", self.layers):
            rope = layer.self_attn.rope
            if rope not in tables:
                cos = getattr(self, f"rope_cos_{rope}").narrow(0, start_pos, seqlen).unsqueeze(1)
                sin = getattr(self, f"rope_sin_{rope}").narrow(0, start_pos, seqlen).unsqueeze(1)
                tables[rope] = (cos, sin)
            window = layer.self_attn.window
            if window is not None and window not in masks:
                masks[window] = _window_mask(start_pos, seqlen, self.max_context, window)
            x = layer(x, *tables[rope], start_pos, masks.get(window))
        if not self.all_logits:
            x = x[:, -1, :]
        hidden = self.norm(x)
        logits = self.lm_head(hidden)
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        if self.hidden_scale is not None:
            hidden = hidden * self.hidden_scale
        return logits, hidden

    def reset_cache(self) -> None:
        """Zero the KV buffers (only those: the rotary tables are constants)."""
        for layer in cast("Iterable[Block]", self.layers):
            layer.self_attn.k_cache.zero_()
            layer.self_attn.v_cache.zero_()


class HiddenStateMethod(nn.Module):
    """``forward_with_hidden`` of a decoder as a module's ``forward``, for ``torch.export`` of a second method.

    ExecuTorch's C++ text runner refuses a ``forward`` with more than one output (``TextDecoderRunner::step`` in
    ``extension/llm/runner/text_decoder_runner.cpp`` checks "More then one output returned from executing LLM"),
    so the hidden state comes from another method of the same program. Both methods are exported from the same
    parameters and lowered together, and the serialized program stores the shared weights once (ExecuTorch's
    multi-method llama export, ``examples/models/llama/export_llama_lib.py``, relies on the same deduplication).
    """

    def __init__(self, decoder: EtDecoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, tokens: torch.Tensor, input_pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decoder.forward_with_hidden(tokens, input_pos)
