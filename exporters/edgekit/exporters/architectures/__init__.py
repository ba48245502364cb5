"""Architecture registry: one ``ArchitectureSpec`` class per model family.

    @register_architecture("llama")
    class LlamaSpec(ArchitectureSpec): ...

    spec = get_architecture(model.config.architecture)(model.config)

An unknown name raises ``UnknownNameError`` with the sorted list of known
families. Family modules are imported here so registering happens on import.
"""

from __future__ import annotations

from edgekit.runtime.registry import Registry

from .base import LINEAR_ROLES, NORM_ROLES, ArchitectureSpec, LayerAttention

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

ARCHITECTURES: Registry[type[ArchitectureSpec]] = Registry("architecture")


def register_architecture(name: str):
    """Class decorator: ``@register_architecture("qwen2") class Qwen2Spec(LlamaSpec)``."""

    def decorate(cls: type[ArchitectureSpec]) -> type[ArchitectureSpec]:
        cls.family = name
        ARCHITECTURES.add(name, cls)
        return cls

    return decorate


def get_architecture(name: str) -> type[ArchitectureSpec]:
    return ARCHITECTURES.get(name)


def spec_for(config) -> ArchitectureSpec:
    """The spec instance for a ``ModelConfig`` (raises UnknownNameError for unknown families)."""
    spec = get_architecture(config.architecture)(config)
    spec.check_supported()
    return spec


# Families register themselves on import (keep this list sorted).
from . import (  # noqa: E402,F401
    gemma3,
    llama,  # noqa: E402,F401
    mistral,
    phi3,
    qwen2,
    qwen3,
)
