"""The bundle manifest, ``edgekit.json``: the one typed contract between exporter and runtime.

A bundle is a folder: model file(s), ``tokenizer.json`` and ``edgekit.json``.
The manifest says everything the runtime needs, so the runtime never has to
know how the model was made (the idea of onnxruntime-genai's
``genai_config.json``). docs/bundle-format.md documents every key;
docs/edgekit.schema.json is its JSON Schema, generated from the classes here
(``json_schema()``; a test keeps both in step with the code).

Every section is a frozen dataclass whose ``Key`` class holds its key names.
Reading (``Manifest.from_dict``) checks, before any compute:

- types and limits of every value (schema.py: strict types, bounded numbers),
  then each backend's ``backend_config`` class (backends/configs.py);
- every path is relative, normalised and inside the bundle (bundle_paths.py);
- cross-checks: the tokenizer file and every file the backend opens are
  listed in ``files``; token ids < ``vocab_size``; ``max_context`` within
  what the graph was built for.

``verify_files`` then checks each listed file (size, sha256, no symlink out)
and that the folders a backend may read files from on its own hold only
listed files, so nothing unhashed is ever loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from .bundle_paths import BundlePath, resolve_in_bundle
from .errors import IntegrityError, SchemaError
from .schema import (
    MAX_CONTEXT_LIMIT,
    MAX_VOCAB,
    Meta,
    NonNegFloat,
    NonNegInt,
    PosInt,
    TokenId,
    decode,
    field_error,
)
from .schema import (
    check_path_field as _check_path,
)

if TYPE_CHECKING:
    from .backends.configs import BackendConfig
    from .verified_files import VerifiedFiles

__all__ = [
    "MANIFEST_NAME",
    "FORMAT_NAME",
    "SCHEMA_VERSION",
    "K",
    "ModelInfo",
    "ArchitectureInfo",
    "FileEntry",
    "ContextInfo",
    "TokenizerInfo",
    "GenerationDefaults",
    "MemoryInfo",
    "CacheSpec",  # noqa: F822 (module __getattr__ below)
    "OnnxGraphSpec",  # noqa: F822 (module __getattr__ below)
    "Manifest",
    "SECTIONS",
    "json_schema",
    "sha256_file",
    "file_entry",
    "read_manifest",
    "verify_files",
]

MANIFEST_NAME = "edgekit.json"
FORMAT_NAME = "edgekit-bundle"
SCHEMA_VERSION = 1
MAX_MANIFEST_BYTES = 16 << 20  # a manifest is a few KiB (the chat template is the largest part); refuse a huge one


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
    MAX_CONTEXT = "max_context"  # kept for older callers: ContextInfo.Key.MAX_CONTEXT
    TOKENIZER = "tokenizer"
    CHAT_TEMPLATE = "chat_template"
    GENERATION_DEFAULTS = "generation_defaults"
    RECIPE = "recipe"
    VALIDATION = "validation"
    MEMORY = "memory"
    PEAK_RSS_MIB = "peak_rss_mib"  # kept for older callers: MemoryInfo.Key.PEAK_RSS_MIB
    PRODUCED_BY = "produced_by"
    CREATED_AT = "created_at"


Text = Annotated[str, Meta(max_length=4096)]


@dataclass(frozen=True)
class ModelInfo:
    """Where the weights came from (shown by ``edgekit info``; never used to compute)."""

    class Key:
        NAME = "name"
        SOURCE = "source"
        SOURCE_KIND = "source_kind"
        SOURCE_SHA256 = "source_sha256"
        ARCHITECTURE = "architecture"
        LICENSE = "license"

    # All optional (null or absent: unknown), so every bundle the schema-1 exporter wrote still reads.
    name: Text | None = None
    source: Text | None = None  # path or hub id given to `edgekit export`
    source_kind: Text | None = None  # "gguf", "hf-folder", ... (the exporter's source registry name)
    source_sha256: Text | None = None  # sha256 of a single-file source (GGUF)
    architecture: Text | None = None
    license: Text | None = None


@dataclass(frozen=True)
class ArchitectureInfo:
    """Hyperparameters the runtime (and the Java/web demos) need."""

    class Key:
        FAMILY = "family"
        HIDDEN_SIZE = "hidden_size"
        NUM_LAYERS = "num_layers"
        NUM_HEADS = "num_heads"
        NUM_KV_HEADS = "num_kv_heads"
        HEAD_DIM = "head_dim"
        VOCAB_SIZE = "vocab_size"
        INTERMEDIATE_SIZE = "intermediate_size"
        MAX_POSITION_EMBEDDINGS = "max_position_embeddings"
        ROPE_THETA = "rope_theta"
        RMS_NORM_EPS = "rms_norm_eps"
        TIE_WORD_EMBEDDINGS = "tie_word_embeddings"
        EXTRA = "extra"

    family: Annotated[str, Meta(min_length=1, max_length=64)]  # architecture registry name, e.g. "llama"
    hidden_size: PosInt
    num_layers: Annotated[int, Meta(ge=1, le=1024)]
    num_heads: Annotated[int, Meta(ge=1, le=1024)]
    num_kv_heads: Annotated[int, Meta(ge=1, le=1024)]
    head_dim: Annotated[int, Meta(ge=1, le=4096)]
    vocab_size: Annotated[int, Meta(ge=1, le=MAX_VOCAB)]
    intermediate_size: NonNegInt
    max_position_embeddings: Annotated[int, Meta(ge=1, le=1 << 24)]
    rope_theta: NonNegFloat
    rms_norm_eps: NonNegFloat
    tie_word_embeddings: bool
    extra: dict[str, Any] = field(default_factory=dict)  # family-specific (sliding window, rope scaling, ...)

    def __post_init__(self) -> None:
        if self.num_kv_heads > self.num_heads:
            raise field_error(self.Key.NUM_KV_HEADS, ValueError(f"more kv heads than num_heads {self.num_heads}"))


@dataclass(frozen=True)
class FileEntry:
    """One bundle file: ``edgekit info`` and ``load`` check its size and sha256 before anything reads it."""

    class Key:
        PATH = "path"
        SIZE = "size"
        SHA256 = "sha256"
        ROLE = "role"

    path: BundlePath  # relative to the bundle folder, POSIX separators, no '..' (bundle_paths.py)
    size: Annotated[int, Meta(ge=0, le=1 << 44)]
    sha256: Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]
    role: Annotated[str, Meta(min_length=1, max_length=64)]  # "model", "weights", "tokenizer", "other"

    def __post_init__(self) -> None:
        _check_path(self.Key.PATH, self.path)


@dataclass(frozen=True)
class ContextInfo:
    class Key:
        MAX_CONTEXT = "max_context"

    # tokens of prompt + output one sequence may hold (the KV cache is allocated this long)
    max_context: Annotated[int, Meta(ge=1, le=MAX_CONTEXT_LIMIT)]


@dataclass(frozen=True)
class TokenizerInfo:
    class Key:
        FILE = "file"
        BOS_ID = "bos_id"
        ADD_BOS = "add_bos"
        EOS_IDS = "eos_ids"
        PAD_ID = "pad_id"

    file: BundlePath = "tokenizer.json"  # HF tokenizers JSON, relative to the bundle folder; listed in files
    bos_id: TokenId | None = None
    add_bos: bool = False  # prepend bos_id to every encoded prompt
    eos_ids: Annotated[tuple[TokenId, ...], Meta(max_length=64)] = ()
    pad_id: TokenId | None = None

    def __post_init__(self) -> None:
        _check_path(self.Key.FILE, self.file)


@dataclass(frozen=True)
class GenerationDefaults:
    """Sampling used when a call leaves an option unset (the same ranges SamplingOptions accepts)."""

    class Key:
        TEMPERATURE = "temperature"
        TOP_K = "top_k"
        TOP_P = "top_p"
        MIN_P = "min_p"
        REPETITION_PENALTY = "repetition_penalty"
        MAX_NEW_TOKENS = "max_new_tokens"

    temperature: Annotated[float, Meta(ge=0.0, le=100.0)] = 0.0  # 0 = greedy
    top_k: Annotated[int, Meta(ge=0, le=MAX_VOCAB)] = 0  # 0 = off
    top_p: Annotated[float, Meta(gt=0.0, le=1.0)] = 1.0
    min_p: Annotated[float, Meta(ge=0.0, lt=1.0)] = 0.0
    repetition_penalty: Annotated[float, Meta(gt=0.0, le=100.0)] = 1.0
    max_new_tokens: Annotated[int, Meta(ge=1, le=MAX_CONTEXT_LIMIT)] = 256


@dataclass(frozen=True)
class MemoryInfo:
    """What validation measured (memory.py compares it with the device's available memory)."""

    class Key:
        PEAK_RSS_MIB = "peak_rss_mib"
        GENERATION_PEAK_RSS_MIB = "generation_peak_rss_mib"
        MEASURED_BY = "measured_by"

    peak_rss_mib: Annotated[float, Meta(gt=0.0, le=1 << 30)] | None = None
    generation_peak_rss_mib: Annotated[float, Meta(gt=0.0, le=1 << 30)] | None = None
    measured_by: Annotated[str, Meta(max_length=4096)] = ""


@dataclass(frozen=True)
class EdgekitJson:
    """``edgekit.json`` as it is on disk (what the JSON Schema describes)."""

    format: Literal["edgekit-bundle"]
    schema_version: Literal[1]
    backend: Annotated[str, Meta(min_length=1, max_length=64)]  # runtime backend registry name
    architecture: ArchitectureInfo
    files: Annotated[list[FileEntry], Meta(min_length=1, max_length=4096)]
    backend_config: dict[str, Any]  # backend-specific: see the backend's config class (ONNX: OnnxGraphSpec)
    context: ContextInfo
    tokenizer: TokenizerInfo
    model: ModelInfo = field(default_factory=ModelInfo)
    chat_template: Annotated[str, Meta(max_length=1 << 20)] | None = None  # Jinja, rendered in a sandbox
    generation_defaults: GenerationDefaults = field(default_factory=GenerationDefaults)
    recipe: dict[str, Any] = field(default_factory=dict)  # the exporter's QuantRecipe as a dict ("name", ...)
    validation: dict[str, Any] = field(default_factory=dict)  # what validation measured (free-form)
    memory: MemoryInfo = field(default_factory=MemoryInfo)
    produced_by: dict[str, Any] = field(default_factory=dict)  # package versions of the exporting machine
    created_at: Annotated[str, Meta(max_length=64)] = ""  # ISO-8601 UTC


# Sections that are dataclasses, by top-level key (docs and tests walk this).
SECTIONS: dict[str, type] = {
    K.MODEL: ModelInfo,
    K.ARCHITECTURE: ArchitectureInfo,
    K.FILES: FileEntry,
    K.CONTEXT: ContextInfo,
    K.TOKENIZER: TokenizerInfo,
    K.GENERATION_DEFAULTS: GenerationDefaults,
    K.MEMORY: MemoryInfo,
}
# Optional object sections an older writer may have left null: read as their defaults.
_NULLABLE = (K.MODEL, K.GENERATION_DEFAULTS, K.RECIPE, K.VALIDATION, K.MEMORY, K.PRODUCED_BY)


def _section(cls: type, value: Any) -> Any:
    """A section given as a plain dict (older callers) as its dataclass, unknown keys dropped, unvalidated."""
    if isinstance(value, Mapping):
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in value.items() if k in names})
    return value


