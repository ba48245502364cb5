"""The trainable float model: the export stack's source loaders, then its float reference builder.

``resolve_source`` turns the default model, a GGUF file (dequantized by gguf-py) or an HF folder into float32
weights; ``build_reference`` builds the transformers model validation compares bundles with. Tuning starts from
exactly the weights an export of the same source would start from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..loaded_model import LoadedModel

__all__ = ["load_source", "build_float_model", "parameter_count"]


def load_source(model: str, work_dir: Path) -> tuple[LoadedModel, str]:
    """The loaded source and the name of its kind (builtin, gguf, hf-folder, hub)."""
    from ..sources import preflight, resolve_source

    kind = preflight(model).name
    return resolve_source(model, work_dir), kind


def parameter_count(loaded: LoadedModel) -> int:
    return int(sum(t.size for t in loaded.tensors.values()))


def build_float_model(loaded: LoadedModel) -> Any:
    """A float32 transformers causal LM holding the source's weights, in train mode."""
    from ..sources.reference import build_reference

    model = build_reference(loaded.config.hf_config, loaded.tensors)
    model.config.use_cache = False
    model.train()
    return model
