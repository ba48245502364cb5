"""GGUF blocks with an offset as 8-bit MatMulNBits whose zero points carry the offset: no correction term.

Q4_1 and Q4_K (and Q5_1, Q5_K) store ``w = d*q + m`` per block, codes ``q`` in ``0..qmax``. The exact repack
(``block_types.repack_blocks``) keeps the codes in the symmetric fast kernel and adds ``m + 8d`` as a
``blocksum(x) @ correction.T`` term: four small ops after each matmul. On int8 activations that term costs
more than the matmul saves, so a matmul there can take this form instead: MatMulNBits computes
``s * (u - z)`` with ``u, z`` in ``0..255``, and with ``s = d/k``, ``u = k*q + a`` and
``z = a - round(k*m/d)``

    s * (u - z) = d*q + (d/k) * round(k*m/d)

so every code stays exact and only the block's offset moves, by ``(d/k) * |k*m/d - round(k*m/d)|`` at most
``d/(2k)``. ``k`` (1 to ``255 // qmax``: 17 for 4-bit codes) is chosen per block to make that error smallest:
on random offsets the mean error is 0.0044·d against 0.0147·d for a fixed ``k = 17`` (the maximum is the
same, d/34, where no ``k`` does better).

Measured on SmolLM2-135M Q4_1, onnxruntime 1.32, 2 threads, float activations everywhere so only the weights
differ: teacher-forced top-1 agreement with float over the whole validation text 0.991 with the best ``k``
per block (0.983 with ``k = 17`` everywhere) against 1.000 for the exact repack; mean KL 0.00014. The price is
bytes: the codes need 8 bits instead of 4 (SmolLM2's decoder weights 107 → 138-148 MiB read per token), while
the correction's ops go away (833 → 353 graph nodes) and decode gains 30% (see recipes.py).
"""

from __future__ import annotations

import numpy as np

from ..loaded_model import GGUFTensor
from .block_types import decode_blocks
from .blocks import QuantizedMatrix

__all__ = ["absorb_offsets", "zero_point_form", "MAX_CODE"]

MAX_CODE = 255  # MatMulNBits 8-bit codes and zero points are uint8
_TIE = 1e-9  # offset errors (in units of the block's scale) closer than this are equal


def absorb_offsets(codes: np.ndarray, scale: np.ndarray, offset: np.ndarray, k_size: int) -> QuantizedMatrix:
    """``w = scale * codes + offset`` ([N, n_sub, sub] codes, [N, n_sub] scale and offset) as an 8-bit matrix
    with zero points; ``k_size``: the logical K."""
    codes = np.asarray(codes)
    scale = np.asarray(scale, dtype=np.float64)
    offset = np.asarray(offset, dtype=np.float64)
    n, blocks, sub = codes.shape
    top = max(int(codes.max(initial=0)), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(scale != 0, offset / scale, 0.0)
    best_error = np.full((n, blocks), np.inf)
    best_k = np.zeros((n, blocks), dtype=np.int64)
    best_a = np.zeros((n, blocks))
    best_z = np.zeros((n, blocks))
    for k in range(MAX_CODE // top, 0, -1):
        shifted = np.round(k * ratio)
        a = np.clip(shifted, 0, MAX_CODE - k * top)  # codes k*q + a must stay within 0..255
        z = a - shifted
        error = np.abs(k * ratio - shifted) / k
        # a smaller k must do better by more than rounding noise: on a tie the finer grid (larger k) stays
        better = (z >= 0) & (z <= MAX_CODE) & (scale != 0) & (error < best_error - _TIE)
        best_error[better] = error[better]
        best_k[better] = k
        best_a[better] = a[better]
        best_z[better] = z[better]
    found = best_k > 0
    q = np.zeros(codes.shape, dtype=np.uint8)
    zero_points = np.zeros((n, blocks), dtype=np.uint8)
    scales = np.zeros((n, blocks), dtype=np.float64)
    q[found] = (best_k[found][:, None] * codes[found] + best_a[found][:, None]).astype(np.uint8)
    zero_points[found] = best_z[found].astype(np.uint8)
    scales[found] = scale[found] / best_k[found]
    rest = ~found
    if rest.any():
        # a zero scale (a constant block) or an offset too far from zero for any k (blocks of large weights all of
        # one sign): round the block's exact values onto the 255-step grid that spans them and zero, error at most
        # half a step; a constant block lands exactly on an end of it
        values = scale[rest][:, None] * codes[rest] + offset[rest][:, None]
        low = np.minimum(values.min(axis=1), 0.0)
        high = np.maximum(values.max(axis=1), 0.0)
        step = np.where(high > low, (high - low) / MAX_CODE, 1.0)
        z = np.round(-low / step)
        q[rest] = np.clip(np.round(values / step[:, None]) + z[:, None], 0, MAX_CODE).astype(np.uint8)
        zero_points[rest] = z.astype(np.uint8)
        scales[rest] = step
    return QuantizedMatrix(
        bits=8, block_size=sub, k=k_size, q=q, scales=scales.astype(np.float32), zero_points=zero_points
    )


def zero_point_form(tensor: GGUFTensor) -> QuantizedMatrix | None:
    """The tensor's blocks with the offset in 8-bit zero points; None for a type without offsets (Q4_0, Q5_0,
    Q6_K, Q8_0 repack exactly with no correction, so there is nothing to absorb)."""
    codes, scale, offset = decode_blocks(tensor)
    if offset is None:
        return None
    return absorb_offsets(codes, scale, offset, tensor.shape[1])
