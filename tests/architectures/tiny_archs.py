"""Tiny random models of every registered architecture, built from their transformers configs.

Each entry sets the features that make the family differ from llama to values
that would expose a wrong hook: sliding windows shorter than the test prompt,
rope thetas that differ per layer type, an explicit head_dim, a query scale
that is not head_dim, partial rotary, q/k/v biases, random (non-unit) norms.
``TINY_ARCHS`` is what the completeness test compares with the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from edgekit.exporters.loaded_model import LoadedModel, TokenizerAssets

VOCAB = 512
COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
    rms_norm_eps=1e-5,
)


def _llama() -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(**COMMON, tie_word_embeddings=True)


def _mistral() -> Any:
    from transformers import MistralConfig

    # head_dim 32 != hidden / heads (GroupQueryAttention needs multiples of 16).
    return MistralConfig(**COMMON, head_dim=32, sliding_window=8, tie_word_embeddings=False)


def _qwen2() -> Any:
    from transformers import Qwen2Config

    # Layers 1.. slide (max_window_layers=1): one full and two sliding layers.
    return Qwen2Config(
        **COMMON,
        use_sliding_window=True,
        sliding_window=8,
        max_window_layers=1,
        rope_theta=50000.0,
        tie_word_embeddings=True,
    )


def _qwen3() -> Any:
    from transformers import Qwen3Config

    return Qwen3Config(**COMMON, head_dim=32, tie_word_embeddings=False)


def _phi3() -> Any:
    from transformers import Phi3Config

    # head_dim 32, rotary on half of it: GroupQueryAttention wants rotary_dim / 2 a multiple of 8.
    cfg = dict(COMMON, hidden_size=128, num_key_value_heads=4)
    return Phi3Config(**cfg, sliding_window=16, partial_rotary_factor=0.5, pad_token_id=0, tie_word_embeddings=False)


def _gemma3() -> Any:
    from transformers import Gemma3TextConfig

    return Gemma3TextConfig(
        **dict(COMMON, num_key_value_heads=1),
        head_dim=32,
        query_pre_attn_scalar=20,
        sliding_window=8,
        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
        rope_parameters={
            "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
            "full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000000.0},
        },
        tie_word_embeddings=True,
    )


# registry name -> transformers config factory
TINY_ARCHS: dict[str, Callable[[], Any]] = {
    "gemma3_text": _gemma3,
    "llama": _llama,
    "mistral": _mistral,
    "phi3": _phi3,
    "qwen2": _qwen2,
    "qwen3": _qwen3,
}


def tiny_model(arch: str, seed: int = 0) -> tuple[Any, LoadedModel]:
    """A random float32 transformers model of ``arch`` and the LoadedModel the pipeline would make of it."""
    import torch
    from edgekit.exporters.sources.hf_config import model_config_from_hf
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    hf_config = TINY_ARCHS[arch]()
    torch_model = AutoModelForCausalLM.from_config(hf_config, attn_implementation="eager").eval().float()
    with torch.no_grad():
        for name, p in torch_model.named_parameters():
            if "norm" in name:  # default init (ones / zeros for Gemma) would hide a wrong norm hook
                p.copy_((0.0 if arch == "gemma3_text" else 1.0) + 0.2 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn_like(p))
    tensors = {k: v.detach().float().numpy().copy() for k, v in torch_model.state_dict().items()}
    if hf_config.tie_word_embeddings:
        tensors.pop("lm_head.weight", None)
    config = model_config_from_hf(hf_config, arch)
    tokenizer = TokenizerAssets(
        Path("tokenizer.json"), bos_id=None, add_bos=False, eos_ids=(0,), pad_id=None, chat_template=None
    )
    model = LoadedModel(name=f"tiny-{arch}", source="test", config=config, tensors=tensors, tokenizer=tokenizer)
    return torch_model, model


def validation_ids(n: int) -> list[int]:
    """The first ``n`` UTF-8 bytes of edgekit's validation text as token ids (every tiny vocab holds 0..255)."""
    from edgekit.exporters.validation.text import validation_text

    return list(validation_text().encode("utf-8")[:n])


def torch_logits(torch_model, ids: list[int]) -> np.ndarray:
    import torch

    with torch.no_grad():
        return torch_model(torch.tensor([ids], dtype=torch.long)).logits[0].float().numpy()
