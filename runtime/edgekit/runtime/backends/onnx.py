"""ONNX backend: one onnxruntime CPU session, KV cache preallocated and updated in place.

Edge defaults (measured with SmolLM2-135M on a 2-core x86_64 machine, 2 threads):
- intra-op threads = physical cores unless told (cpu.physical_cores);
- thread spinning off: on a busy 2-core machine spinning collapsed onnxruntime
  from 154 to 57 tok/s (``session.intra_op.allow_spinning = "0"``);
- the KV cache is one buffer per layer of length max_context, bound through
  IOBinding as both past input and present output; GroupQueryAttention's
  shared-buffer mode writes the new positions in place, so no per-token copy
  of the cache (the change that mattered; IOBinding alone gave nothing);
- the logits output of a decode step goes into a preallocated [1, 1, vocab] buffer, and so does the
  final hidden state (``backend_config.last_hidden``, [1, 1, hidden]) when the graph has it: a bound
  buffer costs no allocation per token, and ``cache.last_hidden`` is a view of it.

Graphs with ``cache.shared_buffer = False`` (e.g. the "web" profile, plain
Concat caches) are run the classic way: present outputs become the next past.

``Session.run_with_iobinding`` is thread-safe for distinct bindings; each
Cache owns its binding and buffers, so concurrent sequences share one session.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..cpu import physical_cores
from ..errors import BundleError, RuntimeGenerationError
from ..manifest import Manifest
from .base import Backend, BackendOptions, Cache, register_backend
from .onnx_config import OnnxGraphSpec

__all__ = ["OnnxBackend", "OnnxCache", "session_options"]

_POSITION_IDS = "position_ids"  # optional input of some graphs (not in the contract; fed when present)
MAX_BATCH = 32  # rows one batched decode call may hold (a cache group's size); far above what 2-8 cores use


def session_options(options: BackendOptions) -> Any:  # an onnxruntime.SessionOptions
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = options.threads or physical_cores()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    spin = "1" if options.allow_spinning else "0"
    so.add_session_config_entry("session.intra_op.allow_spinning", spin)
    so.add_session_config_entry("session.inter_op.allow_spinning", spin)
    so.log_severity_level = 3  # errors only: library code never prints
    return so


class OnnxCache(Cache):
    """KV buffers of one sequence plus its IOBinding."""

    def __init__(self, backend: OnnxBackend, rows: list[np.ndarray] | None = None, group: Any = None, row: int = 0):
        """``rows``: this sequence's [1, ...] views of a cache group's buffers (onnx_batch.py), one per
        past tensor in ``kv_names`` order; None allocates buffers of its own."""
        import onnxruntime as ort

        self.backend = backend
        self.length = 0
        self.group = group  # the OnnxCacheGroup this cache is row ``row`` of, or None
        self.row = row
        spec = backend.spec.cache
        self.binding = backend.session.io_binding()
        self._arrays: list[np.ndarray] = []  # keep numpy memory alive under the OrtValues
        self.past: list[object] = []
        self._ort = ort
        if spec.shared_buffer:
            shape = (1, spec.num_kv_heads, backend.max_context, spec.head_dim)
            views = iter(rows) if rows is not None else None
            for layer in range(spec.num_layers):
                for past_name, present_name in backend.kv_names[layer]:
                    # np.zeros is calloc: pages are touched (and counted in RSS) only as positions fill
                    arr = next(views) if views is not None else np.zeros(shape, dtype=backend.kv_dtype)
                    value = ort.OrtValue.ortvalue_from_numpy(arr)
                    self._arrays.append(arr)
                    self.past.append(value)
                    self.binding.bind_ortvalue_input(past_name, value)
                    self.binding.bind_ortvalue_output(present_name, value)
        else:
            self.reset()
        # decode steps write logits here instead of allocating a fresh output each token
        self._logits1 = np.empty((1, 1, backend.vocab_size), dtype=np.float32)
        self._logits1_value = ort.OrtValue.ortvalue_from_numpy(self._logits1)
        # ... and the final hidden state, when the graph exports it ([1, hidden] view: Cache.last_hidden)
        self._hidden1: np.ndarray | None = None
        self._hidden1_value: Any = None
        if backend.hidden_name is not None:
            self._hidden1 = np.zeros((1, 1, backend.hidden_size), dtype=np.float32)
            self._hidden1_value = ort.OrtValue.ortvalue_from_numpy(self._hidden1)

    def reset(self) -> None:
        self.length = 0
        self.last_hidden = None
        if self.backend.spec.cache.shared_buffer:
            return  # stale positions beyond `length` are masked out by the attention mask
        spec = self.backend.spec.cache
        empty = (1, spec.num_kv_heads, 0, spec.head_dim)
        self.past = []
        for layer in range(spec.num_layers):
            for past_name, _ in self.backend.kv_names[layer]:
                value = self._ort.OrtValue.ortvalue_from_numpy(np.zeros(empty, dtype=self.backend.kv_dtype))
                self.past.append(value)
                self.binding.bind_ortvalue_input(past_name, value)


@register_backend("onnx")
class OnnxBackend(Backend):
    def __init__(self, session: Any, spec: OnnxGraphSpec, manifest: Manifest, hidden_states: bool = True):
        self.session = session
        self.spec = spec
        self.manifest = manifest
        self._max_context = int(manifest.max_context)
        self._vocab = int(manifest.architecture.vocab_size)
        cache = spec.cache
        self.kv_dtype = np.dtype(cache.dtype)
        self.kv_names = [
            [
                (cache.past_key.format(layer=i), cache.present_key.format(layer=i)),
                (cache.past_value.format(layer=i), cache.present_value.format(layer=i)),
            ]
            for i in range(cache.num_layers)
        ]
        inputs = {i.name for i in session.get_inputs()}
        outputs = [o.name for o in session.get_outputs()]
        needed = [spec.input_ids] + [n for pair in self.kv_names for n, _ in pair]
        missing = [n for n in needed if n not in inputs]
        named_outputs = [spec.logits] + [p for pair in self.kv_names for _, p in pair]
        if spec.last_hidden is not None:
            named_outputs.append(spec.last_hidden)
        missing += [n for n in named_outputs if n not in outputs]
        if missing:
            raise BundleError(
                f"{spec.model_file}: graph lacks {', '.join(missing[:4])}{' …' if len(missing) > 4 else ''} "
                "named in edgekit.json backend_config; the manifest and the model do not match, re-export the bundle"
            )
        self.has_mask = spec.attention_mask in inputs
        self.has_keep = spec.logits_to_keep in inputs
        self.has_positions = _POSITION_IDS in inputs
        # the final hidden state output (None: a bundle exported before it, a graph without it, or not wanted)
        self.hidden_name: str | None = spec.last_hidden if hidden_states else None
        self.hidden_size = int(manifest.architecture.hidden_size)
        # Batched decode needs a batch dimension (graphs exported before it had a fixed 1), the shared
        # buffer (each sequence a row of one tensor) and the mask (per-row lengths reach seqlens_k).
        batch_dim = next(i.shape[0] for i in session.get_inputs() if i.name == spec.input_ids)
        batched = not isinstance(batch_dim, int) and cache.shared_buffer and self.has_mask
        self._max_batch = MAX_BATCH if batched else 1
        # one read-only row of ones; each step binds a prefix view (no allocation per token)
        self._ones = np.ones((1, self._max_context), dtype=np.int64)
        self._keep1 = np.ones((1,), dtype=np.int64)

    @classmethod
    def open(cls, folder: Path, manifest: Manifest, options: BackendOptions) -> OnnxBackend:
        import onnxruntime as ort

        from .ort_telemetry import disable_session_telemetry

        disable_session_telemetry(ort)

        spec = OnnxGraphSpec.from_dict(manifest.backend_config)
        path = Path(folder) / spec.model_file
        try:
            session = ort.InferenceSession(
                str(path), sess_options=session_options(options), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types, all Exception subclasses
            raise BundleError(
                f"onnxruntime cannot load {spec.model_file!r} ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:300]}); "
                "re-export the bundle or upgrade onnxruntime"
            ) from None
        return cls(session, spec, manifest, hidden_states=options.hidden_states)

    @property
    def max_context(self) -> int:
        return self._max_context

    @property
    def vocab_size(self) -> int:
        return self._vocab

    def new_cache(self) -> OnnxCache:
        return OnnxCache(self)

    @property
    def max_batch(self) -> int:
        return self._max_batch

    def new_cache_group(self, size: int) -> list[Cache]:
        if size < 2 or size > self._max_batch:
            return super().new_cache_group(size)
        from .onnx_batch import OnnxCacheGroup

        return list(OnnxCacheGroup(self, size).caches)

    def forward_batch(self, tokens: Sequence[int], caches: Sequence[Cache]) -> np.ndarray:
        group = getattr(caches[0], "group", None) if caches else None
        if group is None or not group.can_decode(caches):
            return super().forward_batch(tokens, caches)
        logits: np.ndarray = group.decode(tokens, caches)
        return logits

    def forward(self, tokens: np.ndarray, cache: Cache, logits_to_keep: int = 1) -> np.ndarray:
        assert isinstance(cache, OnnxCache)
        ids = np.ascontiguousarray(tokens, dtype=np.int64).reshape(1, -1)
        n = ids.shape[1]
        past = cache.length
        total = past + n
        if n == 0:
            raise RuntimeGenerationError("forward() needs at least one token")
        if total > self._max_context:
            raise RuntimeGenerationError(
                f"{total} tokens exceed the bundle's max context {self._max_context}; shorten the prompt or "
                "use context_policy='truncate'"
            )
        keep = max(1, min(int(logits_to_keep), n))
        spec = self.spec
        binding = cache.binding
        binding.bind_cpu_input(spec.input_ids, ids)
        if self.has_mask:
            binding.bind_cpu_input(spec.attention_mask, self._ones[:, :total])
        keep_arr = self._keep1 if keep == 1 else np.array([keep], dtype=np.int64)
        if self.has_keep:
            binding.bind_cpu_input(spec.logits_to_keep, keep_arr)
        if self.has_positions:
            positions = np.arange(past, total, dtype=np.int64).reshape(1, -1)
            binding.bind_cpu_input(_POSITION_IDS, positions)
        # A graph without logits_to_keep returns logits for every position: let onnxruntime allocate those.
        use_buffer = keep == 1 and (self.has_keep or n == 1)
        if use_buffer:
            binding.bind_ortvalue_output(spec.logits, cache._logits1_value)
        else:
            binding.bind_output(spec.logits, "cpu")
        hidden = self.hidden_name
        if hidden is not None:  # bound after logits, always: _bound_output_names relies on that order
            if use_buffer:
                binding.bind_ortvalue_output(hidden, cache._hidden1_value)
            else:
                binding.bind_output(hidden, "cpu")
        if not spec.cache.shared_buffer:
            for pair in self.kv_names:
                for _, present_name in pair:
                    binding.bind_output(present_name, "cpu")
        try:
            self.session.run_with_iobinding(binding)
        except Exception as exc:  # onnxruntime's Fail/InvalidArgument: a graph/manifest mismatch, never a traceback
            raise RuntimeGenerationError(
                f"onnxruntime failed at positions {past}..{total} ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); the manifest and {spec.model_file!r} "
                "disagree (e.g. context.max_context above the graph's), re-export the bundle"
            ) from None
        logits: np.ndarray  # float32 [keep, vocab]
        if use_buffer:
            logits = cache._logits1[0].copy()
            if cache._hidden1 is not None:
                cache.last_hidden = cache._hidden1[0]  # a view: the next forward overwrites it
        else:
            outputs = binding.get_outputs()
            bound = self._bound_output_names(spec.cache.shared_buffer)
            logits = outputs[bound.index(spec.logits)].numpy()[0, -keep:]
            if hidden is not None:
                cache.last_hidden = outputs[bound.index(hidden)].numpy()[0, -keep:]
        if not spec.cache.shared_buffer:
            outputs = binding.get_outputs()
            bound = self._bound_output_names(False)
            cache.past = []
            for pair in self.kv_names:
                for past_name, present_name in pair:
                    value = outputs[bound.index(present_name)]
                    cache.past.append(value)
                    binding.bind_ortvalue_input(past_name, value)
        cache.length = total
        return logits

    def _bound_output_names(self, shared: bool) -> list[str]:
        # IOBinding returns outputs in the order they were first bound: KV (shared: at cache creation), then
        # logits and the hidden state
        kv = [p for pair in self.kv_names for _, p in pair]
        head = [self.spec.logits] + ([self.hidden_name] if self.hidden_name is not None else [])
        return kv + head if shared else head + kv
