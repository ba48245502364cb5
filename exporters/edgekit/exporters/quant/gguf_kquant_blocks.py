"""Exact repack of GGUF Q5_0 / Q5_1 / Q4_K / Q5_K / Q6_K blocks into MatMulNBits form.

Q4_0 / Q4_1 / Q8_0 map onto MatMulNBits one to one (gguf_blocks.py). The other
types llama.cpp's ``Q4_K_M`` mix uses (Gemma 3 270M: Q5_0, Q4_K, Q6_K, Q8_0)
do not have a 4-bit block-32 symmetric form, but every one of them is
``w = scale * code + offset`` per sub-block with small integer codes, which a
MatMulNBits of 4 or 8 bits holds *exactly* (the same trick as Q4_1: symmetric
kernel, plus ``blocksum(x) @ correction.T`` for the offset):

=====  =====================================  ============  =========================
type   ggml definition (ggml-quants.c)         sub-block     MatMulNBits form
=====  =====================================  ============  =========================
Q5_0   d · (q − 16), q ∈ [0, 32)               32            8-bit, code q − 16 + 128
Q5_1   d · q + m                               32            8-bit, code q + 128, corr m
Q4_K   (d·sc_j) · q − dmin·m_j, q ∈ [0, 16)    32 (of 256)   4-bit, code q, corr dmin·… +8·scale
Q5_K   (d·sc_j) · q − dmin·m_j, q ∈ [0, 32)    32 (of 256)   8-bit, code q + 128, corr −dmin·m_j
Q6_K   (d·sc_j) · (q − 32), q ∈ [0, 64)        16 (of 256)   8-bit block 16, code q + 96
=====  =====================================  ============  =========================

Scales ``d·sc_j`` are an fp16 times a 6/8-bit integer (≤ 19 significant bits),
so float32 holds them exactly; a correction is exact when its two terms fit
float32's 24-bit mantissa, which ``repack_error`` measures (gguf_blocks.py).
The 5- and 6-bit types cost 8 bits per weight in the graph: exactness over
size, since re-quantizing already-quantized weights loses quality (SmolLM2-135M:
top-1 agreement 0.67–0.80 against 0.97 for the exact repack). Bit layouts follow
gguf-py's ``quants.py`` (``Q4_K.get_scale_min``), which tests/architectures/test_kquants.py uses as the reference.
"""

from __future__ import annotations

import numpy as np

from ..loaded_model import GGUFTensor
from .block_types import BlockType, decode_blocks, dequantize_blocks, f16_field, register_block_type, repack_blocks
from .blocks import QuantizedMatrix

__all__ = ["KQUANT_TYPES", "KQUANT_BLOCK_BYTES", "decode_kquant", "dequantize_kquant", "repack_kquant"]

QK_K = 256
_f16 = f16_field


def _scale_min_k4(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 6-bit sub-block scales and mins of Q4_K/Q5_K (gguf-py ``Q4_K.get_scale_min``)."""
    s = scales.reshape(-1, 3, 4)
    d, m, m_d = s[:, 0], s[:, 1], s[:, 2]
    sc = np.concatenate([d & 0x3F, (m_d & 0x0F) | ((d >> 2) & 0x30)], axis=-1)
    mn = np.concatenate([m & 0x3F, (m_d >> 4) | ((m >> 2) & 0x30)], axis=-1)
    return sc.astype(np.float64), mn.astype(np.float64)


def _low_high_5bit(qh: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Q5_0/Q5_1 codes [n, 32]: low nibbles (elements j and j+16 share byte j), bit j of qh is bit 4."""
    n = qs.shape[0]
    low = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.int16)
    high = (np.ascontiguousarray(qh).view(np.uint32).reshape(n, 1) >> np.arange(32, dtype=np.uint32)) & 1
    return low | (high.astype(np.int16) << 4)


