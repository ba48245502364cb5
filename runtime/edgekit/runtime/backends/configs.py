"""``backend_config`` classes, one per backend, registered by backend name and imported lazily.

Each backend's config dataclass lives beside its backend (``onnx_config.py``,
``executorch_config.py``: no numpy, no engine import) and subclasses
``BackendConfig``, which tells the manifest what it must verify for that
backend: the files the engine opens by name, the folders it may open files
from on its own (onnxruntime's external data), the cross-checks against the
rest of the manifest, and the KV-cache bytes of one sequence (the memory check).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..registry import Registry

if TYPE_CHECKING:
    from ..manifest import Manifest

__all__ = ["BackendConfig", "CONFIGS", "CONFIG_MODULES", "register_config", "config_class"]

# backend name -> module that registers its config class on import
CONFIG_MODULES: dict[str, str] = {
    "onnx": "edgekit.runtime.backends.onnx_config",
    "executorch": "edgekit.runtime.backends.executorch_config",
}


_ConfigSelf = TypeVar("_ConfigSelf", bound="BackendConfig")


class BackendConfig:
    """Base of every ``backend_config`` dataclass (no fields of its own)."""

    backend: ClassVar[str]

    @classmethod
    def from_dict(cls: type[_ConfigSelf], data: Any, where: str = "edgekit.json") -> _ConfigSelf:
        from ..schema import decode

        return decode(data, cls, where, prefix="backend_config")

    def to_dict(self) -> dict[str, Any]:
        import msgspec

        data: dict[str, Any] = msgspec.to_builtins(self)  # a Struct encodes to a dict
        return data

    def opened_files(self) -> tuple[str, ...]:
        """Bundle paths the engine opens by name (each must be listed in files[] and is hashed before use)."""
        return ()

    def engine_dirs(self) -> tuple[str, ...]:
        """Bundle folders ("" = the bundle root) the engine may read any file from without being told its name.

        Every file under them must be listed in files[]: a file nobody hashed could otherwise be loaded.
        """
        return ()

    def check(self, manifest: Manifest, where: str) -> None:
        """Refuse (SchemaError) values that contradict the rest of the manifest."""

    def kv_cache_bytes(self, max_context: int) -> int:
        """Bytes of one sequence's KV cache at ``max_context`` positions (0 when the engine does not say)."""
        return 0


CONFIGS: Registry[type[BackendConfig]] = Registry("backend")


_ConfigT = TypeVar("_ConfigT", bound="type[BackendConfig]")


def register_config(name: str) -> Callable[[_ConfigT], _ConfigT]:
    """Class decorator: ``@register_config("onnx") class OnnxGraphSpec(BackendConfig)``."""

    def decorate(cls: _ConfigT) -> _ConfigT:
        cls.backend = name
        CONFIGS.add(name, cls)
        return cls  # what add returned, typed as the subclass

    return decorate


def config_class(name: str) -> type[BackendConfig] | None:
    """The config class of backend ``name``, or None for a backend this edgekit does not know."""
    if name not in CONFIGS:
        module = CONFIG_MODULES.get(name)
        if module is None:
            return None
        importlib.import_module(module)
    return CONFIGS.get(name)
