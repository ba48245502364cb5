"""SmoothQuant for the ExecuTorch recipes: move activation outliers into the weights before 8daNw.

XNNPACK runs the 8daNw linears with int8 activations quantized per token
(one scale per row, ``qd8``), so a few outlier channels set the scale of the
whole row and the other channels lose most of their 256 levels. SmoothQuant
(Xiao et al. 2023, arXiv:2211.10438, eq. 4) divides each input channel ``j``
of a linear by ``s_j = max|X_j|^α / max|W_j|^(1-α)`` and multiplies the
weight's column ``j`` by the same ``s_j``; the division is folded into the op
that produces the activation, so the float function is unchanged and no
extra op runs on the device. α = 0.5 is the paper's default and the best of
0.4 / 0.5 / 0.6 measured here.

Where the division folds (every pair is exact in float):
- ``input_layernorm`` weight → ``q/k/v_proj`` columns;
- the norm that feeds the MLP (``ffn_layernorm``: llama's post-attention norm,
  Gemma's pre-feedforward norm) → ``gate/up_proj`` columns;
- ``v_proj`` rows → ``o_proj`` columns (attention is linear in V; with
  grouped KV heads one scale per KV channel, shared by the query heads that
  read it);
- ``up_proj`` rows → ``down_proj`` columns (SwiGLU is linear in ``up``);
- the final ``norm`` weight → ``lm_head`` columns (the head is its own
  Parameter in ``EtDecoder``, so the tied embedding is untouched); the
  decoder's hidden-state output multiplies the scales back
  (``EtDecoder.hidden_scale``), so it stays the model's final normed state.

Statistics come from ``data/calibration_chats.json`` (chat-templated
conversations + prose, kept apart from the validation text) run through the
float decoder. Measured on SmolLM2-135M-Instruct in eager torchao, 1,024
held-out validation tokens: 8da8w mean KL 0.0178 → 0.0087, top-1 agreement
0.914 → 0.935; 8da4w agreement 0.545 → 0.615.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from edgekit.runtime.errors import ConfigError
from torch import nn

from ..loaded_model import LoadedModel

if TYPE_CHECKING:
    from .module import Block, EtDecoder

__all__ = ["CALIBRATION_FILE", "DEFAULT_ALPHA", "calibration_sequences", "smooth_decoder", "check_alpha"]

CALIBRATION_FILE = Path(__file__).resolve().parent.parent / "data" / "calibration_chats.json"
DEFAULT_ALPHA = 0.5  # SmoothQuant's migration strength (paper §4.2); 0 turns smoothing off here
_FLOOR = 1e-5  # dead channels (max 0) keep scale ~1 instead of dividing by zero


def check_alpha(value: Any) -> float:
    try:
        alpha = float(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"executorch option smooth_alpha={value!r} is not a number; use 0 (off) to 1, e.g. 0.5"
        ) from None
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"executorch option smooth_alpha={alpha} is outside 0..1; use 0 (off) to 1, e.g. 0.5")
    return alpha


def calibration_sequences(model: LoadedModel, max_tokens: int) -> list[list[int]]:
    """Token ids of the calibration conversations (rendered with the model's chat template) and prose."""
    from tokenizers import Tokenizer

    from ..validation.quality import chat_template_for, encode_for_model

    data = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    info = model.tokenizer
    tokenizer = Tokenizer.from_file(str(info.tokenizer_json))
    template = chat_template_for(tokenizer, info.chat_template, info.bos_id, info.eos_ids)
    if template is not None:
        texts = [template.render(chat, add_generation_prompt=False) for chat in data["conversations"]]
    else:
        texts = ["\n".join(m["content"] for m in chat) for chat in data["conversations"]]
    texts += data["prose"]
    sequences = [encode_for_model(tokenizer, text, info.add_bos, info.bos_id)[:max_tokens] for text in texts]
    return [ids for ids in sequences if ids]


@contextmanager
def _native_stderr_silenced():
    """ExecuTorch's eager custom ops log "No temp allocator provided" on every call
    (``kernel_runtime_context.h``) straight to file descriptor 2: hundreds of lines per calibration."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@torch.no_grad()
def _input_absmax(decoder: EtDecoder, sequences: list[list[int]]) -> dict[str, torch.Tensor]:
    """Per input channel max |x| of every nn.Linear, over all calibration positions."""
    stats: dict[str, torch.Tensor] = {}

    def hook_for(name: str) -> Any:
        def hook(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            x = args[0].detach().abs().reshape(-1, args[0].shape[-1]).amax(0)
            stats[name] = torch.maximum(stats[name], x) if name in stats else x

        return hook

    hooks = [m.register_forward_pre_hook(hook_for(n)) for n, m in decoder.named_modules() if isinstance(m, nn.Linear)]
    keep_all = decoder.all_logits
    decoder.all_logits = True  # the head sees every position, not only the last
    try:
        with _native_stderr_silenced():
            for ids in sequences:
                decoder.reset_cache()
                decoder(torch.tensor([ids], dtype=torch.long), torch.zeros(1, dtype=torch.long))
    finally:
        decoder.all_logits = keep_all
        decoder.reset_cache()
        for h in hooks:
            h.remove()
    return stats


def _scales(act: torch.Tensor, weights: list[torch.Tensor], alpha: float) -> torch.Tensor:
    w_max = torch.cat([w.abs() for w in weights], 0).amax(0)
    return (act.clamp(min=_FLOOR) ** alpha / w_max.clamp(min=_FLOOR) ** (1 - alpha)).clamp(min=_FLOOR)


def _set(module: nn.Module, name: str, value: torch.Tensor) -> None:
    # New Parameters, never in-place: the weights alias the LoadedModel's arrays (and the head aliases the embedding).
    setattr(module, name, nn.Parameter(value.contiguous(), requires_grad=False))


def _scale_columns(linears: list[nn.Linear], s: torch.Tensor) -> None:
    for lin in linears:
        _set(lin, "weight", lin.weight * s)


def _scale_rows_down(lin: nn.Linear, s: torch.Tensor) -> None:
    _set(lin, "weight", lin.weight / s[:, None])
    if lin.bias is not None:
        _set(lin, "bias", lin.bias / s)


@torch.no_grad()
def smooth_decoder(decoder: EtDecoder, sequences: list[list[int]], alpha: float) -> dict[str, Any]:
    """Apply SmoothQuant to an ``EtDecoder`` in float, before quantization; returns manifest facts."""
    stats = _input_absmax(decoder, sequences)
    max_ratio = 0.0
    for i, block in enumerate(cast("Iterable[Block]", decoder.layers)):
        p = f"layers.{i}."
        attn, mlp = block.self_attn, block.mlp
        qkv = [attn.q_proj, attn.k_proj, attn.v_proj]
        s = _scales(stats[p + "self_attn.q_proj"], [lin.weight for lin in qkv], alpha)
        _set(block.input_layernorm, "weight", block.input_layernorm.weight / s)
        _scale_columns(qkv, s)
        max_ratio = max(max_ratio, float(s.max() / s.min()))

        gate_up = [mlp.gate_proj, mlp.up_proj]
        s = _scales(stats[p + "mlp.gate_proj"], [lin.weight for lin in gate_up], alpha)
        _set(block.ffn_layernorm, "weight", block.ffn_layernorm.weight / s)
        _scale_columns(gate_up, s)

        s = _scales(stats[p + "mlp.down_proj"], [mlp.down_proj.weight], alpha)
        _scale_rows_down(mlp.up_proj, s)
        _scale_columns([mlp.down_proj], s)

        # o_proj input channel h*D+d reads KV channel (h // group)*D+d: one scale per KV channel.
        kv, group, dim = attn.n_kv_heads, attn.n_heads // attn.n_kv_heads, attn.head_dim
        act = stats[p + "self_attn.o_proj"].view(kv, group, dim).amax(1)
        w_max = attn.o_proj.weight.abs().amax(0).view(kv, group, dim).amax(1)
        s_kv = (act.clamp(min=_FLOOR) ** alpha / w_max.clamp(min=_FLOOR) ** (1 - alpha)).clamp(min=_FLOOR)
        _scale_rows_down(attn.v_proj, s_kv.reshape(-1))
        _scale_columns([attn.o_proj], s_kv.view(kv, 1, dim).expand(kv, group, dim).reshape(-1))

    s = _scales(stats["lm_head"], [decoder.lm_head.weight], alpha)
    _set(decoder.norm, "weight", decoder.norm.weight / s)
    _scale_columns([decoder.lm_head], s)
    # The hidden-state output (forward_with_hidden) is the model's normed state, not the smoothed head input.
    previous = decoder.hidden_scale
    decoder.hidden_scale = s.clone() if previous is None else previous * s
    return {
        "method": "smoothquant",
        "alpha": alpha,
        "calibration_tokens": sum(map(len, sequences)),
        "calibration_sequences": len(sequences),
        "max_scale_ratio_qkv": round(max_ratio, 1),
    }
