"""Block-quantized matrices in onnxruntime's MatMulNBits / GatherBlockQuantized layout.

A weight ``W`` [N, K] (torch's [out, in]) is cut into blocks of ``block_size``
along K. Each block stores integer codes ``q`` in [0, 2^bits), a float32
``scale`` and an integer ``zero_point`` (default 2^(bits-1) when symmetric), so

    W[n, b*bs + j] = scale[n, b] * (q[n, b, j] - zero_point[n, b]) (+ correction[n, b])

``correction`` is the per-block float offset of GGUF's Q4_1 (``w = d*q + m``):
kept outside the fast symmetric kernel and added as ``blocksum(x) @ correction.T``
(measured on SmolLM2-135M: float zero points fall onto a 3–10 tok/s kernel).

Packing (onnxruntime contrib_defs.cc, MatMulNBits): B is uint8
[N, k_blocks, block_size*bits/8], 4-bit codes two per byte, first element in
the low nibble; packed zero points are [N, ceil(k_blocks*bits/8)] in the same
nibble order. GatherBlockQuantized takes the same bytes as a 2-D [N, K*bits/8]
table, so one initializer can serve the LM head and the embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["QuantizedMatrix", "pack_codes", "unpack_codes", "quantize_rtn", "block_view"]


@dataclass(frozen=True)
class QuantizedMatrix:
    """One block-quantized [N, K] weight (codes unpacked, one uint8 per element)."""

    bits: int
    block_size: int
    k: int  # logical in_features (codes are padded to whole blocks)
    q: np.ndarray  # uint8 [N, k_blocks, block_size]
    scales: np.ndarray  # float32 [N, k_blocks]
    zero_points: np.ndarray | None  # uint8 [N, k_blocks]; None = 2^(bits-1) (symmetric)
    correction: np.ndarray | None = None  # float32 [N, k_blocks] added per block (GGUF Q4_1)

    @property
    def n(self) -> int:
        return int(self.q.shape[0])

    @property
    def k_blocks(self) -> int:
        return int(self.q.shape[1])

    @property
    def default_zero_point(self) -> int:
        return 1 << (self.bits - 1)

    def zero_point_array(self) -> np.ndarray:
        if self.zero_points is not None:
            return self.zero_points
        return np.full(self.scales.shape, self.default_zero_point, dtype=np.uint8)

    def dequantize(self, dtype=np.float32) -> np.ndarray:
        """The weight the graph computes with, [N, K] (float64 for exactness checks)."""
        codes = self.q.astype(dtype) - self.zero_point_array().astype(dtype)[..., None]
        w = codes * self.scales.astype(dtype)[..., None]
        if self.correction is not None:
            w = w + self.correction.astype(dtype)[..., None]
        return w.reshape(self.n, -1)[:, : self.k]

    # -- onnxruntime layout -----------------------------------------------------
    def packed_weight(self) -> np.ndarray:
        """MatMulNBits input B: uint8 [N, k_blocks, block_size*bits/8]."""
        return pack_codes(self.q, self.bits)

    def packed_zero_points(self) -> np.ndarray | None:
        """MatMulNBits/GatherBlockQuantized zero points: uint8 [N, ceil(k_blocks*bits/8)], or None."""
        if self.zero_points is None:
            return None
        zp = self.zero_points
        if self.bits == 8:
            return np.ascontiguousarray(zp)
        per_byte = 8 // self.bits
        pad = (-zp.shape[1]) % per_byte
        if pad:
            zp = np.concatenate([zp, np.full((zp.shape[0], pad), self.default_zero_point, np.uint8)], axis=1)
        return pack_codes(zp[:, None, :], self.bits)[:, 0, :]

    def nbytes(self) -> int:
        """Bytes stored in the graph (codes + scales + zero points + correction)."""
        total = self.n * self.k_blocks * self.block_size * self.bits // 8 + self.scales.size * 4
        packed_zero_points = self.packed_zero_points()  # None exactly when zero_points is None
        if packed_zero_points is not None:
            total += packed_zero_points.size
        if self.correction is not None:
            total += self.correction.size * 4
        return total


def pack_codes(q: np.ndarray, bits: int) -> np.ndarray:
    """Pack codes along the last axis, first element in the lowest bits."""
    q = np.asarray(q, dtype=np.uint8)
    if bits == 8:
        return np.ascontiguousarray(q)
    per_byte = 8 // bits
    if q.shape[-1] % per_byte:
        raise ValueError(f"cannot pack {q.shape[-1]} codes of {bits} bits into whole bytes")
    grouped = q.reshape(*q.shape[:-1], q.shape[-1] // per_byte, per_byte)
    out = np.zeros(grouped.shape[:-1], dtype=np.uint8)
    for j in range(per_byte):
        out |= (grouped[..., j] & ((1 << bits) - 1)) << (bits * j)
    return out


def unpack_codes(packed: np.ndarray, bits: int) -> np.ndarray:
    """Inverse of ``pack_codes``."""
    packed = np.asarray(packed, dtype=np.uint8)
    if bits == 8:
        return packed.copy()
    per_byte = 8 // bits
    parts = [(packed >> (bits * j)) & ((1 << bits) - 1) for j in range(per_byte)]
    return np.stack(parts, axis=-1).reshape(*packed.shape[:-1], packed.shape[-1] * per_byte)


def block_view(w: np.ndarray, block_size: int) -> np.ndarray:
    """[N, K] float → [N, k_blocks, block_size], zero-padded to whole blocks."""
    w = np.asarray(w, dtype=np.float32)
    n, k = w.shape
    pad = (-k) % block_size
    if pad:
        w = np.concatenate([w, np.zeros((n, pad), np.float32)], axis=1)
    return w.reshape(n, -1, block_size)


def quantize_rtn(w: np.ndarray, bits: int, block_size: int, symmetric: bool) -> QuantizedMatrix:
    """Round to nearest, one scale per block.

    Symmetric follows llama.cpp's Q4_0/Q8_0: the scale maps the block's
    largest-magnitude value onto the most negative code (-2^(bits-1)), so the
    full code range is used and the zero point is the default 2^(bits-1).
    Asymmetric maps [min, max] (widened to include 0) onto [0, 2^bits-1] with
    an integer zero point (onnxruntime's MatMulNBitsQuantizer default).
    """
    blocks = block_view(w, block_size)
    n, kb, _ = blocks.shape
    qmax = (1 << bits) - 1
    if symmetric:
        half = 1 << (bits - 1)
        idx = np.abs(blocks).argmax(axis=-1)
        signed_max = np.take_along_axis(blocks, idx[..., None], axis=-1)[..., 0]
        scales = (signed_max / -half).astype(np.float32)
        inv = np.divide(1.0, scales, out=np.zeros_like(scales), where=scales != 0)
        q = np.clip(np.rint(blocks * inv[..., None]) + half, 0, qmax).astype(np.uint8)
        return QuantizedMatrix(bits, block_size, w.shape[1], q, scales, None)
    lo = np.minimum(blocks.min(axis=-1), 0.0)
    hi = np.maximum(blocks.max(axis=-1), 0.0)
    scales = ((hi - lo) / qmax).astype(np.float32)
    inv = np.divide(1.0, scales, out=np.zeros_like(scales), where=scales != 0)
    zp = np.clip(np.rint(-lo * inv), 0, qmax).astype(np.uint8)
    q = np.clip(np.rint(blocks * inv[..., None]) + zp[..., None], 0, qmax).astype(np.uint8)
    return QuantizedMatrix(bits, block_size, w.shape[1], q, scales, zp)
