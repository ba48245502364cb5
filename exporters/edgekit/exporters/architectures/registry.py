"""The architecture registry itself: family modules import ``register_architecture`` from here.

It lives apart from the package ``__init__`` (which imports every family so they register) so that a
family module never imports the package that is importing it: no import cycle.
"""

from __future__ import annotations

from edgekit.runtime.registry import Registry

from .base import ArchitectureSpec

__all__ = ["ARCHITECTURES", "register_architecture", "get_architecture", "spec_for"]

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
