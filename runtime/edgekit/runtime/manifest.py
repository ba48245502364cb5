"""The bundle manifest, ``edgekit.json``: the one contract between exporter and runtime.

A bundle is a folder: model file(s), ``tokenizer.json`` and ``edgekit.json``.
The manifest says everything the runtime needs, so the runtime never has to
know how the model was made (the idea of onnxruntime-genai's
``genai_config.json``). Key names are the constants below; the README
documents the schema. Readers refuse a schema version they do not know.

Layout of ``edgekit.json`` (schema 1)::

    {
      "format": "edgekit-bundle",
      "schema_version": 1,
      "backend": "onnx",                       # runtime backend registry name
      "model": {"name", "source", "architecture", "license"},
      "architecture": {...},                   # hyperparameters (see ArchitectureInfo)
      "files": [{"path", "size", "sha256", "role"}],
      "backend_config": {...},                 # backend-specific; ONNX: OnnxGraphSpec
      "context": {"max_context": int},
      "tokenizer": {"file", "bos_id", "add_bos", "eos_ids", "pad_id"},
      "chat_template": str | null,
      "generation_defaults": {...},
      "recipe": {...},                         # the QuantRecipe as a dict
      "validation": {...},                     # what validate measured
      "memory": {"peak_rss_mib": float},
      "produced_by": {"edgekit": ver, "torch": ver, ...},
      "created_at": ISO-8601 UTC
    }
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import IntegrityError, SchemaError

if TYPE_CHECKING:
    from .verified_files import VerifiedFiles

__all__ = [
    "MANIFEST_NAME",
    "FORMAT_NAME",
    "SCHEMA_VERSION",
    "K",
    "ArchitectureInfo",
    "FileEntry",
    "TokenizerInfo",
    "GenerationDefaults",
    "CacheSpec",
    "OnnxGraphSpec",
    "Manifest",
    "sha256_file",
    "file_entry",
    "read_manifest",
    "verify_files",
]

MANIFEST_NAME = "edgekit.json"
FORMAT_NAME = "edgekit-bundle"
SCHEMA_VERSION = 1


class K:
    """Manifest key names (top level)."""

    FORMAT = "format"
    SCHEMA_VERSION = "schema_version"
    BACKEND = "backend"
    MODEL = "model"
    ARCHITECTURE = "architecture"
    FILES = "files"
    BACKEND_CONFIG = "backend_config"
    CONTEXT = "context"
    MAX_CONTEXT = "max_context"
    TOKENIZER = "tokenizer"
    CHAT_TEMPLATE = "chat_template"
    GENERATION_DEFAULTS = "generation_defaults"
    RECIPE = "recipe"
    VALIDATION = "validation"
    MEMORY = "memory"
    PEAK_RSS_MIB = "peak_rss_mib"
    PRODUCED_BY = "produced_by"
    CREATED_AT = "created_at"


@dataclass(frozen=True)
class ArchitectureInfo:
    """Hyperparameters the runtime (and the Java/web demos) need."""

    family: str  # architecture registry name, e.g. "llama", "gemma3"
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    intermediate_size: int
    max_position_embeddings: int
    rope_theta: float
    rms_norm_eps: float
    tie_word_embeddings: bool
    extra: dict[str, Any] = field(default_factory=dict)  # family-specific (sliding window, ...)


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the bundle folder, POSIX separators
    size: int
    sha256: str
    role: str  # "model", "weights", "tokenizer", "other"


@dataclass(frozen=True)
class TokenizerInfo:
    file: str = "tokenizer.json"
    bos_id: int | None = None
    add_bos: bool = False  # prepend bos_id to every encoded prompt
    eos_ids: tuple[int, ...] = ()
    pad_id: int | None = None


@dataclass(frozen=True)
class GenerationDefaults:
    temperature: float = 0.0  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    max_new_tokens: int = 256


@dataclass(frozen=True)
class CacheSpec:
    """How the KV cache crosses the graph boundary.

    ``layout`` "BNSH" = [batch, kv_heads, max_context, head_dim]. With
    ``shared_buffer`` the past and present tensors are the same preallocated
    buffer of length ``max_context`` (GroupQueryAttention's
    past_present_share_buffer mode): bind one OrtValue as both and the cache is
    updated in place, no per-token copies.
    """

    num_layers: int
    num_kv_heads: int
    head_dim: int
    layout: str = "BNSH"
    dtype: str = "float32"
    shared_buffer: bool = True
    past_key: str = "past_key_values.{layer}.key"
    past_value: str = "past_key_values.{layer}.value"
    present_key: str = "present.{layer}.key"
    present_value: str = "present.{layer}.value"


@dataclass(frozen=True)
class OnnxGraphSpec:
    """backend_config of an ONNX bundle: file and I/O names of the decoder graph.

    Inputs: ``input_ids`` int64 [1, S]; ``attention_mask`` int64 [1, past+S]
    (all ones; its length tells the graph the total sequence length);
    ``logits_to_keep`` int64 [1] (how many trailing positions get logits: 1 in
    generation, S in validation); the cache inputs. Outputs: ``logits`` float32
    [1, logits_to_keep, vocab] and the cache outputs.
    """

    model_file: str
    cache: CacheSpec
    input_ids: str = "input_ids"
    attention_mask: str = "attention_mask"
    logits_to_keep: str = "logits_to_keep"
    logits: str = "logits"
    profile: str = "cpu"  # graph profile ("cpu": fused contrib ops; "web": ops onnxruntime-web runs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OnnxGraphSpec:
        try:
            data = dict(data)
            data["cache"] = CacheSpec(**data["cache"])
            return cls(**data)
        except (KeyError, TypeError) as exc:
            raise SchemaError(f"edgekit.json: bad backend_config for onnx ({exc})") from None


@dataclass
class Manifest:
    """Parsed ``edgekit.json``. ``backend_config`` stays a dict: each backend parses its own."""

    backend: str
    model: dict[str, Any]
    architecture: ArchitectureInfo
    files: list[FileEntry]
    backend_config: dict[str, Any]
    max_context: int
    tokenizer: TokenizerInfo
    chat_template: str | None = None
    generation_defaults: GenerationDefaults = field(default_factory=GenerationDefaults)
    recipe: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    produced_by: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    schema_version: int = SCHEMA_VERSION

    # -- serialisation -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        tok = asdict(self.tokenizer)
        tok["eos_ids"] = list(self.tokenizer.eos_ids)
        return {
            K.FORMAT: FORMAT_NAME,
            K.SCHEMA_VERSION: self.schema_version,
            K.BACKEND: self.backend,
            K.MODEL: self.model,
            K.ARCHITECTURE: asdict(self.architecture),
            K.FILES: [asdict(f) for f in self.files],
            K.BACKEND_CONFIG: self.backend_config,
            K.CONTEXT: {K.MAX_CONTEXT: self.max_context},
            K.TOKENIZER: tok,
            K.CHAT_TEMPLATE: self.chat_template,
            K.GENERATION_DEFAULTS: asdict(self.generation_defaults),
            K.RECIPE: self.recipe,
            K.VALIDATION: self.validation,
            K.MEMORY: self.memory,
            K.PRODUCED_BY: self.produced_by,
            K.CREATED_AT: self.created_at,
        }

    def write(self, folder: str | os.PathLike) -> Path:
        path = Path(folder) / MANIFEST_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: Any, where: str = MANIFEST_NAME) -> Manifest:
        if not isinstance(data, dict) or data.get(K.FORMAT) != FORMAT_NAME:
            raise SchemaError(f'{where}: not an edgekit bundle manifest (no "format": "{FORMAT_NAME}")')
        version = data.get(K.SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise SchemaError(
                f"{where}: schema_version {version!r} is not supported by this edgekit "
                f"(it reads {SCHEMA_VERSION}); re-export the bundle with this edgekit or upgrade edgekit"
            )
        try:
            tok = dict(data[K.TOKENIZER])
            tok["eos_ids"] = tuple(tok.get("eos_ids", ()))
            return cls(
                backend=data[K.BACKEND],
                model=dict(data.get(K.MODEL) or {}),
                architecture=ArchitectureInfo(**data[K.ARCHITECTURE]),
                files=[FileEntry(**f) for f in data[K.FILES]],
                backend_config=dict(data[K.BACKEND_CONFIG]),
                max_context=int(data[K.CONTEXT][K.MAX_CONTEXT]),
                tokenizer=TokenizerInfo(**tok),
                chat_template=data.get(K.CHAT_TEMPLATE),
                generation_defaults=GenerationDefaults(**(data.get(K.GENERATION_DEFAULTS) or {})),
                recipe=dict(data.get(K.RECIPE) or {}),
                validation=dict(data.get(K.VALIDATION) or {}),
                memory=dict(data.get(K.MEMORY) or {}),
                produced_by=dict(data.get(K.PRODUCED_BY) or {}),
                created_at=data.get(K.CREATED_AT, ""),
                schema_version=version,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(
                f"{where}: malformed manifest ({type(exc).__name__}: {exc}); re-export the bundle"
            ) from None

    def file(self, role: str) -> FileEntry:
        for entry in self.files:
            if entry.role == role:
                return entry
        raise SchemaError(f"{MANIFEST_NAME}: no file with role {role!r}")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def file_entry(folder: str | os.PathLike, relpath: str, role: str) -> FileEntry:
    path = Path(folder) / relpath
    return FileEntry(path=relpath, size=path.stat().st_size, sha256=sha256_file(path), role=role)


def read_manifest(folder: str | os.PathLike) -> Manifest:
    folder = Path(folder)
    if not folder.exists():
        raise SchemaError(f"bundle folder {str(folder)!r} does not exist; pass the folder that `edgekit export` wrote")
    if not folder.is_dir():
        raise SchemaError(f"{str(folder)!r} is a file, not a bundle folder; pass the folder that holds {MANIFEST_NAME}")
    path = folder / MANIFEST_NAME
    if not path.exists():
        raise SchemaError(
            f"{str(folder)!r} has no {MANIFEST_NAME}: not an edgekit bundle (export one with `edgekit export`)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaError(f"{path}: not valid JSON ({exc}); the bundle is damaged, re-export it") from None
    return Manifest.from_dict(data, where=str(path))


def verify_files(
    folder: str | os.PathLike, manifest: Manifest, check_hash: bool = True, verified: VerifiedFiles | None = None
) -> None:
    """Check every listed file exists with its size and (optionally) sha256, before any compute.

    ``verified``: the record of files already hashed (verified_files.py); an unchanged file it vouches for
    skips the hash, and every file hashed here is added to it.
    """
    folder = Path(folder)
    for entry in manifest.files:
        path = folder / entry.path
        if not path.is_file():
            raise IntegrityError(
                f"bundle file {entry.path!r} is missing from {str(folder)!r}; copy the whole bundle folder again or "
                "re-export"
            )
        stat = path.stat()
        size = stat.st_size
        if size != entry.size:
            raise IntegrityError(
                f"bundle file {entry.path!r} is {size} bytes, the manifest says {entry.size} (truncated or replaced); "
                "copy the bundle again or re-export"
            )
        if not check_hash or (verified is not None and verified.trusted(path, stat, entry.sha256)):
            continue
        checked_at = time.time()
        if sha256_file(path) != entry.sha256:
            raise IntegrityError(
                f"bundle file {entry.path!r} fails its sha256 check (modified or corrupted); copy the bundle again or "
                "re-export"
            )
        if verified is not None:
            verified.remember(path, stat, entry.sha256, checked_at)
    if verified is not None:
        verified.save()
