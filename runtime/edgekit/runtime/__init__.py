"""edgekit.runtime: the lean on-device runtime (numpy + onnxruntime + tokenizers + jinja2; never torch).

    from edgekit.runtime import load
    model = load("bundles/smollm2")
    result = model.generate("What is the capital of France?", max_new_tokens=32)
    for piece in model.stream([{"role": "user", "content": "Hi"}], temperature=0.7, seed=1):
        print(piece.text, end="")

Public names are re-exported here from private modules (httpx's pattern) and
``__all__`` is checked by a test.
"""

from __future__ import annotations

from .backends import BACKENDS, Backend, BackendOptions, Cache, register_backend
from .chat import ChatTemplate
from .confidence import summarize
from .context import ContextPolicy
from .errors import (
    BundleError,
    ContextOverflowError,
    EdgekitError,
    InsufficientMemoryError,
    IntegrityError,
    RuntimeGenerationError,
    SamplingOptionError,
    SchemaError,
    ToolError,
)
from .loader import load
from .manifest import Manifest, read_manifest, verify_files
from .model import LocalModel
from .results import Confidence, FinishReason, Piece, Result, Timings, TokenAlternative, TokenInfo
from .sampler import Sampler, SamplingOptions
from .tokenizer import IncrementalDetokenizer, Tokenizer
from .tools import Tool, ToolCall, ToolChoice

__all__ = [
    "load",
    "LocalModel",
    "Result",
    "Piece",
    "TokenInfo",
    "TokenAlternative",
    "Confidence",
    "Timings",
    "FinishReason",
    "ContextPolicy",
    "SamplingOptions",
    "Sampler",
    "Tokenizer",
    "IncrementalDetokenizer",
    "ChatTemplate",
    "summarize",
    "Manifest",
    "read_manifest",
    "verify_files",
    "Backend",
    "BackendOptions",
    "Cache",
    "BACKENDS",
    "register_backend",
    "EdgekitError",
    "BundleError",
    "SchemaError",
    "IntegrityError",
    "InsufficientMemoryError",
    "RuntimeGenerationError",
    "ContextOverflowError",
    "SamplingOptionError",
    "Tool",
    "ToolCall",
    "ToolChoice",
    "ToolError",
]
