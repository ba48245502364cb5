"""The tuned model folder: LoRA merged into the weights, saved as a Hugging Face folder ``edgekit export`` reads.

Files: ``model.safetensors`` + ``config.json`` + ``generation_config.json`` (save_pretrained), ``tokenizer.json``
+ ``tokenizer_config.json`` with the chat template (the source's tokenizer, unchanged), and ``edgekit_tune.json``
(``TuneRecord``). Everything is written into a staging folder beside ``out`` and renamed into place at the end
(``bundle_writer.staging_folder``), so an interrupted or failed run leaves nothing half-written at ``out``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..bundle_writer import staging_folder
from ..loaded_model import TokenizerAssets
from .spec import TuneRecord

__all__ = ["write_tuned_folder", "save_tokenizer"]


def save_tokenizer(assets: TokenizerAssets, folder: Path) -> None:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_file(str(assets.tokenizer_json))

    def token(token_id: int | None) -> str | None:
        return backend.id_to_token(token_id) if token_id is not None else None

    eos = token(assets.eos_ids[0]) if assets.eos_ids else None
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(assets.tokenizer_json),
        bos_token=token(assets.bos_id),
        eos_token=eos,
        pad_token=token(assets.pad_id) or eos,
        add_bos_token=assets.add_bos,
    )
    if assets.chat_template:
        tokenizer.chat_template = assets.chat_template
    tokenizer.save_pretrained(str(folder))


def write_tuned_folder(merged: Any, assets: TokenizerAssets, record: TuneRecord, out: Path, force: bool) -> Path:
    from transformers import GenerationConfig

    with staging_folder(out, force) as folder:
        merged.config.use_cache = True
        merged.save_pretrained(str(folder), safe_serialization=True)
        GenerationConfig(
            bos_token_id=assets.bos_id,
            eos_token_id=list(assets.eos_ids) if len(assets.eos_ids) > 1 else assets.eos_ids[0],
            pad_token_id=assets.pad_id,
        ).save_pretrained(str(folder))
        save_tokenizer(assets, folder)
        record.write(folder)
    return out
