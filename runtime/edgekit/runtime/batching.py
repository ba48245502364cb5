"""DecodeBatcher: concurrent generations share one forward call per decode step.

Each generation keeps its own thread and its own loop (generation.py is unchanged): it calls
``forward(token, cache)`` as always. The batcher is a Backend wrapped around the real one; it hands out the
rows of one cache group (``Backend.new_cache_group``) and, when several sequences ask for their next token,
one of the callers (the leader) collects every decoding sequence's step, runs them as one
``forward_batch`` and hands each caller its row of logits. This is the scheme of continuous batching servers
(vLLM, llama-server's ``--parallel`` slots), kept to what a device needs: a fixed number of slots, no paging.

Rules:
- prefill (more than one token, or a sequence's first token) runs alone on the caller's thread;
- the leader waits until every decoding sequence has asked, or ``wait_s`` passed (half a step when steps are
  slower than that): one slow caller, e.g. a client that reads slowly, cannot stall the others longer;
- whether to batch k rows or run them one after another is measured, not assumed: MatMulNBits' one-row
  kernel is a GEMV, more rows take a GEMM path with a fixed cost per call, so on float-activation recipes two
  rows can cost more than two single steps (measured on SmolLM2-135M, 2 threads: one step 12 ms, two rows
  27 ms, four rows 35 ms). The batcher keeps the mean time of each size and batches when that is cheaper
  per token, re-measuring now and then;
- a sequence beyond the group's rows gets a cache of its own and decodes alone.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backends.base import Backend, BackendOptions, Cache
from .manifest import Manifest

__all__ = ["DecodeBatcher"]

WAIT_S = 0.004  # longest wait for the other sequences' steps (a decode step of the default model is ~12 ms)
_WARMUP = 1  # first timing of each batch size dropped (onnxruntime plans buffers for a new shape)
_SAMPLES = 3  # timings of a size before the batch-or-not decision trusts its mean
_REMEASURE = 256  # decisions between re-measurements of a size the batcher stopped using


class _SlotCache(Cache):
    """One row of the group, lent to one generation at a time."""

    def __init__(self, batcher: DecodeBatcher, inner: Cache, slot: int):
        self.batcher = batcher
        self.inner = inner
        self.slot = slot
        self.decoding = False  # has asked for a decode step since it was lent

    @property
    def length(self) -> int:  # type: ignore[override]  # the row's own count; only backends advance it
        return self.inner.length

    @property
    def last_hidden(self) -> np.ndarray | None:  # type: ignore[override]  # the row's own, set by its steps
        return self.inner.last_hidden

    def reset(self) -> None:
        self.inner.reset()
        self.batcher._give_back(self)


@dataclass
class _Step:
    token: int
    cache: _SlotCache
    logits: np.ndarray | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class _Timing:
    """Mean seconds of one call of a batch size (after warm-up)."""

    seen: int = 0
    total: float = 0.0
    skipped: int = 0  # decisions since this size last ran
    samples: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.seen += 1
        self.skipped = 0
        if self.seen > _WARMUP:
            self.samples = [*self.samples[-(_SAMPLES * 4 - 1) :], seconds]

    @property
    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if len(self.samples) >= _SAMPLES else None


class DecodeBatcher(Backend):
    """Wraps ``inner`` (``inner.max_batch >= slots``) so up to ``slots`` generations decode together."""

    name = "batched"
    pools_caches = True  # caches go back to the batcher on reset(); LocalModel keeps no idle ones

    def __init__(self, inner: Backend, slots: int, wait_s: float = WAIT_S):
        if slots < 2 or inner.max_batch < slots:
            raise ValueError(f"DecodeBatcher needs 2 <= slots <= inner.max_batch ({inner.max_batch}), got {slots}")
        self.inner = inner
        self.wait_s = wait_s
        self._slots = [_SlotCache(self, cache, i) for i, cache in enumerate(inner.new_cache_group(slots))]
        self._free = set(range(slots))
        self._cond = threading.Condition()
        self._pending: list[_Step] = []
        self._leading = False
        self._timings: dict[int, _Timing] = {}
        self._last_call_s = 0.0
        self.calls: Counter[int] = Counter()  # forward calls by number of sequences decoded in them

    @classmethod
    def open(cls, folder: Path, manifest: Manifest, options: BackendOptions) -> Backend:  # pragma: no cover
        raise TypeError("DecodeBatcher wraps an opened backend: DecodeBatcher(backend, slots)")

    @property
    def max_context(self) -> int:
        return self.inner.max_context

    @property
    def vocab_size(self) -> int:
        return self.inner.vocab_size

    @property
    def max_batch(self) -> int:
        return len(self._slots)

    @property
    def slots(self) -> int:
        return len(self._slots)

    def new_cache(self) -> Cache:
        with self._cond:
            if self._free:
                slot = self._slots[min(self._free)]  # lowest free row: busy rows stay contiguous
                self._free.discard(slot.slot)
                slot.decoding = False
                return slot
        return self.inner.new_cache()  # more generations than rows: this one decodes alone

    def _give_back(self, slot: _SlotCache) -> None:
        with self._cond:
            slot.decoding = False
            self._free.add(slot.slot)
            self._cond.notify_all()  # a leader waiting for this sequence's step stops waiting

    def close(self) -> None:
        self.inner.close()

    # -- the step ------------------------------------------------------------------------------
    def forward(self, tokens: np.ndarray, cache: Cache, logits_to_keep: int = 1) -> np.ndarray:
        if not isinstance(cache, _SlotCache):
            return self.inner.forward(tokens, cache, logits_to_keep)
        if len(tokens) != 1 or cache.length == 0:
            return self.inner.forward(tokens, cache.inner, logits_to_keep)  # prefill: alone, on this thread
        step = _Step(int(tokens[0]), cache)
        with self._cond:
            cache.decoding = True
            self._pending.append(step)
            self._cond.notify_all()
            while not step.done and self._leading:
                self._cond.wait()
            if step.done:
                return self._result(step)
            self._leading = True
            batch = self._collect()
        try:
            self._run(batch)
        finally:
            with self._cond:
                self._leading = False
                self._cond.notify_all()
        return self._result(step)

    def _collect(self) -> list[_Step]:
        """Under the lock: wait for the other decoding sequences' steps (or ``wait_s``), take them all."""
        # wait at most wait_s, or half the last call when steps are slower (a big model, a slow or emulated CPU):
        # a sequence that misses a batch then waits no longer than that fraction of a step
        deadline = time.monotonic() + max(self.wait_s, 0.5 * self._last_call_s)
        while True:
            decoding = sum(1 for s in self._slots if s.decoding and s.slot not in self._free)
            remaining = deadline - time.monotonic()
            if len(self._pending) >= decoding or remaining <= 0:
                break
            self._cond.wait(remaining)
        batch, self._pending = self._pending, []
        return batch

    def _run(self, batch: list[_Step]) -> None:
        try:
            for run in _contiguous_runs(batch):
                if len(run) > 1 and self._batch_pays(len(run)):
                    self._call(run)
                else:
                    for step in run:
                        self._call([step])
        except BaseException as exc:  # every waiting caller sees the failure as its own
            for step in batch:
                if not step.done:
                    step.error = exc
            raise
        finally:
            with self._cond:
                for step in batch:
                    step.done = True

    def _call(self, run: list[_Step]) -> None:
        started = time.perf_counter()
        logits = self.inner.forward_batch([s.token for s in run], [s.cache.inner for s in run])
        self._last_call_s = time.perf_counter() - started
        self._timings.setdefault(len(run), _Timing()).add(self._last_call_s)
        self.calls[len(run)] += 1
        for step, row in zip(run, logits):
            step.logits = row[None, :]

    def _batch_pays(self, size: int) -> bool:
        timing = self._timings.setdefault(size, _Timing())
        one = self._timings.get(1)
        batched, single = timing.mean, one.mean if one is not None else None
        if batched is None or single is None:
            return batched is None  # measure the batch first; then the single steps it is compared with
        if batched < size * single:
            return True
        timing.skipped += 1
        return timing.skipped >= _REMEASURE  # now and then measure again (load and lengths change)

    @staticmethod
    def _result(step: _Step) -> np.ndarray:
        if step.error is not None:
            raise step.error
        assert step.logits is not None
        return step.logits


def _contiguous_runs(batch: Sequence[_Step]) -> list[list[_Step]]:
    """Steps split into runs of consecutive rows (a batched call decodes one contiguous span)."""
    runs: list[list[_Step]] = []
    for step in sorted(batch, key=lambda s: s.cache.slot):
        if runs and runs[-1][-1].cache.slot == step.cache.slot - 1:
            runs[-1].append(step)
        else:
            runs.append([step])
    return runs
