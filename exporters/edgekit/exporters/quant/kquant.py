"""A better-than-round-to-nearest block quantizer: per-block scale search.

Round to nearest on the block's extremes wastes code points on outliers.
llama.cpp's k-quants (``make_qkx2_quants`` in ggml-quants.c) instead try a
sweep of candidate scales per block, re-fit scale and offset by least squares
for the codes each candidate produces, and keep the candidate with the least
squared error. This is that search, vectorized over all blocks, adapted to
MatMulNBits' format: the zero point must be an *integer* code (a float zero
point falls onto onnxruntime's slow kernel, FINDINGS), so every candidate is
scored after its offset is rounded to an integer zero point, and a final
least-squares pass re-fits the scale for the chosen codes.

Measured on SmolLM2-135M (see the graph engineer's report / status file):
int4-kquant beats int4-rtn on weight error and on teacher-forced top-1
agreement, which is why the ``int4`` recipe uses it.
"""

from __future__ import annotations

import numpy as np

from .blocks import QuantizedMatrix, block_view

__all__ = ["quantize_kquant"]

# Candidate inverse-scale offsets around (qmax / range), as in make_qkx2_quants
# (rmin=-1, rdelta=0.1, nstep=20); a narrower sweep keeps export time low and
# measured no worse on SmolLM2 (the best candidates cluster near 0).
_SWEEP = np.arange(-1.0, 1.01, 0.2, dtype=np.float32)
_ROWS_PER_CHUNK = 4096  # bounds peak memory: chunk × k_blocks × 32 × candidates


def _fit(blocks: np.ndarray, q: np.ndarray, qmax: int):
    """Least-squares scale and integer zero point for fixed codes; returns (scale, zp, codes, err)."""
    # Model w ≈ s*q + m, closed form per block.
    n = blocks.shape[-1]
    sq = q.sum(-1)
    sw = blocks.sum(-1)
    sqq = (q * q).sum(-1)
    sqw = (q * blocks).sum(-1)
    det = n * sqq - sq * sq
    safe = np.where(det > 0, det, 1.0)
    s = np.where(det > 0, (n * sqw - sq * sw) / safe, 0.0)
    m = np.where(det > 0, (sqq * sw - sq * sqw) / safe, sw / n)
    s_safe = np.where(s > 0, s, 1.0)
    zp = np.clip(np.rint(-m / s_safe), 0, qmax)
    zp = np.where(s > 0, zp, 0.0)
    inv = np.where(s > 0, 1.0 / s_safe, 0.0)
    codes = np.clip(np.rint(blocks * inv[..., None]) + zp[..., None], 0, qmax)
    # Re-fit the scale alone for the integer zero point: s = Σ w·c / Σ c², c = q - zp.
    c = codes - zp[..., None]
    cc = (c * c).sum(-1)
    s2 = np.where(cc > 0, (c * blocks).sum(-1) / np.where(cc > 0, cc, 1.0), 0.0)
    err = ((s2[..., None] * c - blocks) ** 2).sum(-1)
    return s2, zp, codes, err


def quantize_kquant(w: np.ndarray, bits: int, block_size: int) -> QuantizedMatrix:
    """Asymmetric block quantization with an integer zero point chosen by error search."""
    blocks_all = block_view(w, block_size)
    n, kb, bs = blocks_all.shape
    qmax = (1 << bits) - 1
    scales = np.empty((n, kb), np.float32)
    zps = np.empty((n, kb), np.uint8)
    codes_out = np.empty((n, kb, bs), np.uint8)
    for start in range(0, n, _ROWS_PER_CHUNK):
        blocks = blocks_all[start : start + _ROWS_PER_CHUNK]
        lo = np.minimum(blocks.min(-1), 0.0)
        hi = np.maximum(blocks.max(-1), 0.0)
        span = np.where(hi > lo, hi - lo, 1.0)
        # Start from round-to-nearest itself, so the search can only improve on it.
        best_s = np.where(hi > lo, (hi - lo) / qmax, 0.0).astype(np.float32)
        inv = np.where(best_s > 0, 1.0 / np.where(best_s > 0, best_s, 1.0), 0.0)
        best_zp = np.clip(np.rint(-lo * inv), 0, qmax)
        best_codes = np.clip(np.rint(blocks * inv[..., None]) + best_zp[..., None], 0, qmax)
        best_err = ((best_s[..., None] * (best_codes - best_zp[..., None]) - blocks) ** 2).sum(-1)
        for delta in _SWEEP:
            iscale = (qmax + delta) / span
            q = np.clip(np.rint((blocks - lo[..., None]) * iscale[..., None]), 0, qmax)
            s, zp, codes, err = _fit(blocks, q, qmax)
            better = err < best_err
            best_err = np.where(better, err, best_err)
            best_s = np.where(better, s, best_s)
            best_zp = np.where(better, zp, best_zp)
            best_codes = np.where(better[..., None], codes, best_codes)
        stop = start + blocks.shape[0]
        scales[start:stop] = best_s
        zps[start:stop] = best_zp.astype(np.uint8)
        codes_out[start:stop] = best_codes.astype(np.uint8)
    return QuantizedMatrix(bits, block_size, w.shape[1], codes_out, scales, zps)
