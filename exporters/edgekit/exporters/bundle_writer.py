"""Write a bundle folder atomically: model files, tokenizer.json, edgekit.json.

Everything is written into a staging folder next to the destination
(``.NAME.edgekit-tmp-*``, same filesystem, so the final ``rename`` is atomic)
and renamed into place only after the manifest is complete. A failed export
removes the staging folder: no half-written bundle is ever left at ``out``.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import ConfigError
from edgekit.runtime.manifest import (
    ArchitectureInfo,
    GenerationDefaults,
    Manifest,
    MemoryInfo,
    ModelInfo,
    TokenizerInfo,
    file_entry,
)

from .loaded_model import LoadedModel, ModelConfig
from .target_registry import TargetResult

__all__ = [
    "TOKENIZER_FILE",
    "check_destination",
    "staging_folder",
    "architecture_info",
    "generation_defaults_for",
    "produced_by",
    "BundleContents",
    "write_bundle_manifest",
]

TOKENIZER_FILE = "tokenizer.json"
_STAGING_MARK = ".edgekit-tmp-"
# Packages whose versions shape the bundle; missing ones are skipped.
_VERSIONED = ("edgekit", "torch", "transformers", "onnx", "onnxruntime", "gguf", "numpy", "tokenizers", "executorch")


def check_destination(out: Path, force: bool) -> None:
    """Fail before any work if ``out`` cannot become the bundle folder."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path {str(out)!r} is a file; pass a folder path for the bundle")
    if out.exists() and not force:
        raise ConfigError(
            f"output folder {str(out)!r} already exists; pass --force to replace it, or choose another --out"
        )


@contextlib.contextmanager
def staging_folder(out: Path, force: bool) -> Iterator[Path]:
    """Yield an empty folder next to ``out``; on success it becomes ``out`` (replacing it when ``force``)."""
    check_destination(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}{_STAGING_MARK}", dir=out.parent))
    try:
        yield staging
        if out.exists():
            check_destination(out, force)  # appeared meanwhile: still only with --force
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.edgekit-old-", dir=out.parent))
            os.replace(out, retired / "bundle")
            os.replace(staging, out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def architecture_info(config: ModelConfig) -> ArchitectureInfo:
    extra = dict(config.extra)
    if config.rope_scaling:
        extra["rope_scaling"] = dict(config.rope_scaling)
    return ArchitectureInfo(
        family=config.architecture,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        num_kv_heads=config.num_kv_heads,
        head_dim=config.head_dim,
        vocab_size=config.vocab_size,
        intermediate_size=config.intermediate_size,
        max_position_embeddings=config.max_position_embeddings,
        rope_theta=config.rope_theta,
        rms_norm_eps=config.rms_norm_eps,
        tie_word_embeddings=config.tie_word_embeddings,
        extra=extra,
    )


def generation_defaults_for(model: LoadedModel) -> GenerationDefaults:
    """Sampling defaults from the source's generation_config.json when it asks for sampling; greedy otherwise."""
    path = Path(model.source) / "generation_config.json"
    if not path.is_file():
        return GenerationDefaults()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return GenerationDefaults()
    if not data.get("do_sample"):
        return GenerationDefaults(repetition_penalty=float(data.get("repetition_penalty", 1.0) or 1.0))
    return GenerationDefaults(
        temperature=float(data.get("temperature", 1.0) or 1.0),
        top_k=int(data.get("top_k", 0) or 0),
        top_p=float(data.get("top_p", 1.0) or 1.0),
        min_p=float(data.get("min_p", 0.0) or 0.0),
        repetition_penalty=float(data.get("repetition_penalty", 1.0) or 1.0),
    )


def produced_by(target: str) -> dict[str, Any]:
    versions: dict[str, Any] = {"python": platform.python_version(), "target": target}
    for package in _VERSIONED:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    return versions


@dataclass(frozen=True)
class BundleContents:
    """Everything the manifest says besides what the target wrote."""

    model: LoadedModel
    target: str
    result: TargetResult
    recipe: dict[str, Any]
    max_context: int
    validation: dict[str, Any]
    memory: dict[str, Any]
    source_kind: str = ""
    source_sha256: str | None = None


def write_bundle_manifest(folder: Path, contents: BundleContents) -> Manifest:
    """Copy tokenizer.json into ``folder``, checksum every file and write edgekit.json.

    The manifest is read back through the runtime's validating reader before the export counts as done, so
    an exporter can never write a bundle the runtime refuses (docs/bundle-format.md).
    """
    model = contents.model
    shutil.copyfile(model.tokenizer.tokenizer_json, folder / TOKENIZER_FILE)
    entries = [file_entry(folder, relpath, role) for relpath, role in contents.result.files]
    entries.append(file_entry(folder, TOKENIZER_FILE, "tokenizer"))
    tok = model.tokenizer
    manifest = Manifest(
        backend=contents.result.backend,
        model=ModelInfo(
            name=model.name,
            source=str(model.source),
            source_kind=contents.source_kind,
            source_sha256=contents.source_sha256,
            architecture=model.config.architecture,
            license=model.license,
        ),
        architecture=architecture_info(model.config),
        files=entries,
        backend_config=contents.result.backend_config,
        max_context=contents.max_context,
        tokenizer=TokenizerInfo(
            file=TOKENIZER_FILE, bos_id=tok.bos_id, add_bos=tok.add_bos, eos_ids=tuple(tok.eos_ids), pad_id=tok.pad_id
        ),
        chat_template=tok.chat_template,
        generation_defaults=generation_defaults_for(model),
        recipe=contents.recipe,
        validation=contents.validation,
        memory=MemoryInfo(**contents.memory),
        produced_by=produced_by(contents.target),
        created_at=datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    )
    manifest.write(folder)
    Manifest.from_dict(manifest.to_dict(), where=str(folder / "edgekit.json"))  # SchemaError: an exporter bug
    return manifest
