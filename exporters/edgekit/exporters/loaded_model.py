"""The in-memory model every export target consumes.

A model source (default / HF folder / GGUF / hub id) is resolved into one
``LoadedModel``: a normalized ``ModelConfig``, float32 weights under Hugging
Face tensor names (exactly the weights of the float reference, so validation
compares like with like), and, when the source is a GGUF, its raw quantized
blocks for the exact ``gguf`` recipe. Targets never look at the source again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ModelConfig", "GGUFTensor", "TokenizerAssets", "LoadedModel"]


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyperparameters, normalized from a transformers config."""

    architecture: str  # architecture registry name, e.g. "llama"
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    rope_theta: float
    rms_norm_eps: float
    tie_word_embeddings: bool
    rope_scaling: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # family specifics (sliding window, norms, ...)
    hf_config: Mapping[str, Any] = field(default_factory=dict)  # raw transformers config.to_dict()


@dataclass(frozen=True)
class GGUFTensor:
    """One GGUF tensor kept in its quantized form.

    ``raw`` holds the blocks exactly as in the file (uint8, one row of blocks
    per output row); ``shape`` is the logical [out_features, in_features] in
    GGUF row order (llama-family q/k rows are permuted relative to HF: the
    architecture spec says how to map them).
    """

    name: str  # HF tensor name it corresponds to
    gguf_name: str
    ggml_type: str  # "Q4_0", "Q4_1", "Q8_0", "Q4_K", "F32", ...
    shape: tuple[int, int]
    raw: np.ndarray


@dataclass(frozen=True)
class TokenizerAssets:
    tokenizer_json: Path  # a tokenizers-library tokenizer.json that reproduces the source's ids
    bos_id: int | None
    add_bos: bool
    eos_ids: tuple[int, ...]
    pad_id: int | None
    chat_template: str | None


@dataclass
class LoadedModel:
    name: str  # short name for the manifest, e.g. "smollm2-135m-instruct"
    source: str  # what the user passed, resolved (path or hub id)
    config: ModelConfig
    tensors: Mapping[str, np.ndarray]  # float32 weights, HF names
    tokenizer: TokenizerAssets
    gguf_tensors: Mapping[str, GGUFTensor] | None = None  # HF name -> quantized blocks
    license: str | None = None
    # Builds the float reference (a transformers model, eval mode, float32) on demand.
    load_reference: Callable[[], Any] | None = None
    work_dir: Path | None = None  # scratch folder the source used (HF files written from a GGUF, ...)
