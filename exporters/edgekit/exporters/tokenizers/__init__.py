"""Tokenizer builders for sources that ship no usable tokenizer.json (GGUF SentencePiece vocabularies)."""

from .spm_bpe import (
    PieceType,
    SpmVocab,
    build_spm_bpe_tokenizer,
    spm_merges,
    spm_vocab_from_gguf,
    write_spm_bpe_tokenizer_json,
)

__all__ = [
    "PieceType",
    "SpmVocab",
    "build_spm_bpe_tokenizer",
    "spm_merges",
    "spm_vocab_from_gguf",
    "write_spm_bpe_tokenizer_json",
]
