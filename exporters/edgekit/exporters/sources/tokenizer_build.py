"""Write the bundle's ``tokenizer.json`` and collect bos/eos/pad ids and the chat template.

From a GGUF: transformers' GGUF conversion builds the tokenizer
(``AutoTokenizer.from_pretrained(folder, gguf_file=...)``), but the special
ids and the chat template come from the GGUF metadata: the conversion's saved
config carries a wrong eos for SmolLM2 (``<|im_start|>`` instead of
``<|im_end|>``, observed with transformers 5). Every GGUF token id must map to the same token
string in the converted vocabulary, or the exported model would be fed
different ids than it was trained with; that is checked here, id by id.

The runtime prepends BOS itself when the manifest says ``add_bos``, so a
post-processor that would add it a second time is removed from the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import SourceError

from ..loaded_model import TokenizerAssets
from .gguf_reader import gguf_value

__all__ = ["TOKENIZER_FILE", "tokenizer_from_gguf", "tokenizer_from_hf_folder", "check_roundtrip"]

TOKENIZER_FILE = "tokenizer.json"

# Text used for the encode -> decode round trip: ASCII, accents, CJK, emoji, digits, runs of spaces.
_ROUNDTRIP_TEXT = "The café's 3 owners   paid 1,250 € — 日本語 🙂\n\tdone."


def _drop_bos_postprocessor(data: dict[str, Any]) -> dict[str, Any]:
    """Remove a TemplateProcessing post-processor that inserts special tokens (BOS is the runtime's job)."""
    post = data.get("post_processor")
    if isinstance(post, dict) and post.get("type") == "TemplateProcessing" and post.get("special_tokens"):
        data["post_processor"] = None
    elif isinstance(post, dict) and post.get("type") == "Sequence":
        kept = [
            p
            for p in post.get("processors", [])
            if not (p.get("type") == "TemplateProcessing" and p.get("special_tokens"))
        ]
        data["post_processor"] = {"type": "Sequence", "processors": kept} if kept else None
    return data


def check_roundtrip(tokenizer_path: Path, where: str, vocab: list[str] | None = None) -> None:
    """Ids of ``vocab`` (the source's own token list) must map to the same strings; text must decode back."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    if vocab is not None:
        for token_id, token in enumerate(vocab):
            converted = tokenizer.id_to_token(token_id)
            if converted != token:
                raise SourceError(
                    f"{where}: the converted tokenizer maps id {token_id} to {converted!r}, the model's vocabulary "
                    f"says {token!r}; this tokenizer type cannot be converted faithfully yet (export from a Hugging "
                    "Face folder with its own tokenizer.json instead)"
                )
    ids = tokenizer.encode(_ROUNDTRIP_TEXT, add_special_tokens=False).ids
    decoded = tokenizer.decode(ids, skip_special_tokens=False)
    if decoded != _ROUNDTRIP_TEXT:
        raise SourceError(
            f"{where}: the tokenizer does not decode its own ids back to the text ({_ROUNDTRIP_TEXT!r} -> "
            f"{decoded!r}); "
            "export from a Hugging Face folder with its own tokenizer.json instead"
        )


def _write_tokenizer(backend: Any, out_dir: Path) -> Path:
    data = _drop_bos_postprocessor(json.loads(backend.to_str()))
    path = out_dir / TOKENIZER_FILE
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _ids(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value]
    return [int(value)]


def tokenizer_from_gguf(gguf_path: Path, reader: Any, out_dir: Path) -> TokenizerAssets:
    from transformers import AutoTokenizer

    model_kind = gguf_value(reader, "tokenizer.ggml.model")
    if model_kind == "llama":
        # SentencePiece-BPE vocabularies (Gemma, Llama 2, ...): transformers rebuilds them as Unigram
        # with wrong ids (seen on Gemma 3); edgekit.exporters.tokenizers builds the exact BPE (archs).
        from ..tokenizers import spm_vocab_from_gguf, write_spm_bpe_tokenizer_json

        path = write_spm_bpe_tokenizer_json(
            spm_vocab_from_gguf(reader), out_dir / TOKENIZER_FILE, bos_post_processor=False
        )
    else:
        try:
            converted = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        except (ValueError, KeyError, TypeError, NotImplementedError, OSError) as exc:
            raise SourceError(
                f"{gguf_path}: transformers cannot build a tokenizer from this GGUF ({type(exc).__name__}: {exc})"
            ) from None
        path = _write_tokenizer(converted.backend_tokenizer, out_dir)
    vocab = gguf_value(reader, "tokenizer.ggml.tokens")
    check_roundtrip(path, str(gguf_path), vocab)

    # llama.cpp adds BOS for a sentencepiece ("llama") vocabulary unless the file says otherwise
    # (transformers' gguf_tokenizer_mapping.get_gguf_tokenizer follows the same rule).
    add_bos = bool(gguf_value(reader, "tokenizer.ggml.add_bos_token", model_kind == "llama"))
    bos_id = gguf_value(reader, "tokenizer.ggml.bos_token_id")
    eos_ids: list[int] = []
    for key in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"):
        for token_id in _ids(gguf_value(reader, key)):
            if token_id not in eos_ids:
                eos_ids.append(token_id)
    if not eos_ids:
        raise SourceError(
            f"{gguf_path}: the GGUF metadata has no tokenizer.ggml.eos_token_id; generation could never stop"
        )
    return TokenizerAssets(
        tokenizer_json=path,
        bos_id=int(bos_id) if bos_id is not None else None,
        add_bos=add_bos and bos_id is not None,
        eos_ids=tuple(eos_ids),
        pad_id=_ids(gguf_value(reader, "tokenizer.ggml.padding_token_id"))[0]
        if gguf_value(reader, "tokenizer.ggml.padding_token_id") is not None
        else None,
        chat_template=gguf_value(reader, "tokenizer.chat_template"),
    )


def tokenizer_from_hf_folder(folder: Path, hf_config: Any, out_dir: Path) -> TokenizerAssets:
    from transformers import AutoTokenizer, GenerationConfig

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise SourceError(
            f"{folder}: cannot load its tokenizer ({type(exc).__name__}: {exc}); the folder needs tokenizer.json "
            "(or the files transformers converts from) next to config.json"
        ) from None
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise SourceError(f"{folder}: its tokenizer has no fast (tokenizers) form; add a tokenizer.json to the folder")
    path = _write_tokenizer(backend, out_dir)
    check_roundtrip(path, str(folder))

    eos_ids: list[int] = []
    try:
        generation = GenerationConfig.from_pretrained(str(folder))
        eos_ids = _ids(generation.eos_token_id)
    except OSError:  # no generation_config.json: fall back to config / tokenizer
        pass
    for token_id in _ids(getattr(hf_config, "eos_token_id", None)) + _ids(tokenizer.eos_token_id):
        if not eos_ids:
            eos_ids.append(token_id)
    if not eos_ids:
        raise SourceError(f"{folder}: no eos token id in generation_config.json, config.json or the tokenizer; add one")
    bos_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else getattr(hf_config, "bos_token_id", None)
    probe = tokenizer("a", add_special_tokens=True)["input_ids"]
    add_bos = bos_id is not None and len(probe) > 0 and probe[0] == bos_id
    return TokenizerAssets(
        tokenizer_json=path,
        bos_id=int(bos_id) if bos_id is not None else None,
        add_bos=add_bos,
        eos_ids=tuple(eos_ids),
        pad_id=tokenizer.pad_token_id,
        chat_template=tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None,
    )
