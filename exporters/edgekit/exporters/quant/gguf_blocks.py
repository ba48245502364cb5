"""Exact repack of GGUF Q4_0 / Q4_1 / Q8_0 blocks into MatMulNBits form.

Block layouts (ggml-common.h; gguf-py ``quants.py`` decodes the same bytes):

- Q4_0, 18 bytes per 32 weights: fp16 ``d``, 16 bytes of nibbles; byte j holds
  element j (low nibble) and element j+16 (high nibble); ``w = d * (q - 8)``.
- Q4_1, 20 bytes: fp16 ``d``, fp16 ``m``, 16 bytes of nibbles as Q4_0;
  ``w = d * q + m``.
- Q8_0, 34 bytes: fp16 ``d``, 32 int8 ``q``; ``w = d * q``.

MatMulNBits computes ``scale * (code - zero_point)`` with the default zero
point 8 (4-bit) or 128 (8-bit), packing element 2i in the low nibble of byte i.
So Q4_0 maps exactly (scale = d), Q8_0 maps exactly (code = q + 128), and Q4_1
becomes ``d * (q - 8) + (m + 8d)``: the symmetric fast kernel plus a per-block
correction ``m + 8d`` the graph adds as ``blocksum(x) @ correction.T``
(measured on SmolLM2-135M: float zero points would be exact but fall onto a 3–10 tok/s kernel).
``m + 8d`` is stored in float32; it is exact whenever the sum of the two fp16
values fits float32's 24-bit mantissa, which ``repack_error`` checks.
"""

from __future__ import annotations

import numpy as np

from ..model import GGUFTensor
from .blocks import QuantizedMatrix
from .kquants import KQUANT_TYPES, dequantize_kquant, repack_kquant

__all__ = ["QK", "BLOCK_BYTES", "REPACKABLE_TYPES", "decode_gguf", "dequantize_gguf", "repack_gguf", "repack_error"]

QK = 32  # weights per block for all three types
BLOCK_BYTES = {"Q4_0": 2 + QK // 2, "Q4_1": 4 + QK // 2, "Q8_0": 2 + QK}
# Q5_0/Q5_1/Q4_K/Q5_K/Q6_K repack exactly too, as 4- or 8-bit MatMulNBits (kquants.py).
REPACKABLE_TYPES = frozenset(BLOCK_BYTES) | KQUANT_TYPES


def _blocks(tensor: GGUFTensor) -> np.ndarray:
    if tensor.ggml_type not in BLOCK_BYTES:
        raise ValueError(f"{tensor.gguf_name}: type {tensor.ggml_type} cannot be repacked exactly")
    rows, cols = tensor.shape
    if cols % QK:
        raise ValueError(f"{tensor.gguf_name}: {cols} columns is not a whole number of {QK}-blocks")
    raw = np.ascontiguousarray(np.asarray(tensor.raw, dtype=np.uint8)).reshape(rows, -1)
    expected = cols // QK * BLOCK_BYTES[tensor.ggml_type]
    if raw.shape[1] != expected:
        raise ValueError(f"{tensor.gguf_name}: {raw.shape[1]} bytes per row, {tensor.ggml_type} needs {expected}")
    return raw.reshape(rows, cols // QK, BLOCK_BYTES[tensor.ggml_type])


def decode_gguf(tensor: GGUFTensor) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(q [N, nb, 32] int16 codes in element order, d float16 [N, nb], m float16 [N, nb] or None)."""
    blocks = _blocks(tensor)
    d = np.ascontiguousarray(blocks[..., 0:2]).view(np.float16)[..., 0]
    if tensor.ggml_type == "Q8_0":
        q = np.ascontiguousarray(blocks[..., 2:]).view(np.int8).astype(np.int16)
        return q, d, None
    offset = 2 if tensor.ggml_type == "Q4_0" else 4
    m = None if tensor.ggml_type == "Q4_0" else np.ascontiguousarray(blocks[..., 2:4]).view(np.float16)[..., 0]
    nibbles = blocks[..., offset:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1).astype(np.int16)
    return q, d, m


def dequantize_gguf(tensor: GGUFTensor, dtype=np.float64) -> np.ndarray:
    """The weight exactly as ggml defines it (float64 holds every value exactly)."""
    if tensor.ggml_type in KQUANT_TYPES:
        return dequantize_kquant(tensor, dtype)
    q, d, m = decode_gguf(tensor)
    d = d.astype(dtype)[..., None]
    if tensor.ggml_type == "Q4_0":
        w = d * (q.astype(dtype) - 8)
    elif tensor.ggml_type == "Q4_1":
        w = d * q.astype(dtype) + m.astype(dtype)[..., None]
    else:
        w = d * q.astype(dtype)
    return w.reshape(tensor.shape[0], -1)


def repack_gguf(tensor: GGUFTensor) -> QuantizedMatrix:
    """The tensor's blocks as a symmetric MatMulNBits matrix (+ correction for Q4_1)."""
    if tensor.ggml_type in KQUANT_TYPES:
        return repack_kquant(tensor)
    q, d, m = decode_gguf(tensor)
    scales = d.astype(np.float32)
    k = tensor.shape[1]
    if tensor.ggml_type == "Q8_0":
        return QuantizedMatrix(8, QK, k, (q + 128).astype(np.uint8), scales, None)
    correction = None
    if tensor.ggml_type == "Q4_1":
        correction = (m.astype(np.float64) + 8.0 * d.astype(np.float64)).astype(np.float32)
    return QuantizedMatrix(4, QK, k, q.astype(np.uint8), scales, None, correction)


def repack_error(tensor: GGUFTensor, repacked: QuantizedMatrix) -> float:
    """Max |repacked - ggml| over the tensor, computed in float64 (0.0 = exact)."""
    return float(np.max(np.abs(repacked.dequantize(np.float64) - dequantize_gguf(tensor))))
