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

Each type registers its decoder in ``BLOCK_TYPES`` (block_types.py), which
decodes, dequantizes and repacks every registered type the same way.
"""

from __future__ import annotations

import numpy as np

from ..loaded_model import GGUFTensor
from .block_types import (
    BLOCK_TYPES,
    BlockType,
    decode_blocks,
    dequantize_blocks,
    f16_field,
    register_block_type,
    repack_blocks,
)
from .blocks import QuantizedMatrix
from .gguf_kquant_blocks import KQUANT_TYPES

__all__ = ["QK", "BLOCK_BYTES", "REPACKABLE_TYPES", "decode_gguf", "dequantize_gguf", "repack_gguf", "repack_error"]

QK = 32  # weights per block for all three types


def _nibbles(blocks: np.ndarray) -> np.ndarray:
    """Q4_0/Q4_1 codes [n, 32]: byte j holds element j (low nibble) and element j+16 (high nibble)."""
    return np.concatenate([blocks & 0x0F, blocks >> 4], axis=-1).astype(np.int16)


def _decode_q4_0(b: np.ndarray):
    n = b.shape[0]
    return (_nibbles(b[:, 2:]) - 8).reshape(n, 1, QK), f16_field(b[:, 0:2]).reshape(n, 1), None


def _decode_q4_1(b: np.ndarray):
    n = b.shape[0]
    return _nibbles(b[:, 4:]).reshape(n, 1, QK), f16_field(b[:, 0:2]).reshape(n, 1), f16_field(b[:, 2:4]).reshape(n, 1)


def _decode_q8_0(b: np.ndarray):
    n = b.shape[0]
    codes = np.ascontiguousarray(b[:, 2:]).view(np.int8).astype(np.int16)
    return codes.reshape(n, 1, QK), f16_field(b[:, 0:2]).reshape(n, 1), None


register_block_type(BlockType("Q4_0", QK, 2 + QK // 2, _decode_q4_0, bits=4, block_size=QK, code_shift=8))
register_block_type(BlockType("Q4_1", QK, 4 + QK // 2, _decode_q4_1, bits=4, block_size=QK, code_shift=0))
register_block_type(BlockType("Q8_0", QK, 2 + QK, _decode_q8_0, bits=8, block_size=QK, code_shift=128))

BLOCK_BYTES = {name: BLOCK_TYPES.get(name).bytes_per_block for name in ("Q4_0", "Q4_1", "Q8_0")}
# Q5_0/Q5_1/Q4_K/Q5_K/Q6_K repack exactly too, as 4- or 8-bit MatMulNBits (gguf_kquant_blocks.py).
REPACKABLE_TYPES = frozenset(BLOCK_BYTES) | KQUANT_TYPES


def decode_gguf(tensor: GGUFTensor) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(codes int16 [N, n_sub, sub], scale float64 [N, n_sub], offset float64 [N, n_sub] or None) with
    ``w = scale * codes + offset``, for any registered block type (UnknownNameError for another)."""
    return decode_blocks(tensor)


def dequantize_gguf(tensor: GGUFTensor, dtype=np.float64) -> np.ndarray:
    """The weight exactly as ggml defines it (float64 holds every value exactly)."""
    return dequantize_blocks(tensor, dtype)


def repack_gguf(tensor: GGUFTensor) -> QuantizedMatrix:
    """The tensor's blocks as a symmetric MatMulNBits matrix (+ correction for Q4_1 and the offset types)."""
    return repack_blocks(tensor)


def repack_error(tensor: GGUFTensor, repacked: QuantizedMatrix) -> float:
    """Max |repacked - ggml| over the tensor, computed in float64 (0.0 = exact)."""
    return float(np.max(np.abs(repacked.dequantize(np.float64) - dequantize_gguf(tensor))))
