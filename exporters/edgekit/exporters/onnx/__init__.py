"""ONNX target: the fused decoder graph (GroupQueryAttention, MatMulNBits, shared KV buffer).

``build_onnx(model, recipe, out_dir, max_context)`` writes ``model.onnx`` +
``model.onnx.data``; ``target.OnnxTarget`` registers it as export target ``onnx``.
"""

from __future__ import annotations

from .builder import DATA_FILE, MODEL_FILE, PROFILES, build_onnx

__all__ = ["build_onnx", "MODEL_FILE", "DATA_FILE", "PROFILES"]

# Importing the package registers export target "onnx".
from . import target  # noqa: E402,F401
