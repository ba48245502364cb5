"""Architecture registry: one ``ArchitectureSpec`` class per model family.

    @register_architecture("llama")
    class LlamaSpec(ArchitectureSpec): ...

    spec = get_architecture(model.config.architecture)(model.config)

An unknown name raises ``UnknownNameError`` with the sorted list of known
families. The registry lives in ``registry.py`` (families import it from there, never from this package);
the family modules are imported here so registering happens on import.
"""

from __future__ import annotations

from .base import LINEAR_ROLES, NORM_ROLES, ArchitectureSpec, LayerAttention
from .registry import ARCHITECTURES, get_architecture, register_architecture, spec_for

__all__ = [
    "ARCHITECTURES",
    "ArchitectureSpec",
    "LayerAttention",
    "LINEAR_ROLES",
    "NORM_ROLES",
    "register_architecture",
    "get_architecture",
    "spec_for",
]

# Families register themselves on import (keep this list sorted).
from . import (  # noqa: E402,F401
    gemma3,
    llama,
    mistral,
    phi3,
    qwen2,
    qwen3,
)
