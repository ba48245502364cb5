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

from ..model import GGUFTensor
from .blocks import QuantizedMatrix

__all__ = ["KQUANT_TYPES", "KQUANT_BLOCK_BYTES", "decode_kquant", "dequantize_kquant", "repack_kquant"]

QK_K = 256
# bytes per super-block and weights per super-block
KQUANT_BLOCK_BYTES = {"Q5_0": (22, 32), "Q5_1": (24, 32), "Q4_K": (144, QK_K), "Q5_K": (176, QK_K), "Q6_K": (210, QK_K)}
KQUANT_TYPES = frozenset(KQUANT_BLOCK_BYTES)
# (bits, MatMulNBits block size)
_FORM = {"Q5_0": (8, 32), "Q5_1": (8, 32), "Q4_K": (4, 32), "Q5_K": (8, 32), "Q6_K": (8, 16)}


def _superblocks(tensor: GGUFTensor) -> np.ndarray:
    nbytes, per = KQUANT_BLOCK_BYTES[tensor.ggml_type]
    rows, cols = tensor.shape
    if cols % per:
        raise ValueError(
            f"{tensor.gguf_name}: {cols} columns is not a whole number of {per}-weight {tensor.ggml_type} blocks"
        )
    raw = np.ascontiguousarray(np.asarray(tensor.raw, dtype=np.uint8)).reshape(rows, -1)
    if raw.shape[1] != cols // per * nbytes:
        raise ValueError(
            f"{tensor.gguf_name}: {raw.shape[1]} bytes per row, {tensor.ggml_type} needs {cols // per * nbytes}"
        )
    return raw.reshape(rows * (cols // per), nbytes)


def _f16(b: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(b).view(np.float16)[:, 0].astype(np.float64)


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


def decode_kquant(tensor: GGUFTensor) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(codes int16 [N, n_sub, sub], scale float64 [N, n_sub], offset float64 [N, n_sub] or None)

    with ``w = scale * codes + offset`` exactly; signed codes for Q5_0 / Q6_K.
    """
    t = tensor.ggml_type
    b = _superblocks(tensor)
    n = b.shape[0]
    if t in ("Q5_0", "Q5_1"):
        d = _f16(b[:, 0:2])
        off = 2 if t == "Q5_0" else 4
        q = _low_high_5bit(b[:, off : off + 4], b[:, off + 4 :])
        if t == "Q5_0":
            codes, scale, offset = q - 16, d, None
        else:
            codes, scale, offset = q, d, _f16(b[:, 2:4])
        codes, scale = codes.reshape(n, 1, 32), scale.reshape(n, 1)
        offset = None if offset is None else offset.reshape(n, 1)
    elif t in ("Q4_K", "Q5_K"):
        d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
        sc, mn = _scale_min_k4(b[:, 4:16])
        if t == "Q4_K":
            qs = b[:, 16:].reshape(n, 4, 1, 32) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)
            codes = (qs & 0x0F).reshape(n, 8, 32).astype(np.int16)
        else:
            qh, qs = b[:, 16:48], b[:, 48:]
            low = (qs.reshape(n, 4, 1, 32) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)) & 0x0F
            high = (qh.reshape(n, 1, 32) >> np.arange(8, dtype=np.uint8).reshape(1, 8, 1)) & 0x01
            codes = (low.reshape(n, 8, 32) | (high << 4)).astype(np.int16)
        scale, offset = d[:, None] * sc, -(dmin[:, None] * mn)
    elif t == "Q6_K":
        ql, qh, scales, d = b[:, :128], b[:, 128:192], b[:, 192:208], _f16(b[:, 208:210])
        low = (ql.reshape(n, 2, 1, 64) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)) & 0x0F
        high = (qh.reshape(n, 2, 1, 32) >> np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)) & 0x03
        q = low.reshape(n, 8, 32) | (high.reshape(n, 8, 32) << 4)
        codes = q.astype(np.int16).reshape(n, 16, 16) - 32
        scale, offset = d[:, None] * np.ascontiguousarray(scales).view(np.int8).astype(np.float64), None
    else:
        raise ValueError(
            f"{tensor.gguf_name}: type {t} is not a k-quant type this module repacks ({sorted(KQUANT_TYPES)})"
        )
    rows = tensor.shape[0]
    sub = codes.shape[-1]
    return (
        codes.reshape(rows, -1, sub),
        scale.reshape(rows, -1),
        None if offset is None else offset.reshape(rows, -1),
    )


def dequantize_kquant(tensor: GGUFTensor, dtype=np.float64) -> np.ndarray:
    """The weight exactly as ggml defines it, [N, K] (float64 holds every value exactly)."""
    codes, scale, offset = decode_kquant(tensor)
    w = scale.astype(dtype)[..., None] * codes.astype(dtype)
    if offset is not None:
        w = w + offset.astype(dtype)[..., None]
    return w.reshape(tensor.shape[0], -1)


def repack_kquant(tensor: GGUFTensor) -> QuantizedMatrix:
    """The tensor as a symmetric MatMulNBits matrix (see the module table), correction where it has offsets."""
    bits, block = _FORM[tensor.ggml_type]
    codes, scale, offset = decode_kquant(tensor)
    if bits == 4:
        # Q4_K, codes 0..15 against the default zero point 8: d·sc·(q − 8) + (offset + 8·d·sc).
        unsigned, correction = codes, offset + 8.0 * scale
    else:
        # 8-bit, default zero point 128: code q + 128 gives scale·q exactly (q signed or not).
        unsigned, correction = codes + 128, offset
    return QuantizedMatrix(
        bits=bits,
        block_size=block,
        k=tensor.shape[1],
        q=unsigned.astype(np.uint8),
        scales=scale.astype(np.float32),
        zero_points=None,
        correction=None if correction is None else correction.astype(np.float32),
    )
