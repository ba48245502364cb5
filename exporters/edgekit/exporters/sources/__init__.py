"""Model sources: resolve what the user passed as MODEL into one ``LoadedModel``.

Kinds, tried in order (a registry, so a new kind is one entry):

- ``builtin``: ``default`` or a built-in model name (the GGUF shipped in a package, no network);
- ``gguf``: a local ``.gguf`` file (metadata, float weights, raw quantized blocks, tokenizer);
- ``hf-folder``: a local Hugging Face folder (config.json + safetensors + tokenizer);
- ``hub``: ``org/name``, downloaded only when the hub is reachable.

Anything else is a missing path, reported with what MODEL may be.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgekit.runtime.errors import SourceError
from edgekit.runtime.registry import Registry

from ..loaded_model import LoadedModel
from .builtin import BUILTIN_MODELS, DEFAULT_ALIAS, DEFAULT_MODEL, builtin_model, is_builtin_name
from .gguf_file import gguf_rows_to_hf, load_gguf
from .gguf_reader import check_gguf_magic
from .hf_folder import is_hf_folder, load_hf_folder
from .hub import download_hub_model, looks_like_hub_id

__all__ = [
    "SourceKind",
    "SOURCE_KINDS",
    "resolve_source",
    "source_kind",
    "preflight",
    "default_model_path",
    "gguf_rows_to_hf",
    "BUILTIN_MODELS",
    "DEFAULT_ALIAS",
    "DEFAULT_MODEL",
]


@dataclass(frozen=True)
class SourceKind:
    name: str
    claims: Callable[[str], bool]
    load: Callable[[str, Path], LoadedModel]


def _load_builtin(text: str, work_dir: Path) -> LoadedModel:
    model = builtin_model(text)
    return load_gguf(model.path(), work_dir, name=model.name, license=model.license)


def _load_hub(text: str, work_dir: Path) -> LoadedModel:
    return load_hf_folder(download_hub_model(text), work_dir, name=text.split("/")[-1].lower())


SOURCE_KINDS: Registry[SourceKind] = Registry("model source kind")
for _kind in (
    SourceKind("builtin", is_builtin_name, _load_builtin),
    SourceKind("gguf", lambda text: Path(text).expanduser().is_file(), lambda t, w: load_gguf(Path(t).expanduser(), w)),
    SourceKind(
        "hf-folder", lambda text: Path(text).expanduser().is_dir(), lambda t, w: load_hf_folder(Path(t).expanduser(), w)
    ),
    SourceKind("hub", looks_like_hub_id, _load_hub),
):
    SOURCE_KINDS.add(_kind.name, _kind)


def source_kind(model: str) -> SourceKind:
    """The first kind that claims ``model`` or a ``SourceError`` saying what MODEL may be."""
    for name in SOURCE_KINDS:
        kind = SOURCE_KINDS.get(name)
        if kind.claims(model):
            return kind
    builtins = ", ".join([DEFAULT_ALIAS, *BUILTIN_MODELS.names()])
    raise SourceError(
        f"model {model!r}: no such file or folder; MODEL is a Hugging Face folder, a .gguf file, "
        f"a hub id (org/name, online only) or a built-in model ({builtins})"
    )


def preflight(model: str) -> SourceKind:
    """The kind of ``model`` plus the checks that cost nothing (file magic, config.json), so that bad input
    fails before any stage starts; the full checks run again while loading."""
    kind = source_kind(model)
    path = Path(model).expanduser()
    if kind.name == "gguf":
        check_gguf_magic(path)
    elif kind.name == "hf-folder" and not is_hf_folder(path):
        raise SourceError(
            f"{str(path)!r} is a folder without config.json: not a Hugging Face model folder; "
            "pass a folder written by save_pretrained, a .gguf file or 'default'"
        )
    elif kind.name == "builtin":
        builtin_model(model).path()
    return kind


def default_model_path() -> Path:
    """Path of the default model's GGUF (raises SourceError with the pip command when absent)."""
    return builtin_model(DEFAULT_ALIAS).path()


def resolve_source(model: str | Path, work_dir: Path) -> LoadedModel:
    """Load ``model`` (see module docstring); scratch files (tokenizer.json, ...) go to ``work_dir``."""
    text = str(model)
    work_dir.mkdir(parents=True, exist_ok=True)
    return source_kind(text).load(text, work_dir)