@dataclass
class Manifest:
    """Parsed ``edgekit.json``. ``backend_config`` stays the raw dict; ``backend_spec`` is its typed form."""

    backend: str
    model: ModelInfo
    architecture: ArchitectureInfo
    files: list[FileEntry]
    backend_config: dict[str, Any]
    max_context: int
    tokenizer: TokenizerInfo
    chat_template: str | None = None
    generation_defaults: GenerationDefaults = field(default_factory=GenerationDefaults)
    recipe: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    memory: MemoryInfo = field(default_factory=MemoryInfo)
    produced_by: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        # Writers that predate the typed sections pass plain dicts for model and memory.
        self.model = _section(ModelInfo, self.model if self.model is not None else {})
        self.memory = _section(MemoryInfo, self.memory if self.memory is not None else {})

    # -- typed views -------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The model's name, or "bundle" when the manifest has none."""
        return self.model.name or "bundle"

    @property
    def recipe_name(self) -> str | None:
        name = (self.recipe or {}).get("name")
        return name if isinstance(name, str) and name else None

    @property
    def backend_spec(self) -> BackendConfig | None:
        """``backend_config`` as the backend's config dataclass (None for a backend this edgekit does not know)."""
        from .backends.configs import config_class

        cls = config_class(self.backend)
        return None if cls is None else cls.from_dict(self.backend_config)

    # -- serialisation -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        tok = asdict(self.tokenizer)
        tok[TokenizerInfo.Key.EOS_IDS] = list(self.tokenizer.eos_ids)
        return {
            K.FORMAT: FORMAT_NAME,
            K.SCHEMA_VERSION: self.schema_version,
            K.BACKEND: self.backend,
            K.MODEL: asdict(self.model),
            K.ARCHITECTURE: asdict(self.architecture),
            K.FILES: [asdict(f) for f in self.files],
            K.BACKEND_CONFIG: self.backend_config,
            K.CONTEXT: {ContextInfo.Key.MAX_CONTEXT: self.max_context},
            K.TOKENIZER: tok,
            K.CHAT_TEMPLATE: self.chat_template,
            K.GENERATION_DEFAULTS: asdict(self.generation_defaults),
            K.RECIPE: self.recipe,
            K.VALIDATION: self.validation,
            K.MEMORY: asdict(_section(MemoryInfo, self.memory)),
            K.PRODUCED_BY: self.produced_by,
            K.CREATED_AT: self.created_at,
        }

    def write(self, folder: str | os.PathLike[str]) -> Path:
        path = Path(folder) / MANIFEST_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: Any, where: str = MANIFEST_NAME) -> Manifest:
        """Validate ``data`` (the parsed JSON) and return the Manifest, or raise one SchemaError line."""
        if not isinstance(data, dict) or data.get(K.FORMAT) != FORMAT_NAME:
            raise SchemaError(f'{where}: not an edgekit bundle manifest (no "format": "{FORMAT_NAME}")')
        version = data.get(K.SCHEMA_VERSION)
        if version != SCHEMA_VERSION or isinstance(version, bool):
            raise SchemaError(
                f"{where}: schema_version {version!r} is not supported by this edgekit "
                f"(it reads {SCHEMA_VERSION}); re-export the bundle with this edgekit or upgrade edgekit"
            )
        data = {k: v for k, v in data.items() if not (k in _NULLABLE and v is None)}
        doc = decode(data, EdgekitJson, where)
        manifest = cls(
            backend=doc.backend,
            model=doc.model,
            architecture=doc.architecture,
            files=list(doc.files),
            backend_config=dict(doc.backend_config),
            max_context=doc.context.max_context,
            tokenizer=doc.tokenizer,
            chat_template=doc.chat_template,
            generation_defaults=doc.generation_defaults,
            recipe=dict(doc.recipe),
            validation=dict(doc.validation),
            memory=doc.memory,
            produced_by=dict(doc.produced_by),
            created_at=doc.created_at,
            schema_version=doc.schema_version,
        )
        _cross_check(manifest, where)
        return manifest

    def file(self, role: str) -> FileEntry:
        for entry in self.files:
            if entry.role == role:
                return entry
        raise SchemaError(f"{MANIFEST_NAME}: no file with role {role!r}")


