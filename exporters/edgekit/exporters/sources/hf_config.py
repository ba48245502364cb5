"""transformers config -> edgekit ``ModelConfig``, and the architecture support check.

The architecture registry (``edgekit.exporters.architectures.ARCHITECTURES``)
decides what is supported; its names are transformers ``model_type`` values
(``llama``, ...). A source checks support before it reads any weights, so an
unsupported model fails in a second with the list of supported ones.
"""

from __future__ import annotations

from typing import Any

from edgekit.runtime.errors import UnsupportedError

from ..loaded_model import ModelConfig

__all__ = ["supported_architectures", "check_supported", "model_config_from_hf", "rope_theta_of"]


def supported_architectures() -> list[str]:
    from ..architectures import ARCHITECTURES

    return ARCHITECTURES.names()


def check_supported(model_type: str | None, where: str) -> str:
    """Return the registry name for ``model_type`` or raise ``UnsupportedError`` listing the supported ones."""
    known = supported_architectures()
    if not model_type or model_type not in known:
        raise UnsupportedError(
            f"{where}: architecture {model_type!r} is not supported; supported architectures: {', '.join(known)}"
        )
    return model_type


def rope_theta_of(hf_config: Any) -> float:
    """transformers 5 keeps rope_theta inside ``rope_parameters``; 4.x had a top-level attribute."""
    params = getattr(hf_config, "rope_parameters", None) or {}
    if isinstance(params, dict) and "rope_theta" in params:
        return float(params["rope_theta"])
    theta = getattr(hf_config, "rope_theta", None)
    return float(theta) if theta is not None else 10000.0


def _rope_scaling_of(hf_config: Any) -> dict[str, Any] | None:
    params = getattr(hf_config, "rope_parameters", None) or getattr(hf_config, "rope_scaling", None)
    if not isinstance(params, dict):
        return None
    rope_type = params.get("rope_type", params.get("type", "default"))
    if rope_type in (None, "default"):
        return None
    return {k: v for k, v in params.items() if k != "rope_theta"}


def model_config_from_hf(hf_config: Any, architecture: str) -> ModelConfig:
    """Normalize a transformers ``PretrainedConfig`` (llama-family field names)."""
    heads = int(hf_config.num_attention_heads)
    head_dim = getattr(hf_config, "head_dim", None) or hf_config.hidden_size // heads
    kv_heads = getattr(hf_config, "num_key_value_heads", None) or heads
    return ModelConfig(
        architecture=architecture,
        hidden_size=int(hf_config.hidden_size),
        num_layers=int(hf_config.num_hidden_layers),
        num_heads=heads,
        num_kv_heads=int(kv_heads),
        head_dim=int(head_dim),
        intermediate_size=int(hf_config.intermediate_size),
        vocab_size=int(hf_config.vocab_size),
        max_position_embeddings=int(hf_config.max_position_embeddings),
        rope_theta=rope_theta_of(hf_config),
        rms_norm_eps=float(getattr(hf_config, "rms_norm_eps", 1e-6)),
        tie_word_embeddings=bool(getattr(hf_config, "tie_word_embeddings", False)),
        rope_scaling=_rope_scaling_of(hf_config),
        hf_config=hf_config.to_dict(),
    )
