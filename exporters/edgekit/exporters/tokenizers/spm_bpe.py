"""Build a ``tokenizer.json`` from a GGUF's own SentencePiece (``tokenizer.ggml.model == "llama"``) vocabulary.

GGUF files of SentencePiece models (Llama 2, Gemma, Mistral v0.1, ...) carry the
pieces, their scores and their types, not a tokenizer.json. transformers' GGUF
loader rebuilds Gemma 3's as a Unigram model from the BPE scores, which splits
"capital" into ``▁c/ap/it/al`` (observed: the model then writes garbage). The algorithm the model was trained
with is SentencePiece BPE (``bpe_model.cc``; llama.cpp's ``llm_tokenizer_spm`` is
the same): start from characters, repeatedly merge the adjacent pair whose
concatenation is a piece with the highest score, leftmost first on ties; a
character that is no piece becomes its UTF-8 bytes ``<0xXX>`` (byte fallback).

The tokenizers library's BPE model runs exactly that when

* the merge list holds every split ``(left, right)`` of every normal piece whose
  two halves are pieces, ranked by the merged piece's score (best first), as
  transformers' ``SentencePieceExtractor`` derives it;
* ``byte_fallback`` is on and ``<0xXX>`` pieces are in the vocabulary;
* spaces become ``▁`` in a normalizer; when the GGUF says ``add_space_prefix``
  (Llama 2 yes, Gemma no) a Metaspace pre-tokenizer prepends one ``▁`` to the
  start of the text, as SentencePiece's ``add_dummy_prefix`` does (except when
  the text starts with a user-defined piece: tests/architectures/
  test_spm_bpe_builder.py says how; Llama 2 and Mistral have none);
* user-defined pieces (Gemma: ``\\n`` runs, space runs, HTML tags) are matched
  whole before BPE, as SentencePiece's prefix matcher does. llama.cpp's convert
  script stores them with ``▁`` turned into spaces, so they are added tokens
  matched on the raw text (``normalized=False``), as llama.cpp matches them.
  One known divergence from SentencePiece follows (llama.cpp has it too): a
  literal run of ``▁`` characters *in the input* is not the space-run piece;
* control pieces (``<bos>``, ``<start_of_turn>``, ...) are special added tokens, so
  chat templates that spell them out encode to their ids.

tests/architectures/test_gemma_tokenizer.py checks the result id-for-id against
the sentencepiece library itself on a model proto rebuilt from the same GGUF.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import SourceError, UnsupportedError

__all__ = [
    "PieceType",
    "SpmVocab",
    "spm_vocab_from_gguf",
    "spm_merges",
    "build_spm_bpe_tokenizer",
    "write_spm_bpe_tokenizer_json",
]

SPACE = "\u2581"  # "▁", SentencePiece's escaped space


class PieceType(IntEnum):
    """``tokenizer.ggml.token_type`` values; the same numbers as sentencepiece's ModelProto.SentencePiece.Type."""

    NORMAL = 1
    UNKNOWN = 2
    CONTROL = 3
    USER_DEFINED = 4
    UNUSED = 5
    BYTE = 6


@dataclass(frozen=True)
class SpmVocab:
    """A SentencePiece vocabulary as GGUF stores it (``tokenizer.ggml.*``)."""

    tokens: Sequence[str]
    scores: Sequence[float]
    types: Sequence[int]
    bos_id: int | None
    eos_id: int | None
    unk_id: int | None
    pad_id: int | None
    add_bos: bool
    add_eos: bool
    add_space_prefix: bool

    def __post_init__(self) -> None:
        if not (len(self.tokens) == len(self.scores) == len(self.types)):
            raise SourceError(
                f"GGUF tokenizer arrays disagree in length (tokens={len(self.tokens)}, scores={len(self.scores)}, "
                f"token_type={len(self.types)}); the file is damaged, copy it again"
            )


