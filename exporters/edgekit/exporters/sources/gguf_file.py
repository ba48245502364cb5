"""A GGUF file -> ``LoadedModel``: config from metadata, float weights, raw quantized blocks, tokenizer.

Weights follow transformers' own GGUF loader exactly (the same tensor name map
``get_gguf_hf_weights_map`` and the same per-architecture tensor processor that
undoes llama.cpp's q/k row permutation), so the float reference equals
``AutoModelForCausalLM.from_pretrained(folder, gguf_file=...)``; a test checks it.
The GGUF is read once with gguf-py; transformers' config path would parse the
whole file twice more (~5 s for the default model).

``LoadedModel.gguf_tensors`` keeps every matrix's blocks as stored
(``GGUFTensor.raw``: one row of blocks per GGUF row, i.e. in GGUF row order;
llama q/k rows are permuted relative to HF, see ``gguf_rows_to_hf``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from edgekit.runtime.errors import SourceError

from ..loaded_model import GGUFTensor, LoadedModel
from .gguf_reader import gguf_tensor_names, gguf_value, open_gguf
from .hf_config import check_supported, model_config_from_hf
from .reference import reference_loader
from .tokenizer_build import tokenizer_from_gguf

__all__ = ["load_gguf", "hf_config_from_gguf", "gguf_rows_to_hf"]

# GGUF general.architecture -> transformers model_type, where they differ
# (transformers.modeling_gguf_pytorch_utils.load_gguf_checkpoint does the same renames).
_MODEL_TYPE_OF_GGUF_ARCH = {"gemma3": "gemma3_text", "qwen2moe": "qwen2_moe", "qwen3moe": "qwen3_moe"}
# tokenizer metadata that becomes config special ids
_SPECIAL_IDS = {
    "tokenizer.ggml.bos_token_id": "bos_token_id",
    "tokenizer.ggml.eos_token_id": "eos_token_id",
    "tokenizer.ggml.padding_token_id": "pad_token_id",
    "tokenizer.ggml.unknown_token_id": "unk_token_id",
}


def hf_config_from_gguf(reader: Any, where: str) -> Any:
    """Build the transformers config from GGUF metadata with transformers' key table (GGUF_CONFIG_MAPPING)."""
    from transformers import AutoConfig
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    arch = gguf_value(reader, "general.architecture")
    model_type = _MODEL_TYPE_OF_GGUF_ARCH.get(arch, arch)
    check_supported(model_type, where)
    table = GGUF_CONFIG_MAPPING.get(arch)
    if table is None:
        raise SourceError(f"{where}: transformers has no GGUF config mapping for architecture {arch!r}")
    assert isinstance(table, dict)  # GGUF_CONFIG_MAPPING's values are dicts; mypy infers them as object
    values: dict[str, Any] = {}
    for key, hf_key in table.items():
        if hf_key is None or hf_key == -1:
            continue
        value = gguf_value(reader, f"{arch}.{key}")
        if value is not None:
            values[hf_key] = value
    for key, hf_key in _SPECIAL_IDS.items():
        value = gguf_value(reader, key)
        if value is not None:
            values[hf_key] = value
    if "vocab_size" not in values:
        tokens = reader.fields.get("tokenizer.ggml.tokens")
        if tokens is not None:
            values["vocab_size"] = len(tokens.data)
    # llama.cpp stores no output.weight when the head is tied to the embedding (same rule as transformers).
    values["tie_word_embeddings"] = "output.weight" not in gguf_tensor_names(reader)
    rope_theta = values.pop("rope_theta", None)
    config = AutoConfig.for_model(model_type, **values)
    if rope_theta is not None:
        if isinstance(getattr(config, "rope_parameters", None), dict):
            config.rope_parameters["rope_theta"] = float(rope_theta)
        else:
            config.rope_theta = float(rope_theta)
    return config


def gguf_rows_to_hf(rows: np.ndarray, gguf_name: str, hf_config: Any) -> np.ndarray:
    """Reorder the rows of a GGUF tensor (float values or raw block rows) into HF row order.

    llama.cpp's converter permutes q/k rows per head for its rotary layout
    (convert_hf_to_gguf.py ``LlamaModel.permute``); transformers undoes it in
    ``LlamaTensorProcessor._reverse_permute_weights``. A whole row moves at a
    time, so the same reordering applies to rows of quantized blocks, exactly.
    """
    from transformers.modeling_gguf_pytorch_utils import TENSOR_PROCESSORS, TensorProcessor

    arch = hf_config.model_type
    gguf_arch = {v: k for k, v in _MODEL_TYPE_OF_GGUF_ARCH.items()}.get(arch, arch)
    processor = TENSOR_PROCESSORS.get(gguf_arch, TensorProcessor)(config=hf_config.to_dict())
    return processor.process(weights=rows, name=gguf_name, tensor_key_mapping={}, parsed_parameters={}).weights


