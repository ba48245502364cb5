"""A local Hugging Face model folder (config.json + safetensors + tokenizer) -> ``LoadedModel``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from edgekit.runtime.errors import SourceError

from ..loaded_model import LoadedModel
from .hf_config import check_supported, model_config_from_hf
from .reference import reference_loader
from .tokenizer_build import tokenizer_from_hf_folder

__all__ = ["load_hf_folder", "is_hf_folder", "read_hf_weights"]


def is_hf_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def _weight_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (json.JSONDecodeError, KeyError) as exc:
            raise SourceError(
                f"{index}: malformed safetensors index ({exc}); download the model folder again"
            ) from None
        files = [folder / shard for shard in shards]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise SourceError(f"{folder}: safetensors shards listed in the index are missing: {', '.join(missing)}")
        return files
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise SourceError(
            f"{folder}: no *.safetensors weights (config.json is there); save the model with "
            "model.save_pretrained(folder) (safetensors is the default)"
        )
    return files


def read_hf_weights(folder: Path) -> dict[str, np.ndarray]:
    """All weights as float32 numpy arrays (through torch: numpy has no bfloat16)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    tensors: dict[str, np.ndarray] = {}
    for file in _weight_files(folder):
        try:
            state = load_file(str(file))
        except (SafetensorError, OSError) as exc:
            raise SourceError(f"{file}: cannot read safetensors ({exc}); the file is truncated or damaged") from None
        for name, tensor in state.items():
            tensors[name] = tensor.float().numpy()
    return tensors


def load_hf_folder(folder: Path, work_dir: Path, name: str | None = None) -> LoadedModel:
    from transformers import AutoConfig

    if not is_hf_folder(folder):
        raise SourceError(
            f"{str(folder)!r} is a folder without config.json: not a Hugging Face model folder; "
            "pass a folder written by save_pretrained, a .gguf file or 'default'"
        )
    try:
        hf_config = AutoConfig.from_pretrained(str(folder))
    except (ValueError, KeyError, OSError) as exc:
        raise SourceError(f"{folder}/config.json cannot be read by transformers ({exc})") from None
    architecture = check_supported(getattr(hf_config, "model_type", None), str(folder))
    config = model_config_from_hf(hf_config, architecture)
    tensors = read_hf_weights(folder)
    if config.tie_word_embeddings:
        tensors.pop("lm_head.weight", None)  # the same array as the embedding; GGUF sources omit it too
    tokenizer = tokenizer_from_hf_folder(folder, hf_config, work_dir)
    return LoadedModel(
        name=name or folder.resolve().name.lower(),
        source=str(folder.resolve()),
        config=config,
        tensors=tensors,
        tokenizer=tokenizer,
        gguf_tensors=None,
        license=getattr(hf_config, "license", None),
        load_reference=reference_loader(hf_config.to_dict(), tensors),
        work_dir=work_dir,
    )
