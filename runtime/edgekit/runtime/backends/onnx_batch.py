"""Batched decode for ONNX graphs with a batch dimension: several sequences' next tokens in one session run.

A cache group holds one KV buffer per past tensor with ``size`` rows, [size, kv_heads, max_context,
head_dim]; sequence ``r`` owns row ``r``. Its own prefill runs through [1, ...] views of that row (a C-contiguous
slice along the first axis, which ``OrtValue.ortvalue_from_numpy`` wraps without a copy), so the prompt lands
in place. A decode step of rows ``lo..lo+B-1`` binds [B, ...] views of the same buffers and an attention mask
whose row ``i`` has ``length_i + 1`` ones: ``ReduceSum(mask) - 1`` is GroupQueryAttention's per-row
``seqlens_k``, which places each new key/value at that row's own position and gives it that rotary position
(onnxruntime's GQA contract, ``docs/ContribOperators.md``; the genai builder feeds the same padded mask).
Rows must be contiguous: a gap would be decoded too, writing into a sequence that is not taking this step.

Measured on SmolLM2-135M (2 threads, this machine): logits of a batched step equal the one-sequence steps
within 2e-6. ``MatMulNBits`` has a GEMV kernel for one row; more rows take its GEMM path, whose cost depends
on the recipe (float activations dequantize the weights per call): see docs/benchmarks.md for the
aggregate tokens per second at 1, 2 and 4 streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import RuntimeGenerationError

if TYPE_CHECKING:
    from .base import Cache
    from .onnx import OnnxBackend, OnnxCache

__all__ = ["OnnxCacheGroup"]

_POSITION_IDS = "position_ids"


class _Span:
    """The binding of rows ``lo..lo+size-1``: past/present views, and the logits (and final hidden state)
    buffers decode writes into."""

    def __init__(self, group: OnnxCacheGroup, lo: int, size: int):
        backend = group.backend
        ort = group.ort
        self.binding = backend.session.io_binding()
        self._values: list[Any] = []  # OrtValues over the views; they must outlive the binding's use
        names = [pair for layer in backend.kv_names for pair in layer]
        for (past_name, present_name), buffer in zip(names, group.buffers):
            value = ort.OrtValue.ortvalue_from_numpy(buffer[lo : lo + size])
            self._values.append(value)
            self.binding.bind_ortvalue_input(past_name, value)
            self.binding.bind_ortvalue_output(present_name, value)
        self.logits = np.empty((size, 1, backend.vocab_size), dtype=np.float32)
        self._logits_value = ort.OrtValue.ortvalue_from_numpy(self.logits)
        self.binding.bind_ortvalue_output(backend.spec.logits, self._logits_value)
        # row i's hidden state, [1, hidden], is cache i's last_hidden until its next step (which rewrites it)
        self.hidden: np.ndarray | None = None
        if backend.hidden_name is not None:
            self.hidden = np.zeros((size, 1, backend.hidden_size), dtype=np.float32)
            self._hidden_value = ort.OrtValue.ortvalue_from_numpy(self.hidden)
            self.binding.bind_ortvalue_output(backend.hidden_name, self._hidden_value)
        if backend.has_keep:
            self.binding.bind_cpu_input(backend.spec.logits_to_keep, np.ones((1,), dtype=np.int64))


class OnnxCacheGroup:
    """``size`` OnnxCaches whose KV buffers are rows of shared tensors, decodable in one run."""

    def __init__(self, backend: OnnxBackend, size: int):
        import onnxruntime as ort

        from .onnx import OnnxCache

        self.backend = backend
        self.ort = ort
        spec = backend.spec.cache
        shape = (size, spec.num_kv_heads, backend.max_context, spec.head_dim)
        # np.zeros is calloc: a row's pages are touched (and counted in RSS) only as its positions fill
        self.buffers = [np.zeros(shape, dtype=backend.kv_dtype) for _ in range(2 * spec.num_layers)]
        self.caches: tuple[OnnxCache, ...] = tuple(
            OnnxCache(backend, rows=[b[r : r + 1] for b in self.buffers], group=self, row=r) for r in range(size)
        )
        self._spans: dict[tuple[int, int], _Span] = {}
        self._columns = np.arange(backend.max_context, dtype=np.int64)

    def can_decode(self, caches: Sequence[Cache]) -> bool:
        """True when ``caches`` are distinct rows of this group forming one contiguous run."""
        rows = sorted(getattr(c, "row", -1) for c in caches if getattr(c, "group", None) is self)
        return len(rows) == len(caches) and len(set(rows)) == len(rows) and rows[-1] - rows[0] == len(rows) - 1

    def decode(self, tokens: Sequence[int], caches: Sequence[Cache]) -> np.ndarray:
        """One step of each cache (see ``Backend.forward_batch``); ``can_decode(caches)`` must hold."""
        backend = self.backend
        order = sorted(range(len(caches)), key=lambda i: caches[i].row)  # type: ignore[attr-defined]
        ordered: list[OnnxCache] = [caches[i] for i in order]  # type: ignore[misc]
        lengths = np.array([c.length for c in ordered], dtype=np.int64)
        total = int(lengths.max()) + 1
        if total > backend.max_context:
            raise RuntimeGenerationError(
                f"{total} tokens exceed the bundle's max context {backend.max_context}; shorten the prompt or "
                "use context_policy='truncate'"
            )
        size = len(ordered)
        key = (ordered[0].row, size)
        span = self._spans.get(key)
        if span is None:
            span = self._spans[key] = _Span(self, *key)
        binding = span.binding
        spec = backend.spec
        ids = np.array([tokens[i] for i in order], dtype=np.int64).reshape(size, 1)
        binding.bind_cpu_input(spec.input_ids, ids)
        # row i: ones over its cached tokens and the new one, zeros after (GQA's seqlens_k is the row sum - 1)
        mask = (self._columns[:total] <= lengths[:, None]).astype(np.int64)
        binding.bind_cpu_input(spec.attention_mask, mask)
        if backend.has_positions:
            binding.bind_cpu_input(_POSITION_IDS, lengths.reshape(size, 1))
        try:
            backend.session.run_with_iobinding(binding)
        except Exception as exc:  # onnxruntime's own error types; one line, never a traceback
            raise RuntimeGenerationError(
                f"onnxruntime failed on a batched decode step of {size} sequences ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); re-export the bundle"
            ) from None
        for i, cache in enumerate(ordered):
            cache.length += 1
            if span.hidden is not None:
                cache.last_hidden = span.hidden[i]
        logits = np.empty((size, backend.vocab_size), dtype=np.float32)
        logits[order] = span.logits[:, 0, :]
        return logits