def _name_map(hf_config: Any) -> tuple[dict[str, str], Any]:
    """GGUF tensor name -> HF name, and the tensor processor that undoes llama.cpp's permutations.

    Same mapping as transformers' ``get_gguf_hf_weights_map`` (gguf-py's
    ``TensorNameMap`` applied to the model's state-dict names), computed with
    one name map instead of one per submodule (that recursion costs ~5 s).
    """
    import gguf
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.modeling_gguf_pytorch_utils import TENSOR_PROCESSORS, TensorProcessor

    gguf_arch = {v: k for k, v in _MODEL_TYPE_OF_GGUF_ARCH.items()}.get(hf_config.model_type, hf_config.model_type)
    processor = TENSOR_PROCESSORS.get(gguf_arch, TensorProcessor)(config=hf_config.to_dict())
    arch = next((key for key, value in gguf.MODEL_ARCH_NAMES.items() if value == gguf_arch), None)
    if arch is None:
        raise SourceError(f"gguf-py has no tensor names for architecture {gguf_arch!r}; upgrade the gguf package")
    names = gguf.get_tensor_name_map(arch, hf_config.num_hidden_layers)
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(hf_config)
    mapping: dict[str, str] = {}
    for hf_name in skeleton.state_dict():
        base, dot, suffix = hf_name.rpartition(".")
        gguf_base = names.get_name(base) if dot else None
        if gguf_base is not None:
            mapping[f"{gguf_base}.{suffix}"] = hf_name
    return mapping, processor


def load_gguf(path: Path, work_dir: Path, name: str | None = None, license: str | None = None) -> LoadedModel:
    from gguf.quants import dequantize

    reader = open_gguf(path)
    hf_config = hf_config_from_gguf(reader, str(path))
    config = model_config_from_hf(hf_config, hf_config.model_type)
    name_map, processor = _name_map(hf_config)

    tensors: dict[str, np.ndarray] = {}
    quantized: dict[str, GGUFTensor] = {}
    for tensor in reader.tensors:
        hf_name = name_map.get(tensor.name)
        if hf_name is None:
            continue  # e.g. rope_freqs: derived, not a weight transformers loads
        try:
            values = dequantize(tensor.data, tensor.tensor_type)
        except (NotImplementedError, ValueError) as exc:
            raise SourceError(
                f"{path}: tensor {tensor.name} has GGML type {tensor.tensor_type.name}, which gguf-py cannot "
                f"dequantize ({exc})"
            ) from None
        values = processor.process(
            weights=values, name=tensor.name, tensor_key_mapping=name_map, parsed_parameters={}
        ).weights
        values = np.ascontiguousarray(values, dtype=np.float32)
        # F32 tensors come back as read-only views of the file map: own a copy (torch needs writable arrays).
        tensors[hf_name] = values if values.flags.writeable else values.copy()
        logical = tuple(int(d) for d in reversed(tensor.shape.tolist()))  # GGUF lists ne[0] (inner) first
        if len(logical) == 2:  # matrices only: vectors (norms) are F32 and live in ``tensors``
            quantized[hf_name] = GGUFTensor(
                name=hf_name,
                gguf_name=tensor.name,
                ggml_type=tensor.tensor_type.name,
                shape=(logical[0], logical[1]),
                raw=np.asarray(tensor.data).view(np.uint8).reshape(logical[0], -1),
            )
    expected = {n for n in name_map.values() if not (config.tie_word_embeddings and n == "lm_head.weight")}
    missing = sorted(expected - set(tensors))
    if missing:
        raise SourceError(
            f"{path}: the GGUF lacks tensors the {config.architecture} model needs: {', '.join(missing[:5])}"
        )

    tokenizer = tokenizer_from_gguf(path, reader, work_dir)
    hf_dict = hf_config.to_dict()
    base = gguf_value(reader, "general.basename") or gguf_value(reader, "general.name") or path.stem
    size = gguf_value(reader, "general.size_label")
    default_name = "-".join(str(p) for p in (base, size) if p).lower().replace(" ", "-")
    return LoadedModel(
        name=name or default_name or path.stem,
        source=str(path.resolve()),
        config=config,
        tensors=tensors,
        tokenizer=tokenizer,
        gguf_tensors=quantized,
        license=license or gguf_value(reader, "general.license"),
        load_reference=reference_loader(hf_dict, tensors),
        work_dir=work_dir,
    )