def _decode_q5(b: np.ndarray, with_min: bool):
    n = b.shape[0]
    d = _f16(b[:, 0:2])
    off = 4 if with_min else 2
    q = _low_high_5bit(b[:, off : off + 4], b[:, off + 4 :])
    if with_min:
        codes, scale, offset = q, d, _f16(b[:, 2:4]).reshape(n, 1)
    else:
        codes, scale, offset = q - 16, d, None
    return codes.reshape(n, 1, 32), scale.reshape(n, 1), offset


def _decode_q5_0(b: np.ndarray):
    return _decode_q5(b, with_min=False)


def _decode_q5_1(b: np.ndarray):
    return _decode_q5(b, with_min=True)


def _decode_qk(b: np.ndarray, five_bits: bool):
    n = b.shape[0]
    d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    sc, mn = _scale_min_k4(b[:, 4:16])
    if not five_bits:
        qs = b[:, 16:].reshape(n, 4, 1, 32) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)
        codes = (qs & 0x0F).reshape(n, 8, 32).astype(np.int16)
    else:
        qh, qs = b[:, 16:48], b[:, 48:]
        low = (qs.reshape(n, 4, 1, 32) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)) & 0x0F
        high = (qh.reshape(n, 1, 32) >> np.arange(8, dtype=np.uint8).reshape(1, 8, 1)) & 0x01
        codes = (low.reshape(n, 8, 32) | (high << 4)).astype(np.int16)
    return codes, d[:, None] * sc, -(dmin[:, None] * mn)


def _decode_q4_k(b: np.ndarray):
    return _decode_qk(b, five_bits=False)


def _decode_q5_k(b: np.ndarray):
    return _decode_qk(b, five_bits=True)


def _decode_q6_k(b: np.ndarray):
    n = b.shape[0]
    ql, qh, scales, d = b[:, :128], b[:, 128:192], b[:, 192:208], _f16(b[:, 208:210])
    low = (ql.reshape(n, 2, 1, 64) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)) & 0x0F
    high = (qh.reshape(n, 2, 1, 32) >> np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)) & 0x03
    q = low.reshape(n, 8, 32) | (high.reshape(n, 8, 32) << 4)
    codes = q.astype(np.int16).reshape(n, 16, 16) - 32
    return codes, d[:, None] * np.ascontiguousarray(scales).view(np.int8).astype(np.float64), None


# (name, weights and bytes per (super-)block, decoder, MatMulNBits form, code shift): the table above.
_KQUANTS = (
    BlockType("Q5_0", 32, 22, _decode_q5_0, bits=8, block_size=32, code_shift=128),
    BlockType("Q5_1", 32, 24, _decode_q5_1, bits=8, block_size=32, code_shift=128),
    BlockType("Q4_K", QK_K, 144, _decode_q4_k, bits=4, block_size=32, code_shift=0),
    BlockType("Q5_K", QK_K, 176, _decode_q5_k, bits=8, block_size=32, code_shift=128),
    BlockType("Q6_K", QK_K, 210, _decode_q6_k, bits=8, block_size=16, code_shift=128),
)
for _block in _KQUANTS:
    register_block_type(_block)

# bytes and weights per super-block (the layout tests build random blocks from)
KQUANT_BLOCK_BYTES = {block.name: (block.bytes_per_block, block.weights_per_block) for block in _KQUANTS}
KQUANT_TYPES = frozenset(KQUANT_BLOCK_BYTES)


def decode_kquant(tensor: GGUFTensor) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(codes int16 [N, n_sub, sub], scale float64 [N, n_sub], offset float64 [N, n_sub] or None)

    with ``w = scale * codes + offset`` exactly; signed codes for Q5_0 / Q6_K.
    """
    return decode_blocks(tensor)


def dequantize_kquant(tensor: GGUFTensor, dtype=np.float64) -> np.ndarray:
    """The weight exactly as ggml defines it, [N, K] (float64 holds every value exactly)."""
    return dequantize_blocks(tensor, dtype)


def repack_kquant(tensor: GGUFTensor) -> QuantizedMatrix:
    """The tensor as a symmetric MatMulNBits matrix (see the module table), correction where it has offsets."""
    return repack_blocks(tensor)