def _cross_check(manifest: Manifest, where: str) -> None:
    """Rules between sections; each refusal names both keys and the fix."""
    from .backends.configs import config_class

    listed: set[str] = set()
    for entry in manifest.files:
        if entry.path in listed:
            raise SchemaError(f"{where}: files lists {entry.path!r} twice; keep one entry per file or re-export")
        listed.add(entry.path)
    if manifest.tokenizer.file not in listed:
        raise SchemaError(
            f"{where}: tokenizer.file = {manifest.tokenizer.file!r} is not listed in files, so it would be loaded "
            "unverified; list it with its size and sha256, or re-export the bundle"
        )
    vocab = manifest.architecture.vocab_size
    tok = manifest.tokenizer
    ids = [("tokenizer.bos_id", tok.bos_id), ("tokenizer.pad_id", tok.pad_id)]
    ids += [(f"tokenizer.eos_ids[{i}]", t) for i, t in enumerate(tok.eos_ids)]
    for key, token in ids:
        if token is not None and token >= vocab:
            raise SchemaError(
                f"{where}: {key} = {token} is not below architecture.vocab_size {vocab}; use an id of the "
                "model's vocabulary or re-export the bundle"
            )
    cls = config_class(manifest.backend)
    if cls is None:
        return  # the loader refuses an unknown backend by name; `edgekit info` can still show the bundle
    spec = cls.from_dict(manifest.backend_config, where)
    for relpath in spec.opened_files():
        if relpath not in listed:
            raise SchemaError(
                f"{where}: backend_config names {relpath!r}, which files does not list, so it would be loaded "
                "unverified; list it with its size and sha256, or re-export the bundle"
            )
    spec.check(manifest, where)


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``edgekit.json``, generated from the dataclasses above."""
    import msgspec

    from .backends.configs import CONFIG_MODULES, config_class

    configs = [config_class(name) for name in CONFIG_MODULES]
    (doc, *backend_refs), components = msgspec.json.schema_components(
        [EdgekitJson, *configs], ref_template="#/$defs/{name}"
    )
    components["EdgekitJson"]["description"] = (
        "The edgekit bundle manifest (schema_version 1). Unknown keys are ignored by readers of this version. "
        "backend_config is validated by the backend named in 'backend': "
        + ", ".join(f"{name} -> {ref['$ref'].rsplit('/', 1)[1]}" for name, ref in zip(CONFIG_MODULES, backend_refs))
    )
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "edgekit.json", **doc}
    schema["allOf"] = [
        {
            "if": {"properties": {K.BACKEND: {"const": name}}, "required": [K.BACKEND]},
            "then": {"properties": {K.BACKEND_CONFIG: ref}},
        }
        for name, ref in zip(CONFIG_MODULES, backend_refs)
    ]
    schema["$defs"] = components
    return schema


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def file_entry(folder: str | os.PathLike[str], relpath: str, role: str) -> FileEntry:
    path = Path(folder) / relpath
    return FileEntry(path=relpath, size=path.stat().st_size, sha256=sha256_file(path), role=role)


def read_manifest(folder: str | os.PathLike[str]) -> Manifest:
    folder = Path(folder)
    if not folder.exists():
        raise SchemaError(f"bundle folder {str(folder)!r} does not exist; pass the folder that `edgekit export` wrote")
    if not folder.is_dir():
        raise SchemaError(f"{str(folder)!r} is a file, not a bundle folder; pass the folder that holds {MANIFEST_NAME}")
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise SchemaError(
            f"{str(folder)!r} has no {MANIFEST_NAME}: not an edgekit bundle (export one with `edgekit export`)"
        )
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise SchemaError(f"{path}: {path.stat().st_size} bytes, far larger than a manifest; re-export the bundle")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaError(f"{path}: not valid JSON ({exc}); the bundle is damaged, re-export it") from None
    except RecursionError:
        raise SchemaError(f"{path}: JSON nested too deeply; the bundle is damaged, re-export it") from None
    except OSError as exc:
        raise SchemaError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from None
    return Manifest.from_dict(data, where=str(path))


def verify_files(
    folder: str | os.PathLike[str], manifest: Manifest, check_hash: bool = True, verified: VerifiedFiles | None = None
) -> None:
    """Check every listed file (inside the folder, size, sha256) and that no unlisted file could be loaded.

    ``verified``: the record of files already hashed (verified_files.py); an unchanged file it vouches for
    skips the hash, and every file hashed here is added to it.
    """
    folder = Path(folder)
    root = folder.resolve()
    for entry in manifest.files:
        path = resolve_in_bundle(folder, entry.path, root)
        if not path.is_file():
            raise IntegrityError(
                f"bundle file {entry.path!r} is missing from {str(folder)!r}; copy the whole bundle folder again "
                "or re-export"
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
                f"bundle file {entry.path!r} fails its sha256 check (modified or corrupted); copy the bundle again "
                "or re-export"
            )
        if verified is not None:
            verified.remember(path, stat, entry.sha256, checked_at)
    _check_no_unlisted(folder, manifest)
    if verified is not None:
        verified.save()


def _check_no_unlisted(folder: Path, manifest: Manifest) -> None:
    """The folders a backend reads files from on its own (ONNX external data) must hold only listed files."""
    try:
        spec = manifest.backend_spec
    except SchemaError:
        return  # a hand-built Manifest with a partial backend_config: the backend itself will refuse it
    if spec is None:
        return
    listed = {entry.path for entry in manifest.files} | {MANIFEST_NAME}
    for top in spec.engine_dirs():
        base = folder / top if top else folder
        for current, dirs, names in os.walk(base, followlinks=False):
            rel_dir = Path(current).relative_to(folder).as_posix()
            for name in sorted(names) + sorted(d for d in dirs if (Path(current) / d).is_symlink()):
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                if rel not in listed:
                    raise IntegrityError(
                        f"bundle folder holds {rel!r}, which edgekit.json does not list; the {manifest.backend} "
                        f"engine could load it unverified (e.g. as external data); remove it or re-export the bundle"
                    )


def __getattr__(name: str) -> Any:
    # OnnxGraphSpec and CacheSpec moved beside the ONNX backend (backends/onnx_config.py); old imports keep working.
    if name in ("OnnxGraphSpec", "CacheSpec"):
        from .backends import onnx_config

        return getattr(onnx_config, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