def spm_vocab_from_gguf(reader: Any) -> SpmVocab:
    """Read ``tokenizer.ggml.*`` of an open ``gguf.GGUFReader`` (SentencePiece-style files only)."""

    def value(key: str, default: Any = None) -> Any:
        field = reader.fields.get(key)
        return default if field is None else field.contents()

    model = value("tokenizer.ggml.model")
    if model != "llama":
        raise UnsupportedError(
            f"tokenizer.ggml.model is {model!r}, not 'llama' (SentencePiece); this builder handles SentencePiece "
            "vocabularies only (byte-level BPE GGUFs such as 'gpt2' are converted by transformers)"
        )
    tokens = _array(reader, "tokenizer.ggml.tokens")
    if not tokens:
        raise SourceError("the GGUF has no tokenizer.ggml.tokens; it cannot be exported without its vocabulary")
    scores = _array(reader, "tokenizer.ggml.scores") or [0.0] * len(tokens)
    types = _array(reader, "tokenizer.ggml.token_type") or [int(PieceType.NORMAL)] * len(tokens)
    # llama.cpp's default for SPM vocabularies is add_space_prefix=True (llama-vocab.cpp).
    add_space_prefix = bool(value("tokenizer.ggml.add_space_prefix", True))
    return SpmVocab(
        tokens=list(tokens),
        scores=[float(s) for s in scores],
        types=[int(t) for t in types],
        bos_id=value("tokenizer.ggml.bos_token_id"),
        eos_id=value("tokenizer.ggml.eos_token_id"),
        unk_id=value("tokenizer.ggml.unknown_token_id"),
        pad_id=value("tokenizer.ggml.padding_token_id"),
        add_bos=bool(value("tokenizer.ggml.add_bos_token", True)),
        add_eos=bool(value("tokenizer.ggml.add_eos_token", False)),
        add_space_prefix=add_space_prefix,
    )


def _array(reader: Any, key: str) -> list | None:
    """A GGUF array field as a list, without ``ReaderField.contents()`` (5 s for Gemma's 262k strings)."""
    field = reader.fields.get(key)
    if field is None:
        return None
    parts = [field.parts[i] for i in field.data]
    if key == "tokenizer.ggml.tokens":
        return [bytes(part).decode("utf-8") for part in parts]
    return [part[0].item() for part in parts]


def spm_merges(vocab: SpmVocab) -> list[tuple[str, str]]:
    """Every ``(left, right)`` split of a normal piece into two normal pieces, best merged score first.

    Ties (two splits of one piece, or equal scores) are ordered by piece id, then
    by the ids of the halves, as transformers' ``SentencePieceExtractor`` does.
    """
    normal = {tok: i for i, (tok, kind) in enumerate(zip(vocab.tokens, vocab.types)) if kind == PieceType.NORMAL}
    ranked: list[tuple[float, int, int, int, str, str]] = []
    for piece, pid in normal.items():
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            lid = normal.get(left)
            if lid is None:
                continue
            rid = normal.get(right)
            if rid is None:
                continue
            ranked.append((-vocab.scores[pid], pid, lid, rid, left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


def build_spm_bpe_tokenizer(vocab: SpmVocab, *, bos_post_processor: bool = True) -> dict[str, Any]:
    """The tokenizer.json document (a dict) for ``vocab``.

    ``bos_post_processor``: add a TemplateProcessing that prepends BOS when
    ``add_special_tokens=True`` and the GGUF says ``add_bos_token`` (how Hugging
    Face's own Gemma/Llama tokenizer.json files behave).
    """
    unk = vocab.tokens[vocab.unk_id] if vocab.unk_id is not None else None
    added = []
    for i, (tok, kind) in enumerate(zip(vocab.tokens, vocab.types)):
        if kind in (PieceType.CONTROL, PieceType.UNKNOWN):
            added.append(_added(i, tok, special=True, normalized=False))
        elif kind == PieceType.USER_DEFINED:
            # normalized=True would report the piece as "▁▁" from id_to_token, unlike the GGUF's "  ".
            added.append(_added(i, tok, special=False, normalized=False))

    # Not a Prepend normalizer: normalized added tokens have the normalizer applied to their own
    # content too, which would turn "<b>" into "▁<b>".
    pre_tokenizer = (
        {"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "first", "split": False}
        if vocab.add_space_prefix
        else None
    )
    decoders: list[dict[str, Any]] = [
        {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
        {"type": "ByteFallback"},
        {"type": "Fuse"},
    ]
    if vocab.add_space_prefix:
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})

    doc: dict[str, Any] = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": SPACE},
        "pre_tokenizer": pre_tokenizer,
        "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": unk,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": True,
            "ignore_merges": False,
            "vocab": {tok: i for i, tok in enumerate(vocab.tokens)},
            "merges": [[left, right] for left, right in spm_merges(vocab)],
        },
    }
    if bos_post_processor and vocab.add_bos and vocab.bos_id is not None:
        bos = vocab.tokens[vocab.bos_id]
        doc["post_processor"] = {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": bos, "type_id": 1}},
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {bos: {"id": bos, "ids": [vocab.bos_id], "tokens": [bos]}},
        }
    return doc


def write_spm_bpe_tokenizer_json(vocab: SpmVocab, path: Path, *, bos_post_processor: bool = True) -> Path:
    """Write the tokenizer.json for ``vocab`` to ``path`` and return ``path``."""
    doc = build_spm_bpe_tokenizer(vocab, bos_post_processor=bos_post_processor)
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def _added(token_id: int, content: str, *, special: bool, normalized: bool) -> dict[str, Any]:
    return {
        "id": token_id,
        "content": content,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": normalized,
        "special": special,
    }
