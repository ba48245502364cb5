"""The backend seam: one small interface every inference engine implements.

Prefill, decode, sampling, stopping and confidence live once, in the generator
above this seam (ExecuTorch's runner does the same: one abstract
``forward(tokens, input_pos) -> logits`` under a shared ``generate()``,
``examples/models/llama/runner/generation.py``). A backend only turns token ids
plus a cache into next-token logits.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar

import numpy as np

from ..manifest import Manifest
from ..registry import Registry

__all__ = ["BackendOptions", "Cache", "Backend", "BACKENDS", "register_backend"]


@dataclass(frozen=True)
class BackendOptions:
    threads: int | None = None  # intra-op threads; None = physical cores
    allow_spinning: bool = False  # load() decides it from the CPUs' idleness (spinning.py)
    prefill_chunk: int = 256  # longest prompt slice per forward call
    hidden_states: bool = True  # read the final hidden state output when the model has one (Cache.last_hidden)


class Cache(ABC):
    """Per-sequence state (KV buffers). ``length`` = tokens already consumed.

    ``last_hidden``: the final normed hidden state (the LM head's input) of the positions the last ``forward``
    returned logits for, float32 [logits_to_keep, hidden], or None when the backend's model has no such output.
    It may be a view of a buffer the next ``forward`` on this cache overwrites: copy what you keep.
    """

    length: int = 0
    last_hidden: np.ndarray | None = None

    @abstractmethod
    def reset(self) -> None:
        """Forget all tokens (keeps the allocated buffers)."""


class Backend(ABC):
    """Runs the model. Not thread-safe per Cache; one Cache per concurrent sequence."""

    name: ClassVar[str]
    pools_caches: ClassVar[bool] = False  # True: caches return to the backend on reset() (LocalModel keeps none)

    @classmethod
    @abstractmethod
    def open(cls, folder: Path, manifest: Manifest, options: BackendOptions) -> Backend:
        """Create the backend for a verified bundle folder."""

    @property
    @abstractmethod
    def max_context(self) -> int: ...

    @property
    @abstractmethod
    def vocab_size(self) -> int: ...

    @abstractmethod
    def new_cache(self) -> Cache: ...

    @abstractmethod
    def forward(self, tokens: np.ndarray, cache: Cache, logits_to_keep: int = 1) -> np.ndarray:
        """Consume ``tokens`` (int64, 1-D) after ``cache.length`` cached tokens.

        Returns float32 logits of shape [logits_to_keep, vocab] for the last
        positions, and advances ``cache.length`` by ``len(tokens)``. A backend whose
        model exposes the hidden state sets ``cache.last_hidden`` (see ``Cache``).
        """

    # -- batched decode (optional): several sequences' next tokens in one call ----------------
    @property
    def max_batch(self) -> int:
        """Sequences one ``forward_batch`` call really decodes together (1: none, it loops)."""
        return 1

    def new_cache_group(self, size: int) -> list[Cache]:
        """``size`` caches that ``forward_batch`` may decode in one call. Default: independent caches."""
        return [self.new_cache() for _ in range(size)]

    def forward_batch(self, tokens: Sequence[int], caches: Sequence[Cache]) -> np.ndarray:
        """One decode step of several sequences: ``tokens[i]`` after ``caches[i]``.

        Returns float32 logits [len(caches), vocab] and advances each cache by one. The default runs one
        ``forward`` per sequence (the same numbers, no speed-up); a backend whose graph has a batch dimension
        overrides it for caches of one ``new_cache_group``.
        """
        rows = [self.forward(np.array([token], dtype=np.int64), cache)[-1] for token, cache in zip(tokens, caches)]
        return np.stack(rows)

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default  # pragma: no cover
        """Release native resources."""


BACKENDS: Registry[type[Backend]] = Registry("backend")


_BackendT = TypeVar("_BackendT", bound="type[Backend]")


def register_backend(name: str) -> Callable[[_BackendT], _BackendT]:
    """Class decorator: ``@register_backend("onnx") class OnnxBackend(Backend)``."""

    def decorate(cls: _BackendT) -> _BackendT:
        cls.name = name
        BACKENDS.add(name, cls)
        return cls  # what add returned, typed as the subclass

    return decorate
