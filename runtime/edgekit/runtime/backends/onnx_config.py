"""``backend_config`` of an ONNX bundle: the decoder graph's file, I/O names and KV-cache layout.

Lives beside ``onnx.py`` (the backend) and imports neither numpy nor
onnxruntime, so ``edgekit info`` and the exporter read it cheaply.
``edgekit.runtime.manifest`` re-exports both classes (older imports keep working).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

from ..bundle_paths import BundlePath
from ..errors import SchemaError
from ..schema import MAX_CONTEXT_LIMIT, Meta, Name, check_path_field, field_error
from .configs import BackendConfig, register_config

if TYPE_CHECKING:
    from ..manifest import Manifest

__all__ = ["CacheSpec", "OnnxGraphSpec", "KV_DTYPES"]

# numpy dtype name -> bytes per element; the ONNX backend allocates the cache with np.zeros(dtype=...)
KV_DTYPES: dict[str, int] = {"float32": 4, "float16": 2}
_LAYER = "{layer}"


def _check_template(value: str, key: str) -> None:
    # past/present names are str.format templates: anything but {layer} would raise inside the backend
    try:
        ok = _LAYER in value and value.format(layer=0) != value.format(layer=1)
    except (KeyError, IndexError, ValueError, AttributeError):
        ok = False
    if not ok:
        raise ValueError(f"{key} {value!r} must name each layer with {{layer}} (like 'present.{{layer}}.key')")


@dataclass(frozen=True)
class CacheSpec:
    """How the KV cache crosses the graph boundary.

    ``layout`` "BNSH" = [batch, kv_heads, max_context, head_dim]. With
    ``shared_buffer`` the past and present tensors are the same preallocated
    buffer of length ``max_context`` (GroupQueryAttention's
    past_present_share_buffer mode): bind one OrtValue as both and the cache is
    updated in place, no per-token copies.
    """

    class Key:
        NUM_LAYERS = "num_layers"
        NUM_KV_HEADS = "num_kv_heads"
        HEAD_DIM = "head_dim"
        LAYOUT = "layout"
        DTYPE = "dtype"
        SHARED_BUFFER = "shared_buffer"
        PAST_KEY = "past_key"
        PAST_VALUE = "past_value"
        PRESENT_KEY = "present_key"
        PRESENT_VALUE = "present_value"

    num_layers: Annotated[int, Meta(ge=1, le=1024, description="decoder layers with a KV cache")]
    num_kv_heads: Annotated[int, Meta(ge=1, le=1024, description="key/value heads per layer")]
    head_dim: Annotated[int, Meta(ge=1, le=4096, description="width of one head")]
    layout: Literal["BNSH"] = "BNSH"
    dtype: Literal["float32", "float16"] = "float32"
    shared_buffer: bool = True
    past_key: Name = "past_key_values.{layer}.key"
    past_value: Name = "past_key_values.{layer}.value"
    present_key: Name = "present.{layer}.key"
    present_value: Name = "present.{layer}.value"

    def __post_init__(self) -> None:
        for key in (self.Key.PAST_KEY, self.Key.PAST_VALUE, self.Key.PRESENT_KEY, self.Key.PRESENT_VALUE):
            try:
                _check_template(getattr(self, key), key)
            except ValueError as exc:
                raise field_error(key, exc) from None

    def bytes(self, max_context: int) -> int:
        """Key plus value bytes of one sequence at ``max_context`` positions."""
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim * max_context * KV_DTYPES[self.dtype]


@register_config("onnx")
@dataclass(frozen=True)
class OnnxGraphSpec(BackendConfig):
    """backend_config of an ONNX bundle: file and I/O names of the decoder graph.

    Inputs: ``input_ids`` int64 [1, S]; ``attention_mask`` int64 [1, past+S]
    (all ones; its length tells the graph the total sequence length);
    ``logits_to_keep`` int64 [1] (how many trailing positions get logits: 1 in
    generation, S in validation); the cache inputs. Outputs: ``logits`` float32
    [1, logits_to_keep, vocab] and the cache outputs. ``max_context``: the
    positions the graph's rotary tables hold (absent in bundles written before
    it was recorded); the manifest's context may not exceed it.
    ``last_hidden``: the output holding the final normed hidden state of the
    kept positions, float32 [1, logits_to_keep, hidden] (the LM head's input;
    what hidden-state probes of the escalation policy read), or None in bundles
    written before it was exported.
    """

    class Key:
        MODEL_FILE = "model_file"
        CACHE = "cache"
        INPUT_IDS = "input_ids"
        ATTENTION_MASK = "attention_mask"
        LOGITS_TO_KEEP = "logits_to_keep"
        LOGITS = "logits"
        PROFILE = "profile"
        MAX_CONTEXT = "max_context"
        LAST_HIDDEN = "last_hidden"

    model_file: BundlePath  # the .onnx graph
    cache: CacheSpec
    input_ids: Name = "input_ids"
    attention_mask: Name = "attention_mask"
    logits_to_keep: Name = "logits_to_keep"
    logits: Name = "logits"
    # graph profile ("cpu": fused contrib ops; "web": ops onnxruntime-web runs)
    profile: Literal["cpu", "web"] = "cpu"
    max_context: Annotated[int, Meta(ge=1, le=MAX_CONTEXT_LIMIT)] | None = None
    # output name of the final normed hidden state (None: the graph has none, e.g. older bundles)
    last_hidden: Name | None = None

    def __post_init__(self) -> None:
        check_path_field(self.Key.MODEL_FILE, self.model_file)

    def opened_files(self) -> tuple[str, ...]:
        return (self.model_file,)

    def engine_dirs(self) -> tuple[str, ...]:
        # onnxruntime loads external data (model.onnx.data) named inside the graph, from the graph's folder down
        return (posixpath.dirname(self.model_file),)

    def check(self, manifest: Manifest, where: str) -> None:
        if self.max_context is not None and manifest.max_context > self.max_context:
            raise SchemaError(
                f"{where}: context.max_context = {manifest.max_context} exceeds the {self.max_context} positions the "
                f"graph was built for (backend_config.max_context); set it to at most {self.max_context} or re-export "
                "with a longer --max-context"
            )
        arch = manifest.architecture
        if (self.cache.num_kv_heads, self.cache.head_dim) != (arch.num_kv_heads, arch.head_dim):
            raise SchemaError(
                f"{where}: backend_config.cache has {self.cache.num_kv_heads} kv heads of {self.cache.head_dim} but "
                f"architecture says {arch.num_kv_heads} of {arch.head_dim}; the manifest contradicts itself, re-export"
            )

    def kv_cache_bytes(self, max_context: int) -> int:
        return self.cache.bytes(max_context)
