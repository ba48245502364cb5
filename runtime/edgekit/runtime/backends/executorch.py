"""ExecuTorch backend: runs the ``.pte`` written by ``edgekit export --target executorch``.

The program's ``forward(tokens int64 [1, S], input_pos int64 [1])`` keeps the
KV cache inside the loaded method as mutable buffers (ExecuTorch's fused
``llama::update_cache`` / ``llama::custom_sdpa``), so a call sends only the
new tokens and their start position: a prompt is one call (up to
``max_seq_len`` tokens), a decode step is one token. Nothing is copied per
token and the cache needs no reset: attention is causal from ``input_pos``,
so positions past ``Cache.length`` are never read (only the KV
buffers would be resettable, the rotary tables are constants).

The program returns logits for the last position only (what ExecuTorch's
C++ runner expects, and what generation needs). For ``logits_to_keep = K > 1``
(validation's teacher forcing) the backend feeds the first ``S - K + 1``
tokens in one call and the remaining ``K - 1`` one at a time, reading one row
per call: the same numbers a full-logits graph would give, at decode speed.
A program exported with ``logits: "all"`` returns every row and is sliced.

The final hidden state: programs that have ``backend_config.hidden_method`` (a
second method, ``(logits, hidden)`` for the same rows, beside the
single-output ``forward`` the C++ runner needs) are run through that method
instead, and each forward sets ``cache.last_hidden`` [rows kept, hidden] from
its second output (a few hundred floats per row, copied out by ExecuTorch
like the logits). Older programs run ``forward`` and leave it None.

Dependencies: this module imports nothing heavy at import time (the runtime's
backend registry imports it only for ExecuTorch bundles). ``open()`` imports
``executorch`` and ``torch``: every ExecuTorch Python binding links torch's
shared libraries, which is why the ONNX runtime path stays torch-free and
this backend needs the ``executorch`` extra. The quantized kernels
(``embedding_byte``) and the LLM custom ops must be registered before a
program that uses them is loaded.

Caches share the one loaded method. ExecuTorch keeps mutable buffers (the
KV cache) inside the method's memory arena, and a program shares one arena
among its methods, so a second sequence cannot have buffers of its own
without loading the whole program (and XNNPACK's packed weights) again.
Instead each ``Cache`` keeps its token history, and when calls switch from one
cache to another the incoming sequence is replayed (one prefill call per
``max_seq_len`` tokens) to rebuild its KV state. One sequence at a time (the
runtime's pool, the CLI, validation) never replays; interleaved sequences are
correct but pay a prefill per switch. Calls are serialized by a lock.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BundleError, DependencyError, RuntimeGenerationError
from ..manifest import Manifest
from .base import Backend, BackendOptions, Cache, register_backend
from .executorch_config import LOGITS_ALL, LOGITS_LAST, ExecuTorchKV, ExecuTorchSpec  # noqa: F401  (re-exported)

__all__ = [
    "ExecuTorchSpec",
    "ExecuTorchKV",
    "ExecuTorchBackend",
    "ExecuTorchCache",
    "import_executorch_runtime",
    "LOGITS_ALL",
    "LOGITS_LAST",
]


def import_executorch_runtime(what: str = "the executorch backend") -> tuple[Any, Any]:
    """Import ExecuTorch's runtime with the kernels edgekit programs use; returns ``(Runtime, torch)``.

    A missing package raises ``DependencyError`` naming the ``executorch`` extra.
    """
    try:
        # Registration order matters: kernels first, then programs that call them.
        import executorch.kernels.quantized  # noqa: F401  quantized_decomposed::embedding_byte
        import torch
        from executorch.extension.llm.custom_ops import custom_ops  # noqa: F401  llama::update_cache / custom_sdpa
        from executorch.runtime import Runtime
    except ModuleNotFoundError as exc:
        raise DependencyError(what, "executorch", exc.name) from None
    return Runtime, torch


_THREADS_LOCK = threading.Lock()
_PROGRAM_LOADED = False  # once a program runs, the threadpool must not be replaced (see _set_threads)


def _set_threads(threads: int) -> None:
    """Size ExecuTorch's process-wide threadpool, only before the first program is loaded.

    XNNPACK delegates keep a pointer to the pool they were initialized with:
    ``_unsafe_reset_threadpool`` after a program has run makes that program's
    next call segfault (measured). Later loads therefore share the first
    load's thread count.
    """
    try:
        from executorch.extension.pybindings import portable_lib
    except ImportError:  # pragma: no cover - same wheel as the runtime
        return
    with _THREADS_LOCK:
        if not _PROGRAM_LOADED and portable_lib._threadpool_get_thread_count() != threads:
            portable_lib._unsafe_reset_threadpool(threads)


class ExecuTorchCache(Cache):
    """One sequence: its length and token history (the KV buffers live in the shared method)."""

    def __init__(self, owner: ExecuTorchBackend):
        self.length = 0
        self.history: list[np.ndarray] = []  # token chunks consumed so far, for a replay after a switch
        self._owner = owner

    def reset(self) -> None:
        # Causal attention from input_pos never reads past `length`: nothing to clear in the buffers.
        self.length = 0
        self.history = []
        self.last_hidden = None


@register_backend("executorch")
class ExecuTorchBackend(Backend):
    def __init__(
        self,
        path: Path,
        spec: ExecuTorchSpec,
        manifest: Manifest,
        runtime: Any,
        torch: Any,
        program: Any,
        hidden_states: bool = True,
    ):
        self.path = path
        self.spec = spec
        self.manifest = manifest
        self._runtime = runtime
        self._torch = torch
        self._program = program
        self._max_context = int(manifest.max_context)
        self._vocab = int(manifest.architecture.vocab_size)
        # Only the method that runs is loaded: each loaded method plans its own KV buffers and delegates.
        self._hidden = spec.hidden_method is not None and hidden_states
        self._method = program.load_method(spec.hidden_method if self._hidden else spec.method)
        # Decode steps reuse these two tensors (one token, one position): no allocation per token.
        self._token1 = torch.zeros((1, 1), dtype=torch.long)
        self._pos1 = torch.zeros((1,), dtype=torch.long)
        self._lock = threading.Lock()
        self._resident: ExecuTorchCache | None = None  # the cache whose tokens the method's KV buffers hold
        self.replays = 0  # sequence switches that needed a replay (tests and benchmarks read it)

    @classmethod
    def open(cls, folder: Path, manifest: Manifest, options: BackendOptions) -> ExecuTorchBackend:
        spec = ExecuTorchSpec.from_dict(manifest.backend_config)
        runtime_cls, torch = import_executorch_runtime()
        from ..cpu import physical_cores

        _set_threads(options.threads or physical_cores())
        path = Path(folder) / spec.program_file
        runtime = runtime_cls.get()
        program = cls._load(runtime, path, spec)
        if spec.kv_cache.max_context != int(manifest.max_context):
            raise BundleError(
                f"edgekit.json: the program's KV cache holds {spec.kv_cache.max_context} positions but the manifest "
                f"says max_context {manifest.max_context}; re-export the bundle"
            )
        return cls(path, spec, manifest, runtime, torch, program, hidden_states=options.hidden_states)

    @staticmethod
    def _load(runtime: Any, path: Path, spec: ExecuTorchSpec) -> Any:
        global _PROGRAM_LOADED
        try:
            _PROGRAM_LOADED = True
            program = runtime.load_program(path)
        except (RuntimeError, ValueError) as exc:  # the pybinding raises RuntimeError on a bad/truncated file
            raise BundleError(
                f"ExecuTorch cannot load {spec.program_file!r} "
                f"({str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}); "
                "re-export the bundle or install the executorch version it was made with "
                f"({spec.executorch_version or 'unknown'})"
            ) from None
        for method in (spec.method, spec.hidden_method):
            if method is not None and method not in program.method_names:
                raise BundleError(
                    f"{spec.program_file}: no method {method!r} (has {', '.join(sorted(program.method_names))}); "
                    "the manifest and the program do not match, re-export the bundle"
                )
        return program

    @property
    def max_context(self) -> int:
        return self._max_context

    @property
    def vocab_size(self) -> int:
        return self._vocab

    def new_cache(self) -> ExecuTorchCache:
        return ExecuTorchCache(self)

    def _execute(self, ids: np.ndarray, start: int) -> tuple[Any, Any]:
        """One call of the program: (logits, hidden state or None) as torch tensors."""
        if ids.shape[0] == 1:
            self._token1[0, 0] = int(ids[0])
            tokens = self._token1
        else:
            tokens = self._torch.from_numpy(ids).view(1, -1)
        self._pos1[0] = start
        try:
            outputs = self._method.execute([tokens, self._pos1])
        except RuntimeError as exc:
            raise RuntimeGenerationError(f"ExecuTorch forward failed at position {start} ({exc})") from None
        if len(outputs) != (2 if self._hidden else 1):
            raise RuntimeGenerationError(
                f"{self.spec.program_file}: the method returned {len(outputs)} outputs, expected "
                f"{'logits and the hidden state' if self._hidden else 'the logits only'}; the manifest and the "
                "program do not match, re-export the bundle"
            )
        return outputs[0], (outputs[1] if self._hidden else None)

    def _make_resident(self, cache: ExecuTorchCache) -> None:
        if self._resident is cache:
            return
        if cache.length:
            self.replays += 1
            done = np.concatenate(cache.history)
            for begin in range(0, done.shape[0], self.spec.max_seq_len):
                self._execute(done[begin : begin + self.spec.max_seq_len], begin)
        self._resident = cache

    def _call(self, cache: ExecuTorchCache, ids: np.ndarray) -> tuple[Any, Any]:
        out = self._execute(ids, cache.length)
        cache.history.append(ids.copy())  # the caller may reuse its array
        cache.length += ids.shape[0]
        return out

    def forward(self, tokens: np.ndarray, cache: Cache, logits_to_keep: int = 1) -> np.ndarray:
        if not isinstance(cache, ExecuTorchCache) or cache._owner is not self:
            raise RuntimeGenerationError(
                "this cache was not created by this ExecuTorch backend; use backend.new_cache()"
            )
        ids = np.ascontiguousarray(tokens, dtype=np.int64).reshape(-1)
        n = ids.shape[0]
        if n == 0:
            raise RuntimeGenerationError("forward() needs at least one token")
        total = cache.length + n
        if total > self._max_context:
            raise RuntimeGenerationError(
                f"{total} tokens exceed the bundle's max context {self._max_context}; shorten the prompt or "
                "use context_policy='truncate'"
            )
        keep = max(1, min(int(logits_to_keep), n))
        with self._lock:
            self._make_resident(cache)
            if self.spec.logits == LOGITS_ALL:
                return self._forward_all(ids, cache, keep)
            return self._forward_last(ids, cache, keep)

    def _forward_last(self, ids: np.ndarray, cache: ExecuTorchCache, keep: int) -> np.ndarray:
        n = ids.shape[0]
        if keep == 1 and n <= self.spec.max_seq_len:  # every generation call: one execute, one row
            logits, hidden = self._call(cache, ids)
            # ExecuTorch copies outputs out on every call: views of them stay valid after the next forward
            cache.last_hidden = None if hidden is None else hidden.numpy().reshape(1, -1)
            row: np.ndarray = logits.numpy().reshape(1, -1)
            return row
        rows: list[np.ndarray] = []
        states: list[np.ndarray] = []
        # Everything before the last `keep - 1` tokens goes in as few calls as max_seq_len allows;
        # the last of them yields the first kept row.
        head = n - keep + 1
        out = None
        for begin in range(0, head, self.spec.max_seq_len):
            out = self._call(cache, ids[begin : min(begin + self.spec.max_seq_len, head)])
        assert out is not None  # head >= 1 (keep <= n), so the loop ran
        for i in range(head, n + 1):
            logits, hidden = out
            rows.append(logits.numpy().reshape(-1))
            if hidden is not None:
                states.append(hidden.numpy().reshape(-1))
            if i < n:
                out = self._call(cache, ids[i : i + 1])
        cache.last_hidden = np.stack(states).astype(np.float32, copy=False) if states else None
        return np.stack(rows).astype(np.float32, copy=False)

    def _forward_all(self, ids: np.ndarray, cache: ExecuTorchCache, keep: int) -> np.ndarray:
        n = ids.shape[0]
        parts: list[np.ndarray] = []
        states: list[np.ndarray] = []
        for begin in range(0, n, self.spec.max_seq_len):
            chunk = ids[begin : begin + self.spec.max_seq_len]
            logits, hidden = self._call(cache, chunk)
            if begin + chunk.shape[0] > n - keep:  # only chunks that hold kept rows
                parts.append(logits.numpy().reshape(chunk.shape[0], -1))
                if hidden is not None:
                    states.append(hidden.numpy().reshape(chunk.shape[0], -1))
        cache.last_hidden = np.concatenate(states)[-keep:].astype(np.float32, copy=False) if states else None
        return np.concatenate(parts)[-keep:].astype(np.float32, copy=False)

    def close(self) -> None:
        self._method = None
        self._program = None
        self._resident = None
