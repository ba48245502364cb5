"""The run's peak memory, estimated before training starts, against what the machine has available.

Terms (float32): the model's weights twice (the source's arrays and the torch model built from them, alive
together while it is built), the LoRA parameters with their gradients and two AdamW moments, and one batch's
activations: per layer about 34 x hidden values per token kept for the backward pass (Korthikanti et al. 2022,
"Reducing Activation Recomputation in Large Transformer Models", section 4.1, 34sbh bytes in half precision,
doubled here for float32) plus the logits, their softmax and its gradient (3 x vocab per token, counted for every
position although the loss keeps only the assistant ones). On SmolLM2-135M with the support FAQ (longest example
~120 tokens, 2-core x86_64): batch 4 estimated 3800 MiB, peak RSS measured 2.7 GiB; batch 8 with the full-width
head estimated 6000 MiB, measured 4.4 to 4.7 GiB. The estimate errs high, so a run it lets start fits.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..loaded_model import ModelConfig
from .errors import TuneMemoryError

__all__ = ["MemoryEstimate", "estimate_memory", "check_memory", "available_mib"]

_MIB = 2**20
# Python, torch, transformers and peft before any model: 465 MiB RSS measured after importing them (2-core x86_64).
_BASE_MIB = 500.0


@dataclass(frozen=True)
class MemoryEstimate:
    weights_mib: float
    lora_mib: float
    activations_mib: float

    @property
    def total_mib(self) -> float:
        return _BASE_MIB + self.weights_mib + self.lora_mib + self.activations_mib


def lora_parameter_count(config: ModelConfig, rank: int) -> int:
    """LoRA parameters when every linear layer of every block is adapted: r x (in + out) per layer."""
    h, kv = config.hidden_size, config.num_kv_heads * config.head_dim
    q = config.num_heads * config.head_dim
    shapes = [(h, q), (h, kv), (h, kv), (q, h), (h, config.intermediate_size), (h, config.intermediate_size)]
    shapes.append((config.intermediate_size, h))
    return config.num_layers * sum(rank * (a + b) for a, b in shapes)


def estimate_memory(config: ModelConfig, parameters: int, rank: int, batch_size: int, tokens: int) -> MemoryEstimate:
    """``tokens``: the longest example's length (batches are padded to their longest)."""
    weights = 2 * parameters * 4
    lora = lora_parameter_count(config, rank) * 4 * 4  # value, gradient, two moments
    per_token = config.num_layers * 68 * config.hidden_size + 3 * config.vocab_size
    activations = batch_size * tokens * per_token * 4
    return MemoryEstimate(weights / _MIB, lora / _MIB, activations / _MIB)


def available_mib() -> float:
    import psutil

    return float(psutil.virtual_memory().available) / _MIB


def check_memory(estimate: MemoryEstimate, available: float, batch_size: int, max_length: int) -> None:
    if estimate.total_mib > available:
        raise TuneMemoryError(
            f"not enough memory for this run: estimated peak {estimate.total_mib:.0f} MiB (weights "
            f"{estimate.weights_mib:.0f}, activations of one batch {estimate.activations_mib:.0f}, LoRA "
            f"{estimate.lora_mib:.0f}) but {available:.0f} MiB are available; lower --batch-size "
            f"(now {batch_size}) or --max-length (now {max_length}), or free memory"
        )
