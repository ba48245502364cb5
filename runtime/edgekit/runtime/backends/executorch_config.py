"""``backend_config`` of an ExecuTorch bundle (the ``.pte`` program and its KV cache), beside ``executorch.py``.

Imports nothing heavy: the manifest validates an ExecuTorch bundle on a
machine without the ``executorch`` extra (``edgekit info``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from ..bundle_paths import BundlePath
from ..errors import SchemaError
from ..schema import MAX_CONTEXT_LIMIT, Meta, Name, check_path_field
from .configs import BackendConfig, register_config

if TYPE_CHECKING:
    from ..manifest import Manifest

__all__ = ["ExecuTorchKV", "ExecuTorchSpec", "LOGITS_LAST", "LOGITS_ALL"]

LOGITS_LAST: Final = "last"  # forward returns [1, vocab] for the last position
LOGITS_ALL: Final = "all"  # forward returns [1, S, vocab]
_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


@dataclass(frozen=True)
class ExecuTorchKV:
    """The KV cache as the program holds it (mutable buffers, one pair per layer)."""

    class Key:
        NUM_LAYERS = "num_layers"
        NUM_KV_HEADS = "num_kv_heads"
        HEAD_DIM = "head_dim"
        MAX_CONTEXT = "max_context"
        LAYOUT = "layout"
        DTYPE = "dtype"

    num_layers: Annotated[int, Meta(ge=1, le=1024)]
    num_kv_heads: Annotated[int, Meta(ge=1, le=1024)]
    head_dim: Annotated[int, Meta(ge=1, le=4096)]
    max_context: Annotated[int, Meta(ge=1, le=MAX_CONTEXT_LIMIT)]
    layout: Literal["BSHD"] = "BSHD"  # [1, max_context, kv_heads, head_dim]: llama::update_cache's layout
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"


@dataclass(frozen=True)
class ExecuTorchSpec(BackendConfig):
    """``backend_config`` of an ExecuTorch bundle.

    ``hidden_method``: the program's method that takes the same inputs as ``method`` and returns
    ``(logits, last_hidden)``, the second output the final normed hidden state of the same rows (the LM head's
    input; float32 [1, hidden], or [1, S, hidden] with ``logits: "all"``). The runtime runs it instead of
    ``method`` and exposes the state as ``Cache.last_hidden``. A separate method because ExecuTorch's C++ text
    runner refuses a ``forward`` with two outputs. None in bundles exported before it (no hidden state).
    """

    class Key:
        PROGRAM_FILE = "program_file"
        KV_CACHE = "kv_cache"
        MAX_SEQ_LEN = "max_seq_len"
        METHOD = "method"
        LOGITS = "logits"
        KERNELS = "kernels"
        QUANTIZATION = "quantization"
        CONSTANT_METHODS = "constant_methods"
        EXECUTORCH_VERSION = "executorch_version"
        HIDDEN_METHOD = "hidden_method"

    program_file: BundlePath  # the .pte program
    kv_cache: ExecuTorchKV
    # most tokens one forward call accepts (prompts are fed in chunks of this)
    max_seq_len: Annotated[int, Meta(ge=1, le=MAX_CONTEXT_LIMIT)]
    method: Name = "forward"
    logits: Literal["last", "all"] = LOGITS_LAST
    kernels: tuple[Name, ...] = ("quantized", "llm_custom_ops")  # registered before loading
    quantization: dict[str, Any] = field(default_factory=dict)
    constant_methods: dict[str, Any] = field(default_factory=dict)  # what the .pte answers to get_* calls
    executorch_version: str = ""
    # method returning (logits, final normed hidden state); None: the program has none (older bundles)
    hidden_method: Name | None = None

    def __post_init__(self) -> None:
        check_path_field(self.Key.PROGRAM_FILE, self.program_file)

    def opened_files(self) -> tuple[str, ...]:
        return (self.program_file,)

    def check(self, manifest: Manifest, where: str) -> None:
        if self.kv_cache.max_context != manifest.max_context:
            raise SchemaError(
                f"{where}: the program's KV cache holds {self.kv_cache.max_context} positions "
                f"(backend_config.kv_cache.max_context) but context.max_context is {manifest.max_context}; set it to "
                f"{self.kv_cache.max_context} or re-export the bundle"
            )
        if self.max_seq_len > manifest.max_context:
            raise SchemaError(
                f"{where}: backend_config.max_seq_len = {self.max_seq_len} exceeds context.max_context "
                f"{manifest.max_context}; set it to at most {manifest.max_context} or re-export"
            )

    def kv_cache_bytes(self, max_context: int) -> int:
        kv = self.kv_cache
        return 2 * kv.num_layers * kv.num_kv_heads * kv.head_dim * max_context * _DTYPE_BYTES[kv.dtype]


register_config("executorch")(ExecuTorchSpec)
