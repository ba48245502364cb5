"""The float reference: a transformers model holding exactly the ``LoadedModel`` weights.

Validation compares the exported model with this model, so it is built from
the same float32 arrays the targets quantize (never re-read from the source):
whatever the source was, reference and export start from identical weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["reference_loader", "build_reference"]


def build_reference(hf_config_dict: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> Any:
    """A float32, eval-mode transformers causal LM with ``tensors`` loaded (tied weights re-tied)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config_dict = dict(hf_config_dict)
    model_type = config_dict.pop("model_type")
    config = AutoConfig.for_model(model_type, **config_dict)
    with _no_init_weights():
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="sdpa")
    state = {name: torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)) for name, array in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
    missing = [name for name in missing if name not in tied]
    if missing or unexpected:
        raise ValueError(
            f"reference weights do not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    if config.tie_word_embeddings:
        model.tie_weights()
    model.eval()
    return model


def _no_init_weights() -> Any:
    """Skip random initialisation (every weight is overwritten right after)."""
    import contextlib

    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers < 5 kept it in modeling_utils
        try:
            # Only transformers < 5 has it here; the installed 5.x stubs do not, so mypy cannot see this path.
            from transformers.modeling_utils import no_init_weights  # type: ignore[attr-defined,no-redef]
        except ImportError:
            return contextlib.nullcontext()
    return no_init_weights()


def reference_loader(hf_config_dict: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> Callable[[], Any]:
    return lambda: build_reference(hf_config_dict, tensors)
