"""Runtime backends, registered by name and imported lazily.

The ONNX backend needs only onnxruntime; the ExecuTorch backend links torch's
shared libraries, so it is imported only when a bundle names it. An unknown
backend name raises ``UnknownNameError`` listing the known ones.
"""

from __future__ import annotations

import importlib

from ..errors import UnknownNameError
from .base import BACKENDS, Backend, BackendOptions, Cache, register_backend
from .ort_telemetry import keep_telemetry_off

keep_telemetry_off()  # before any backend imports onnxruntime (see ort_telemetry.py)

__all__ = ["Backend", "BackendOptions", "Cache", "BACKENDS", "register_backend", "get_backend", "BACKEND_MODULES"]

# name -> module that registers it on import (kept lazy: see module docstring)
BACKEND_MODULES: dict[str, str] = {
    "onnx": "edgekit.runtime.backends.onnx",
    "executorch": "edgekit.runtime.backends.executorch",
}


def get_backend(name: str) -> type[Backend]:
    """Import the module of backend ``name`` and return its class."""
    if name not in BACKENDS:
        module = BACKEND_MODULES.get(name)
        if module is None:
            raise UnknownNameError("backend", name, BACKEND_MODULES)
        importlib.import_module(module)
    return BACKENDS.get(name)
