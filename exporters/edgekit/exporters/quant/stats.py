"""Per-tensor quantization error, for progress lines and the export metrics.

Like llama2.c's ``export.py`` (which prints the max error of every quantized
tensor), each quantized weight reports its max absolute and relative RMS error
against the float weight it replaces.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["TensorError", "tensor_error", "summarize_errors"]


@dataclass(frozen=True)
class TensorError:
    name: str
    kind: str  # "q4", "q8", "gguf:Q4_1", "fp32", ...
    max_abs: float
    rel_rms: float  # ||W_q - W|| / ||W||
    nbytes: int

    def to_dict(self) -> dict:
        return asdict(self)


def tensor_error(name: str, kind: str, reference: np.ndarray, quantized: np.ndarray, nbytes: int) -> TensorError:
    # float32 differences with float64 sums: an export-time cost of ~1 s on 135M weights
    # (float64 copies of every tensor doubled it); exactness checks use repack_error instead.
    ref = np.asarray(reference, dtype=np.float32)
    diff = np.asarray(quantized, dtype=np.float32) - ref
    norm = (
        float(np.sqrt(np.einsum("ij,ij->", ref, ref, dtype=np.float64)))
        if ref.ndim == 2
        else float(np.linalg.norm(ref))
    )
    sq = (
        float(np.einsum("ij,ij->", diff, diff, dtype=np.float64))
        if diff.ndim == 2
        else float(np.sum(diff.astype(np.float64) ** 2))
    )
    return TensorError(
        name=name,
        kind=kind,
        max_abs=float(np.max(np.abs(diff))) if diff.size else 0.0,
        rel_rms=float(np.sqrt(sq) / norm) if norm > 0 else 0.0,
        nbytes=int(nbytes),
    )


def summarize_errors(errors: Iterable[TensorError]) -> dict:
    """Summary for TargetResult.metrics: worst tensors and the mean relative error."""
    errors = list(errors)
    if not errors:
        return {"tensors": 0}
    worst = max(errors, key=lambda e: e.max_abs)
    worst_rel = max(errors, key=lambda e: e.rel_rms)
    return {
        "tensors": len(errors),
        "max_abs_error": worst.max_abs,
        "max_abs_error_tensor": worst.name,
        "max_rel_rms_error": worst_rel.rel_rms,
        "max_rel_rms_error_tensor": worst_rel.name,
        "mean_rel_rms_error": float(np.mean([e.rel_rms for e in errors])),
        "quantized_bytes": int(sum(e.nbytes for e in errors)),
    }
